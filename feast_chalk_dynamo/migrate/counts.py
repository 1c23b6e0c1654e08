"""Row counts of a migration, and values not copied: per source table in the state file, summed for the
report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Examples (unresolved ids, unstorable rows, values not copied) kept per table or feature to show the
# operator; the rest are counted.
MAX_EXAMPLES = 5


@dataclass
class Counts:
    """What happened to the items scanned from Feast's tables.

    Every item read ends in exactly one of the others, so
    ``read == written + stale + unresolved + not_written + unstorable``.
    """

    read: int = 0
    written: int = 0
    # This store already held a newer row: the guarded write left it (a row of the same time is written).
    stale: int = 0
    # No batch source or --entities file had the entity key Feast hashed into the item's id.
    unresolved: int = 0
    # The write failed; the page holding the row is not marked done, so a rerun retries it.
    not_written: int = 0
    # The store can never write the row (``copier.UNSTORABLE``): its page is done, a rerun would not help.
    unstorable: int = 0

    @property
    def failed(self) -> int:
        return self.unresolved + self.not_written + self.unstorable

    def add(self, other: Counts) -> None:
        for name in _NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, int]) -> Counts:
        # A count absent from a file an earlier version wrote is one that version did not make.
        return cls(**{name: int(data.get(name, 0)) for name in _NAMES})


_NAMES = tuple(f.name for f in fields(Counts))


@dataclass
class NotCopied:
    """Values not copied (``typed_rows``), per feature: how many, and the first few (entity: why).

    Their rows are written, so they are no row count: a row copied without
    one of its values counts as written.
    """

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, feature: str, example: str) -> None:
        self.merge(NotCopied({feature: 1}, {feature: [example]}))

    def merge(self, other: NotCopied) -> None:
        for feature, count in other.counts.items():
            self.counts[feature] = self.counts.get(feature, 0) + count
            kept = self.examples.setdefault(feature, [])
            kept.extend(other.examples.get(feature, [])[: MAX_EXAMPLES - len(kept)])

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "examples": self.examples}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NotCopied:
        return cls(
            {name: int(n) for name, n in data["counts"].items()},
            {name: [str(e) for e in kept] for name, kept in data["examples"].items()},
        )
