"""What the copy and the dry run share: the options, the checked plan, key indexes, progress, Ctrl-C."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from feast_chalk_dynamo.migrate.keys import KeyIndex, build_index
from feast_chalk_dynamo.migrate.repo import Plan, SourceTable
from feast_chalk_dynamo.sources import join_keys

# The exit status of a run stopped by Ctrl-C, as a shell reports SIGINT.
INTERRUPTED = 130


@dataclass(frozen=True)
class Options:
    repo: Path
    views: list[str] | None = None
    entities: list[Path] = field(default_factory=list)
    table_prefix: str | None = None
    source_region: str | None = None
    source_endpoint_url: str | None = None
    segments: int = 4
    page_size: int | None = 1000
    state: Path | None = None
    restart: bool = False
    dry_run: bool = False
    verify: int = 0
    seed: int | None = None


class Session:
    def __init__(self, plan: Plan, options: Options, entity_files: list[Path], out: TextIO) -> None:
        self.plan = plan
        self.options = options
        self.entity_files = entity_files
        self.out = out
        # Set on Ctrl-C: every Scan segment finishes the page in hand, and no more.
        self.stop = threading.Event()

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def tables(self) -> str:
        """What the run reads, for its first line."""
        sources = self.plan.sources
        each = "view and version" if any(source.version is not None for source in sources) else "view"
        return f"{len(sources)} of Feast's DynamoDB tables ({self.plan.table_prefix}<view>, one per {each})"

    def index(self, group: list[SourceTable]) -> KeyIndex:
        views = [view for source in group for view in source.key_views]
        index, used = build_index(self.plan.store, views, self.entity_files)
        files = f" and {', '.join(map(str, used))}" if used else ""
        self.say(
            f"{len(index):,} entity keys ({', '.join(join_keys(group[0].view))}) from the batch sources of "
            f"{', '.join(source.label for source in group)}{files}"
        )
        return index

    def bar(self, source: SourceTable, initial: int = 0) -> tqdm:
        """``feast materialize``'s progress bar, shown only on a terminal."""
        self.say(f"{source.label} ({source.table}):")
        return tqdm(
            total=max(source.item_count, initial), initial=initial, ncols=100, unit="row", disable=None
        )
