"""Whole buckets folded from every event they hold, for a backfill to set rather than add.

A backfill replaces each bucket it writes with what the batch source says
the bucket holds (``AggregateWriter.set``), so it must have folded every
event of a bucket before setting it: a bucket set from part of its events
would lose the rest. The backfill asks its source for a range of whole
buckets and folds here the events of that range only; one outside it (a
source's time bounds need not be exclusive) is counted and left for the
range it belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from feast_chalk_dynamo.aggregates.partials import Parts, fold
from feast_chalk_dynamo.aggregates.spec import WindowedView
from feast_chalk_dynamo.aggregates.writer import Event


@dataclass
class WholeBuckets:
    """The parts of the buckets ``buckets`` of each entity, as the events added so far make them."""

    spec: WindowedView
    buckets: range
    parts: dict[tuple[str, int], Parts] = field(default_factory=dict)  # (entity key, bucket) -> parts
    newest: dict[str, int] = field(default_factory=dict)  # entity key -> its newest event folded (µs)
    events: int = 0  # events folded
    outside: int = 0  # events of other buckets, not folded

    def add(self, events: Iterable[Event]) -> None:
        spec, wanted = self.spec, self.spec.parts
        for event in events:
            bucket = spec.bucket_of(event.micros)
            if bucket not in self.buckets:
                self.outside += 1
                continue
            # An event whose columns are all null still makes its bucket one to set (to no values)
            # and its entity seen, as its push would.
            fold(self.parts.setdefault((event.key, bucket), {}), wanted, event.values)
            self.events += 1
            if event.micros > self.newest.get(event.key, -1):
                self.newest[event.key] = event.micros
