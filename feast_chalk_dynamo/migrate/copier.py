"""Copying one of Feast's tables into this store: Scan pages in, guarded bulk writes out.

Segments are scanned in parallel, and pages are written at once: each
segment writes a page while it scans and types the next (``PAGES_IN_FLIGHT``),
and the segments' writes run side by side. Each write counts what it did
itself (``WriteStats``), so concurrent pages never share a count. A segment
records its pages in the state file in scan order, each only once all its
rows landed: a page finished early waits for those before it. A page whose
write failed is counted as not written and stops its segment where it
stands: neither it nor any later page of the segment is recorded (those
already being written finish, and are counted as this run's), so a rerun
retries them. Each row is written for every definition that reads the
table, its values typed as each declares them (``typed_rows``); a value that
cannot be is counted with its entity, and its row and page are written and
recorded all the same.

A row the store can never write (``UNSTORABLE``: an entity key past
DynamoDB's 2048 bytes, which Feast's store hashes; an item that would pass
400 KB once the entity's views share it) fails the write of its page, so the
page's rows are then written one at a time: the others land, and the row is
counted unstorable, named, and its page recorded, since a rerun would meet
it again; a page of only such rows and landed ones goes on, where before it
stopped its segment for good.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feast.repo_config import RepoConfig

from feast_chalk_dynamo.errors import EntityKeyTooLarge, ItemTooLarge, UnsupportedEntityType, WriteIncomplete
from feast_chalk_dynamo.items.codec import CodecError
from feast_chalk_dynamo.migrate import state as state_file
from feast_chalk_dynamo.migrate.counts import Counts, NotCopied
from feast_chalk_dynamo.migrate.feast_items import feast_row
from feast_chalk_dynamo.migrate.keys import KeyIndex, describe_key
from feast_chalk_dynamo.migrate.repo import SourceTable
from feast_chalk_dynamo.migrate.scan import Page, scan_segments
from feast_chalk_dynamo.migrate.state import MigrationState
from feast_chalk_dynamo.migrate.typed_rows import RowTyper
from feast_chalk_dynamo.store import ChalkDynamoOnlineStore, WriteData

Progress = Callable[[int], Any]
# What the store raises for a row it can never write, whatever is retried.
UNSTORABLE = (EntityKeyTooLarge, UnsupportedEntityType, ItemTooLarge, CodecError)
# Pages of one segment being written at once. Every write keeps num_client_threads requests in
# flight from the engine's one client pool, so a third page would only queue there; two let a
# segment scan, type and encode its next page while the last requests of the one before are out.
PAGES_IN_FLIGHT = 2


@dataclass
class TableRun:
    """This run's part in one table's copy, beyond what the state file records."""

    scanned: int = 0
    # Pages whose write failed, and those after them in their segment: reported, not recorded as done.
    unrecorded: Counts = field(default_factory=Counts)
    errors: list[str] = field(default_factory=list)
    unresolved_examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Outcome:
    written: int
    stale: int
    not_written: int
    error: str | None  # the first failure a rerun may get past (throttling, a dropped connection)
    unstorable: list[str] = field(default_factory=list)  # per row the store can never write: entity, why


@dataclass(frozen=True)
class _PageWrite:
    """A page scanned and typed, its rows being written."""

    page: Page
    counts: Counts  # read and unresolved: what the write did is added once it is done
    unresolved: list[str]
    not_copied: NotCopied
    outcome: Future[_Outcome | None]  # None: no row to write


class Copier:
    def __init__(
        self,
        online_store: ChalkDynamoOnlineStore,
        config: RepoConfig,
        source_client: Any,
        state: MigrationState,
        state_path: Path,
        page_size: int | None,
        stop: threading.Event,
    ) -> None:
        self._store = online_store
        self._config = config
        self._client = source_client
        self._state = state
        self._state_path = state_path
        self._page_size = page_size
        self._stop = stop

    def copy(self, source: SourceTable, index: KeyIndex, progress: Progress) -> TableRun:
        """Copy what the state says is left of the source's table; rows it cannot write are reported,
        not raised."""
        table_state = self._state.tables[source.table]
        run = TableRun()
        starts = {i: s.start_key for i, s in enumerate(table_state.segments) if not s.done}
        try:
            layouts = [(r.label, self._store.write_layout(self._config, r.view)) for r in source.readers]
            typer = RowTyper(layouts)
        except Exception as error:  # the table does not answer: nothing of it is copied or recorded
            run.errors.append(f"{type(error).__name__}: {error}")
            return run
        lock = threading.Lock()  # the run, the state and its file, as pages of any segment end
        bar_lock = threading.Lock()
        in_flight: dict[int, deque[_PageWrite]] = {segment: deque() for segment in starts}
        stopped: set[int] = set()  # segments a failed page stopped: no later page of theirs is recorded

        def counted(rows: int) -> None:
            with bar_lock:
                progress(rows)

        def record(segment: int, write: _PageWrite) -> bool:
            """Record the segment's oldest page once written; False if it failed (or one before it did)."""
            outcome = write.outcome.result()
            counts = write.counts
            if outcome is not None:
                counts.add(
                    Counts(
                        written=outcome.written, stale=outcome.stale, not_written=outcome.not_written,
                        unstorable=len(outcome.unstorable),
                    )
                )  # fmt: skip
            error = None if outcome is None else outcome.error
            with lock:
                run.scanned += len(write.page.items)
                if error is not None or segment in stopped:
                    stopped.add(segment)
                    run.unrecorded.add(counts)
                    if error is not None:
                        run.errors.append(f"segment {segment}: {error}")
                    run.unresolved_examples.extend(write.unresolved)
                    return False
                unstorable = [] if outcome is None else outcome.unstorable
                table_state.commit(
                    segment, write.page.next_key, counts, write.unresolved, write.not_copied, unstorable
                )
                state_file.save(self._state_path, self._state)
                return True

        with ThreadPoolExecutor(
            max(1, len(starts)) * PAGES_IN_FLIGHT, thread_name_prefix="migrate-write"
        ) as writers:

            def handle(segment: int, page: Page) -> bool:
                pending = in_flight[segment]
                pending.append(self._start(writers, typer, page, index, counted))
                while pending and (len(pending) >= PAGES_IN_FLIGHT or pending[0].outcome.done()):
                    if not record(segment, pending.popleft()):
                        return False
                return True

            def finish(segment: int) -> None:
                """The pages still being written, recorded in order as they end (or only counted)."""
                pending = in_flight[segment]
                while pending:
                    record(segment, pending.popleft())

            errors = scan_segments(
                self._client, source.table, self._state.total_segments, starts, self._page_size, handle,
                self._stop, finish,
            )  # fmt: skip
        run.errors.extend(f"segment {i}: {type(e).__name__}: {e}" for i, e in sorted(errors.items()))
        return run

    def _start(
        self, writers: ThreadPoolExecutor, typer: RowTyper, page: Page, index: KeyIndex, progress: Progress
    ) -> _PageWrite:
        """Resolve and type a page's rows here, and start writing them on ``writers``."""
        rows: WriteData = []
        unresolved: list[str] = []
        not_copied = NotCopied()
        for item in page.items:
            row = feast_row(item)
            key = index.resolve(row.entity_id)
            if key is None:
                unresolved.append(row.entity_id)
                continue
            values, refused = typer(row.values)
            for refusal in refused:
                not_copied.add(refusal.features, f"{describe_key(key)}: {refusal.reason}")
            rows.append((key, values, row.event_ts, None))
        progress(len(unresolved))
        outcome: Future[_Outcome | None] = (
            writers.submit(self._write_safely, typer, rows, progress) if rows else _done(None)
        )
        counts = Counts(read=len(page.items), unresolved=len(unresolved))
        return _PageWrite(page, counts, unresolved, not_copied, outcome)

    def _write_safely(self, typer: RowTyper, rows: WriteData, progress: Progress) -> _Outcome:
        """``_write``, with anything it raises kept as the page's failure: no row of it is recorded."""
        try:
            return self._write(typer, rows, progress)
        except Exception as error:
            return _Outcome(0, 0, len(rows), f"{type(error).__name__}: {error}")

    def _write(self, typer: RowTyper, rows: WriteData, progress: Progress) -> _Outcome:
        """Write through the store's guarded bulk path; what landed, what was stale, what did not land.

        A write stopped by a row the store can never write is done again a row at a time.
        """
        try:
            stats = self._store.write_with_layout(self._config, typer.layout, rows, progress)
        except Exception as error:
            cause = error.cause if isinstance(error, WriteIncomplete) else error
            if len(rows) > 1 and isinstance(cause, UNSTORABLE):
                outcome = self._row_by_row(typer, rows)
                landed_before = error.written + error.stale if isinstance(error, WriteIncomplete) else 0
                progress(len(rows) - landed_before)
                return outcome
            if isinstance(error, WriteIncomplete):
                return _Outcome(error.written, error.stale, len(error.unwritten), str(error))
            if isinstance(error, UNSTORABLE):  # a row written alone, which no rerun would write
                return _Outcome(0, 0, 0, None, [f"{describe_key(rows[0][0])}: {error}"])
            # Any other failure: no row of the call was written (writer.py).
            return _Outcome(0, 0, len(rows), f"{type(error).__name__}: {error}")
        return _Outcome(stats.written, stats.stale_skipped, 0, None)

    def _row_by_row(self, typer: RowTyper, rows: WriteData) -> _Outcome:
        """Each row written alone (rows the first write landed land again: same row, same time)."""
        outcomes = [self._write(typer, [row], lambda _: None) for row in rows]
        errors = [outcome.error for outcome in outcomes if outcome.error is not None]
        return _Outcome(
            written=sum(outcome.written for outcome in outcomes),
            stale=sum(outcome.stale for outcome in outcomes),
            not_written=sum(outcome.not_written for outcome in outcomes),
            error=errors[0] if errors else None,
            unstorable=[example for outcome in outcomes for example in outcome.unstorable],
        )


def _done(outcome: _Outcome | None) -> Future[_Outcome | None]:
    future: Future[_Outcome | None] = Future()
    future.set_result(outcome)
    return future
