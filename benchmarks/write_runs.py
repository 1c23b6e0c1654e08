"""Candidates of the write benchmark and how one turn of each is timed.

A candidate is a FeatureStore (this store in one write mode, Feast's DynamoDB
store, or the discard store) with what the tables need: its label, its write
requests per row, warnings it logged, and whether it failed. A turn is one
``online_write_batch`` of one view (store level) or one ``materialize``
(end to end), timed by wall clock and by process CPU (``time.process_time``
counts every thread of this process, so the store's client pool too, and not
the server, which is another process). Turns of all candidates are
interleaved, so load from elsewhere on this shared machine lands on all alike.
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from feast import FeatureStore, FeatureView
from feast.repo_config import RepoConfig

from benchmarks import feature_stores
from benchmarks.dataset import DataSet, Row
from benchmarks.write_floor import Recorder


@dataclass(frozen=True)
class Sample:
    """One timed turn: rows handed over, wall seconds, process CPU seconds."""

    rows: int
    seconds: float
    cpu_seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def cpu_us_per_row(self) -> float:
        return self.cpu_seconds / self.rows * 1e6


def median_rate(samples: Sequence[Sample]) -> float | None:
    return statistics.median(s.rows_per_second for s in samples) if samples else None


def median_cpu(samples: Sequence[Sample]) -> float | None:
    return statistics.median(s.cpu_us_per_row for s in samples) if samples else None


class WarningLog(logging.Handler):
    """Keeps the store's warnings (e.g. a fallback) to print once in a note, not mid-table."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages[f"{record.name}: {record.getMessage()}"] += 1

    def take(self) -> Counter[str]:
        taken, self.messages = self.messages, Counter()
        return taken


@dataclass
class Candidate:
    """A store under test and what the tables report about it."""

    label: str
    store: FeatureStore
    ours: bool
    samples: list[Sample] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)  # ours only: write attempts by operation
    rows_sent: int = 0
    failure: str | None = None
    recorder: Recorder | None = None

    @property
    def config(self) -> RepoConfig:
        return self.store.config

    def online(self) -> Any:
        return feature_stores.online_store(self.store)

    def engine(self) -> Any:
        """This store's engine for the candidate's configuration (ours only)."""
        return self.online().engine(self.config)

    def view(self, name: str) -> FeatureView:
        return self.store.get_feature_view(name)

    def reset_counts(self) -> None:
        """Start a new section's tallies; the stores and their engines stay as they are."""
        self.samples = []
        self.requests = Counter()
        self.rows_sent = 0

    def requests_per_row(self) -> float | None:
        if not self.ours or not self.rows_sent:
            return None
        return sum(self.requests.values()) / self.rows_sent

    def fail(self, error: BaseException) -> None:
        self.failure = f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"


def build(label: str, config: RepoConfig, data: DataSet, data_dir: Path, ours: bool) -> Candidate:
    """Applied to its own registry, so it has its tables and names before any timed turn."""
    return Candidate(label, feature_stores.applied_store(config, [data], data_dir), ours)


def timed(action: Callable[[], Any], rows: int) -> Sample:
    gc.collect()  # each turn starts from a similar heap, not with the last turn's garbage
    cpu, start = time.process_time(), time.perf_counter()
    action()
    return Sample(rows, time.perf_counter() - start, time.process_time() - cpu)


def write_turn(
    candidate: Candidate,
    view: str,
    rows: list[Row],
    record: bool = False,
    requests: Callable[[], Counter[str]] | None = None,
) -> Sample | None:
    """One ``online_write_batch`` of ``rows``; None (and the candidate marked failed) if it raised.

    Also checks the store reported progress for every row, as Feast's
    materialization expects, and counts the write requests by operation:
    with ``requests`` (the server's count, for every store) or else, for
    ours, from the store's own count of attempts.
    """
    if candidate.failure:
        return None
    table = candidate.view(view)
    online = candidate.online()
    progressed = [0]

    def progress(n: int) -> None:
        progressed[0] += n

    if requests is None:
        attempts = candidate.engine().writes.stats.attempts if candidate.ours else Counter()

        def requests() -> Counter[str]:
            return Counter(attempts)

    before = requests()
    recorder = candidate.recorder if record else None
    try:
        with recorder if recorder is not None else contextlib.nullcontext():
            sample = timed(
                lambda: online.online_write_batch(candidate.config, table, rows, progress), len(rows)
            )
    except Exception as error:  # reported in the tables; the other candidates go on
        candidate.fail(error)
        return None
    finally:
        if recorder is not None:
            recorder.end_call()
    if progressed[0] != len(rows):
        candidate.fail(RuntimeError(f"progress reported {progressed[0]} of {len(rows)} rows"))
    candidate.requests.update(requests() - before)
    candidate.rows_sent += len(rows)
    candidate.samples.append(sample)
    return sample


def count_rows(store: FeatureStore) -> list[int]:
    """Count the rows Feast hands the online store (a wrapper on this instance's method)."""
    online = feature_stores.online_store(store)
    counter = [0]
    original = online.online_write_batch

    def counted(config: RepoConfig, table: FeatureView, data: list[Row], progress: Any) -> None:
        counter[0] += len(data)
        original(config, table, data, progress)

    online.online_write_batch = counted
    return counter


def materialize_turn(
    candidate: Candidate, start: datetime, end: datetime, views: list[str] | None, rows: int
) -> Sample | None:
    """One ``FeatureStore.materialize`` (of ``views``, all if None); Feast's printing swallowed."""
    if candidate.failure:
        return None
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            sample = timed(lambda: candidate.store.materialize(start, end, feature_views=views), rows)
    except Exception as error:
        candidate.fail(error)
        return None
    candidate.samples.append(sample)
    return sample


def round_trip_mismatches(candidate: Candidate, view: str, rows: list[Row]) -> list[str]:
    """Features whose stored value differs from the written proto, read back with ``online_read``."""
    table = candidate.view(view)
    answers = candidate.online().online_read(candidate.config, table, [row[0] for row in rows], None)
    problems = []
    for (key, written, _, _), (_, read) in zip(rows, answers, strict=True):
        if read is None:
            problems.append(f"{view} {key.entity_values[0].int64_val}: row missing")
            continue
        problems += [
            f"{view}.{name} of {key.entity_values[0].int64_val}: wrote {value!r}, read {read.get(name)!r}"
            for name, value in written.items()
            if read.get(name) != value
        ]
    return problems


def interleave(groups: Sequence[Sequence[Any]], turn: int) -> list[Any]:
    """The groups in an order that rotates with the turn, so no candidate always goes first."""
    shift = turn % len(groups)
    rotated = [*groups[shift:], *groups[:shift]]
    return [member for group in rotated for member in group]


def close_all(candidates: Sequence[Candidate]) -> None:
    for candidate in candidates:
        feature_stores.close(candidate.store)
