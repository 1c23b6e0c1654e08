"""Row counts of a migration: per source table in the state file, summed for the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class Counts:
    """What happened to the items scanned from Feast's tables.

    Every item read ends in exactly one of the other four, so
    ``read == written + stale + unresolved + not_written``.
    """

    read: int = 0
    written: int = 0
    # This store already held a row at least as new: the guarded write left it.
    stale: int = 0
    # No batch source or --entities file had the entity key Feast hashed into the item's id.
    unresolved: int = 0
    # The write failed; the page holding the row is not marked done, so a rerun retries it.
    not_written: int = 0

    @property
    def failed(self) -> int:
        return self.unresolved + self.not_written

    def add(self, other: Counts) -> None:
        for name in _NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, int]) -> Counts:
        return cls(**{name: int(data[name]) for name in _NAMES})


_NAMES = tuple(f.name for f in fields(Counts))
