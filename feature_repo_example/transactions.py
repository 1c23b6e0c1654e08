"""The windowed view's part of the demo: transactions pushed, windows read at one time, pandas' check.

The demo runs it on the wall clock; its test on a clock it moves (and sets
on the store's engine too), so the same push, read and check are exercised
at times the test chooses: a read just now, an hour later, a week later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeVar

import pandas as pd
from feast import FeatureStore

from feature_repo_example import checks
from feature_repo_example.features import JOIN_KEY, RepoObjects

# The transactions are pushed shuffled, in this many pushes: the buckets add up in any order.
PUSHES = 4
# What the store's bucket writes count (engine.aggregates.counts; metrics feast_chalk_dynamo_aggregate_*).
COUNTED = ("late_events", "buckets_updated", "cache_hits", "cache_misses", "cache_evictions")

Clock = Callable[[], datetime]
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Pushed:
    """The transactions pushed, when the pushes began, and what the store counted doing them."""

    events: pd.DataFrame
    began: datetime
    counted: dict[str, int]

    @property
    def late(self) -> int:
        return self.counted["late_events"]

    def describe(self, view: str) -> str:
        done = self.counted
        cache = f"{done['cache_hits']:,} hits, {done['cache_misses']:,} misses"
        return (
            f"{view}: {len(self.events) - self.late:,} events into {done['buckets_updated']:,} bucket "
            f"updates; {self.late} older than its longest window dropped as late; update cache: {cache}, "
            f"{done['cache_evictions']:,} evictions"
        )


def push(store: FeatureStore, objects: RepoObjects, events: pd.DataFrame, clock: Clock = utc_now) -> Pushed:
    """Push the raw transactions as a producer does: shuffled, in a few pushes.

    Feast wants every schema column in a pushed frame, so the output
    columns go along, null: the store computes them from the raw ones.
    """
    frame = events.sample(frac=1.0, random_state=0)
    for output in objects.windowed_outputs():
        frame[output.name] = None
    engine = store._get_provider().online_store.engine(store.config)  # type: ignore[attr-defined]
    counts = engine.aggregates.counts
    before = {name: getattr(counts, name) for name in COUNTED}
    began = clock()
    size = -(-len(frame) // PUSHES)
    for start in range(0, len(frame), size):
        store.push(objects.transactions_push.name, frame.iloc[start : start + size])
    return Pushed(events, began, {name: getattr(counts, name) - before[name] for name in COUNTED})


def in_one_bucket(objects: RepoObjects, read: Callable[[], T], clock: Clock = utc_now) -> tuple[T, datetime]:
    """``read()`` and the time its windows ended: read again if it began in one bucket and ended in the
    next (the windows moved under it), which a read of well under a bucket's width does at most once."""
    view = objects.driver_transactions
    while True:
        began = clock()
        answer = read()
        if checks.same_bucket(view, began, clock()):
            return answer, began


def read(
    store: FeatureStore, objects: RepoObjects, entity_ids: Sequence[int], clock: Clock = utc_now
) -> tuple[checks.Answer, datetime]:
    """The windowed outputs of ``entity_ids`` through the SDK, and the time their windows ended."""

    def outputs() -> checks.Answer:
        rows = [{JOIN_KEY: e} for e in entity_ids]
        return checks.parse_sdk_response(store.get_online_features(objects.windowed_refs(), rows))

    return in_one_bucket(objects, outputs, clock)


def check(
    objects: RepoObjects,
    pushed: Pushed,
    entity_ids: Sequence[int],
    answer: checks.Answer,
    at: datetime,
    label: str,
) -> tuple[int, list[str]]:
    """The outputs and event times of a read whose windows ended ``at``, against pandas' at that time."""
    view = objects.driver_transactions
    expected = checks.expected_windowed(view, pushed.events, entity_ids, pushed_at=pushed.began, now=at)
    matched, problems = checks.compare(
        expected.values, answer.values, [view], label=label, matchers=checks.windowed_matchers(view)
    )
    stamped, wrong = checks.compare_event_timestamps(expected, answer, [view], label=label)
    return matched + stamped, problems + wrong


def check_late(objects: RepoObjects, pushed: Pushed) -> list[str]:
    """The events the store dropped as late are pandas' events older than the longest window."""
    view = objects.driver_transactions
    late = checks.late_events(view, pushed.events, pushed.began)
    if late == pushed.late:
        return []
    return [f"{view.name}: {pushed.late} events dropped as late, pandas says {late}"]
