"""``--dry-run``: Feast's tables scanned and sized, this store's items sized as written; nothing written."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial

from feast_chalk_dynamo.items.codec import item_size
from feast_chalk_dynamo.items.names import versioned_view_name
from feast_chalk_dynamo.migrate import report
from feast_chalk_dynamo.migrate.copier import UNSTORABLE, Progress
from feast_chalk_dynamo.migrate.counts import MAX_EXAMPLES, NotCopied
from feast_chalk_dynamo.migrate.feast_items import feast_row
from feast_chalk_dynamo.migrate.keys import KeyIndex, describe_key
from feast_chalk_dynamo.migrate.repo import SourceTable
from feast_chalk_dynamo.migrate.scan import Page, scan_segments
from feast_chalk_dynamo.migrate.session import INTERRUPTED, Session
from feast_chalk_dynamo.migrate.sizing import Sizes
from feast_chalk_dynamo.migrate.typed_rows import RowTyper
from feast_chalk_dynamo.planning.item_sizes import Ids, RowSizer, project_id, view_layout
from feast_chalk_dynamo.sources import join_keys


@dataclass
class _Counted:
    """Rows counted (unresolved, unstorable), the first few shown."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)


class DryRun(Session):
    def run(self) -> int:
        plan = self.plan
        self.say(f"Dry run: nothing is written. {self.tables()} into {plan.settings.table_name!r}:")
        unresolved = _Counted()
        unstorable = _Counted()
        not_copied = NotCopied()
        errors: list[str] = []
        lines: list[str] = []
        engine = plan.online_store.engine(plan.write_config)
        engine.ready()
        ids = Ids(engine.names.lookup)  # one for the run: made-up ids differ across views sharing an item
        project = plan.store.project
        entity_project_id = project_id(project, ids)
        versioning = plan.store.config.registry.enable_online_feature_view_versioning
        try:
            for group in plan.groups():
                index = self.index(group)
                sizes = Sizes(len(group), plan.settings.consistent_reads)
                for source in group:
                    layouts = [
                        (r.label, view_layout(project, versioned_view_name(r.view, versioning), r.view, ids))
                        for r in source.readers
                    ]
                    typer = RowTyper(layouts)
                    sizer = RowSizer(entity_project_id, typer.layout)
                    with self.bar(source) as bar:
                        errors += self._size(
                            source, index, sizes, typer, sizer, unresolved, unstorable, not_copied, bar.update
                        )
                lines += report.estimate_lines(
                    sorted(join_keys(group[0].view)), {source.table: source.label for source in group},
                    sizes.tables, sizes.estimate(), plan.settings.check_ts_for_bulk_writes,
                )  # fmt: skip
        except KeyboardInterrupt:
            self.say("interrupted: nothing was written")
            return INTERRUPTED
        self.say()
        for line in lines + [f"error: {error}" for error in errors]:
            self.say(line)
        if unresolved.count:
            self.say(
                f"{unresolved.count:,} rows have an entity id no batch source or --entities file resolves "
                f"(first ids: {', '.join(unresolved.examples)}); a migration would not write them"
            )
        if unstorable.count:
            self.say(
                f"{unstorable.count:,} rows cannot be stored in this store (first: "
                f"{'; '.join(unstorable.examples)}); a migration would count them unstorable"
            )
        if not_copied.total:
            for line in report.not_copied_lines(not_copied, dry_run=True):
                self.say(line)
        return 1 if unresolved.count or unstorable.count or not_copied.total or errors else 0

    def _size(
        self, source: SourceTable, index: KeyIndex, sizes: Sizes, typer: RowTyper, sizer: RowSizer,
        unresolved: _Counted, unstorable: _Counted, not_copied: NotCopied, progress: Progress,
    ) -> list[str]:  # fmt: skip
        """Size every item of one table, segments in parallel; the errors that stopped any segment."""
        lock = threading.Lock()

        def handle(segment: int, page: Page) -> bool:
            for item in page.items:
                row = feast_row(item)
                key = index.resolve(row.entity_id)
                if key is None:
                    with lock:
                        sizes.count_item(source.table, item_size(item))
                        unresolved.add(row.entity_id)
                    continue
                values, refused = typer(row.values)
                try:
                    part = sizer(key, values, row.event_ts)
                except UNSTORABLE as error:
                    with lock:
                        sizes.count_item(source.table, item_size(item))
                        unstorable.add(f"{describe_key(key)}: {error}")
                    continue
                with lock:
                    sizes.count_item(source.table, item_size(item))
                    for refusal in refused:
                        not_copied.add(refusal.features, f"{describe_key(key)}: {refusal.reason}")
                    sizes.add_row(row.entity_id, item_size(item), partial(sizer.key_bytes, key), part)
            progress(len(page.items))
            return True

        segments = self.options.segments
        errors = scan_segments(
            self.plan.source_client, source.table, segments, dict.fromkeys(range(segments)),
            self.options.page_size, handle, self.stop,
        )  # fmt: skip
        return [f"{source.table} segment {i}: {type(e).__name__}: {e}" for i, e in sorted(errors.items())]
