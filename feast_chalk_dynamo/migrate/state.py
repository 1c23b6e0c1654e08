"""The resume file: where each Scan segment of each source table stands, and what was counted.

A page is recorded only once every row of it has landed (written, or
skipped as stale) or was counted unresolved (a row's values not copied are
recorded with it: a rerun would not copy them either), so a killed migration resumes
at the first page not known to be done and counts no row twice. The file is
replaced atomically (a temporary file, then ``os.replace``): a kill while it
is being written leaves the previous version, never a torn one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feast_chalk_dynamo.migrate.counts import MAX_EXAMPLES, Counts, NotCopied
from feast_chalk_dynamo.migrate.errors import MigrationError

FORMAT = 1
DEFAULT_NAME = ".feast-chalk-dynamo-migrate.json"


@dataclass
class SegmentState:
    # Scan's ExclusiveStartKey for the next page; None at the start of the segment.
    start_key: dict[str, Any] | None = None
    done: bool = False


@dataclass
class TableState:
    view: str  # the view, or the version of a versioned view (stats@v1), the table holds
    segments: list[SegmentState]
    counts: Counts = field(default_factory=Counts)
    unresolved_examples: list[str] = field(default_factory=list)
    not_copied: NotCopied = field(default_factory=NotCopied)
    unstorable_examples: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return all(segment.done for segment in self.segments)

    def commit(
        self, segment: int, next_key: dict[str, Any] | None, counts: Counts, unresolved: Sequence[str],
        not_copied: NotCopied | None = None, unstorable: Sequence[str] = (),
    ) -> None:  # fmt: skip
        """Record a page as done: its segment resumes at ``next_key`` (None: the segment is finished)."""
        if counts.not_written:
            raise ValueError("a page with rows not written is not done: a rerun must retry it")
        state = self.segments[segment]
        if state.done:
            raise ValueError(f"segment {segment} of the scan of view {self.view!r} is already done")
        state.start_key = next_key
        state.done = next_key is None
        self.counts.add(counts)
        room = MAX_EXAMPLES - len(self.unresolved_examples)
        self.unresolved_examples.extend(unresolved[: max(0, room)])
        if not_copied is not None:
            self.not_copied.merge(not_copied)
        room = MAX_EXAMPLES - len(self.unstorable_examples)
        self.unstorable_examples.extend(unstorable[: max(0, room)])


@dataclass
class MigrationState:
    """The whole file: the arguments it belongs to, and per source table its segments and counts."""

    arguments: dict[str, Any]
    total_segments: int
    tables: dict[str, TableState]

    @classmethod
    def new(
        cls, arguments: dict[str, Any], total_segments: int, views_by_table: Mapping[str, str]
    ) -> MigrationState:
        tables = {
            table: TableState(view, [SegmentState() for _ in range(total_segments)])
            for table, view in views_by_table.items()
        }
        return cls(arguments, total_segments, tables)

    @property
    def done(self) -> bool:
        return all(table.done for table in self.tables.values())

    def totals(self) -> Counts:
        total = Counts()
        for table in self.tables.values():
            total.add(table.counts)
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "arguments": self.arguments,
            "total_segments": self.total_segments,
            "tables": {
                name: {
                    "view": table.view,
                    "segments": [{"start_key": s.start_key, "done": s.done} for s in table.segments],
                    "counts": table.counts.to_json(),
                    "unresolved_examples": table.unresolved_examples,
                    "not_copied": table.not_copied.to_json(),
                    "unstorable_examples": table.unstorable_examples,
                }
                for name, table in self.tables.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MigrationState:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        tables = {
            name: TableState(
                view=table["view"],
                segments=[SegmentState(s["start_key"], bool(s["done"])) for s in table["segments"]],
                counts=Counts.from_json(table["counts"]),
                unresolved_examples=list(table["unresolved_examples"]),
                # Absent from a file an earlier version wrote: none then.
                not_copied=NotCopied.from_json(table.get("not_copied", {"counts": {}, "examples": {}})),
                unstorable_examples=list(table.get("unstorable_examples", [])),
            )
            for name, table in data["tables"].items()
        }
        return cls(dict(data["arguments"]), int(data["total_segments"]), tables)


def save(path: Path, state: MigrationState) -> None:
    """Replace the file atomically, and durably: it is what a resumed run trusts."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(state.to_json(), file, indent=1, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def load(path: Path) -> MigrationState | None:
    """The state in ``path``, or None if there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return MigrationState.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise MigrationError(
            f"state file {path} is not a migration state this version can read ({error}); "
            "run again with --restart to start over, or --state to use another file"
        ) from None


# The argument naming the destination table's epoch: checked on its own, with a message of its own.
DESTINATION_EPOCH = "destination_epoch"


def resume_or_start(
    path: Path,
    arguments: dict[str, Any],
    total_segments: int,
    views_by_table: Mapping[str, str],
    restart: bool,
) -> tuple[MigrationState, bool]:
    """The state to continue from and whether it was resumed; a fresh one with ``restart`` or no file.

    A state written for other arguments (other views, tables, entities files
    or segment count) is refused: its cursors and counts would not mean what
    they say for this run.
    """
    existing = None if restart else load(path)
    if existing is None:
        state = MigrationState.new(arguments, total_segments, views_by_table)
        save(path, state)
        return state, False
    if existing.total_segments != total_segments:
        raise MigrationError(
            f"state file {path} belongs to a migration scanning {existing.total_segments} segments a table, "
            f"not {total_segments}: run again with --segments {existing.total_segments} to resume it, or "
            "--restart to start over"
        )
    then = existing.arguments.get(DESTINATION_EPOCH)
    if then is not None and then != arguments.get(DESTINATION_EPOCH):
        raise MigrationError(
            f"state file {path} belongs to another table of the same name: the destination was dropped and "
            "created again (or restored) since, so the rows it records as copied are not in it; run again "
            "with --restart to copy everything into this one"
        )
    # A file from a version that did not record the epoch resumes as before.
    changed = sorted(
        name for name in arguments.keys() | existing.arguments.keys()
        if name != DESTINATION_EPOCH and arguments.get(name) != existing.arguments.get(name)
    )  # fmt: skip
    if changed:
        details = "; ".join(
            f"{name}: {existing.arguments.get(name)!r} then, {arguments.get(name)!r} now" for name in changed
        )
        raise MigrationError(
            f"state file {path} belongs to a migration with other arguments ({details}): run it with the "
            "same arguments to resume it, --restart to start over, or --state to keep it and use another file"
        )
    return existing, True
