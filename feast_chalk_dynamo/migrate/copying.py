"""The migration proper: resume or start the state, copy every table left, verify, report, judge."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from feast_chalk_dynamo.migrate import report
from feast_chalk_dynamo.migrate.copier import Copier, TableRun
from feast_chalk_dynamo.migrate.counts import MAX_EXAMPLES, Counts, NotCopied
from feast_chalk_dynamo.migrate.keys import KeyIndex
from feast_chalk_dynamo.migrate.repo import SourceTable
from feast_chalk_dynamo.migrate.session import INTERRUPTED, Session
from feast_chalk_dynamo.migrate.state import DEFAULT_NAME, MigrationState, resume_or_start
from feast_chalk_dynamo.migrate.verify import Verification, feast_store_config, sample_keys, verify
from feast_chalk_dynamo.sources import join_keys


@dataclass
class _Progress:
    """This run's part: per table what the state does not record, verifications, time spent copying."""

    runs: dict[str, TableRun] = field(default_factory=dict)
    verifications: list[Verification] = field(default_factory=list)
    copying_seconds: float = 0.0  # key indexes and verification left out


class Copy(Session):
    def run(self) -> int:
        plan, options = self.plan, self.options
        path = options.state or plan.repo / DEFAULT_NAME
        tables = {source.table: source.label for source in plan.sources}
        state, resumed = resume_or_start(
            path, plan.arguments(self.entity_files), options.segments, tables, options.restart
        )
        self.say(
            f"Migrating {self.tables()} into {plan.settings.table_name!r}; "
            f"state {'resumed from' if resumed else 'kept in'} {path}"
        )
        progress = _Progress()
        try:
            self._copy(state, path, progress)
        except KeyboardInterrupt:
            self.stop.set()
        totals, not_copied, errors = self._report(state, progress)
        if self.stop.is_set():
            self.say(
                f"interrupted: every page done is recorded in {path}; run the same command again to resume"
            )
            return INTERRUPTED
        if state.done:
            self.say(f"complete: {path} records it (--restart migrates again)")
        else:
            self.say(f"not finished: run the same command again to resume from {path}")
        differences = sum(len(v.differences) for v in progress.verifications)
        complete = state.done and not totals.failed and not not_copied.total and not errors
        return 0 if complete and not differences else 1

    def _copy(self, state: MigrationState, path: Path, progress: _Progress) -> None:
        plan = self.plan
        copier = Copier(
            plan.online_store, plan.write_config, plan.source_client, state, path, self.options.page_size,
            self.stop,
        )  # fmt: skip
        for group in plan.groups():
            pending = [source for source in group if not state.tables[source.table].done]
            if not pending and not self.options.verify:
                continue
            index = self.index(group)
            for source in pending:
                started = time.monotonic()
                with self.bar(source, state.tables[source.table].counts.read) as bar:
                    progress.runs[source.table] = copier.copy(source, index, bar.update)
                progress.copying_seconds += time.monotonic() - started
            if self.options.verify:
                progress.verifications.append(self._verify(group, index))

    def _verify(self, group: list[SourceTable], index: KeyIndex) -> Verification:
        plan = self.plan
        keys = sample_keys(
            plan.source_client, group, index, self.options.verify, random.Random(self.options.seed)
        )
        config = feast_store_config(
            plan.store.config, plan.source_region, plan.source_endpoint_url, plan.table_prefix
        )
        result = verify(plan.repo, plan.store, config, group, keys)
        for difference in result.differences:
            self.say(f"difference: {difference}")
        self.say(
            f"verified {result.entities:,} entities ({', '.join(join_keys(group[0].view))}), "
            f"{result.values:,} feature values ({result.found:,} present in Feast's store): "
            f"{len(result.differences):,} differences"
        )
        return result

    def _report(self, state: MigrationState, progress: _Progress) -> tuple[Counts, NotCopied, list[str]]:
        """Print the counts (recorded, and this run's pages that failed) and what to do; the totals, the
        values not copied, and errors."""
        rows = []
        totals = Counts()
        not_copied = NotCopied()
        examples: list[str] = []
        unstorable: list[str] = []
        errors: list[str] = []
        for table, table_state in state.tables.items():
            not_copied.merge(table_state.not_copied)
            run = progress.runs.get(table, TableRun())
            counts = Counts()
            counts.add(table_state.counts)
            counts.add(run.unrecorded)
            rows.append((table, table_state.view, counts))
            totals.add(counts)
            examples += table_state.unresolved_examples + run.unresolved_examples
            unstorable += table_state.unstorable_examples
            errors += [f"{table} {error}" for error in run.errors]
        self.say()
        for line in report.counts_grid(rows):
            self.say(line)
        self.say(report.summary(totals, not_copied.total))
        scanned = sum(run.scanned for run in progress.runs.values())
        seconds = progress.copying_seconds
        rate = scanned / max(seconds, 1e-9)
        self.say(f"this run scanned {scanned:,} rows in {seconds:.1f} s of copying ({rate:,.0f} rows/s)")
        for error in errors:
            self.say(f"error: {error}")
        if totals.unresolved:
            self.say(
                f"{totals.unresolved:,} rows had an entity id no batch source or --entities file resolves "
                f"(first ids: {', '.join(examples[:MAX_EXAMPLES])}); they were not migrated. Pass their keys "
                "with --entities FILE and run again with --restart"
            )
        if not_copied.total:
            for line in report.not_copied_lines(not_copied):
                self.say(line)
        if totals.unstorable:
            self.say(
                f"{totals.unstorable:,} rows cannot be stored in this store, nor would a rerun store them "
                f"(first: {'; '.join(unstorable[:MAX_EXAMPLES])}); every other row of their pages was written"
            )
        if totals.not_written:
            self.say(
                f"{totals.not_written:,} rows were not written: run the same command again to retry them"
            )
        return totals, not_copied, errors
