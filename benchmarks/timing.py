"""Timing and summary statistics for latency samples.

Candidates are timed in interleaved turns so that a burst of load from other
processes on this shared machine lands on all of them alike; comparisons are
then made as ratios within one run. A turn is a block of a few calls (A×10,
B×10, A×10, …), not one call: measured on this machine, our read of 100
entities x 5 views took ~24 ms in a row of its own kind but ~36 ms when each
one followed a 130 ms read of Feast's store (not Python's GC, not page faults;
CPU caches or the emulator's state are the likely cause), a cost one-call
turns charge to the fast candidate and no server pays: a server runs one
store's reads back to back, as blocks do.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Summary:
    """Latency percentiles of one candidate, in milliseconds."""

    n: int
    median: float
    p95: float
    p99: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Summary:
        if len(samples_ms) < 2:
            raise ValueError(f"need at least 2 samples for percentiles, got {len(samples_ms)}")
        # "inclusive" keeps cut points within the observed range, so a small
        # sample never reports a p99 beyond its slowest observation.
        cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
        return cls(n=len(samples_ms), median=statistics.median(samples_ms), p95=cuts[94], p99=cuts[98])

    def ratio(self, baseline: Summary) -> Summary:
        """Each percentile divided by the baseline's (n is kept from self)."""
        return Summary(
            n=self.n,
            median=self.median / baseline.median,
            p95=self.p95 / baseline.p95,
            p99=self.p99 / baseline.p99,
        )


@dataclass(frozen=True)
class Timings:
    """Per candidate, ms per call: wall clock, and CPU of this whole process (every thread of it)."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]


def time_interleaved(
    candidates: Mapping[str, Callable[[T], Any]],
    inputs: Sequence[T],
    warmup: int,
    block: int = 10,
) -> dict[str, list[float]]:
    """Wall-clock ms per call of ``measure_interleaved``."""
    return measure_interleaved(candidates, inputs, warmup, block).wall


def measure_interleaved(
    candidates: Mapping[str, Callable[[T], Any]],
    inputs: Sequence[T],
    warmup: int,
    block: int = 10,
) -> Timings:
    """Call every candidate on each input, in turns of ``block`` inputs; ms per call, warm-ups dropped.

    Every candidate sees the same inputs in the same order, so they read the
    same entities. The first ``warmup`` inputs are run but not recorded: they
    open pooled connections and fill the registry and name caches, costs a
    long-running server pays once. CPU is ``time.process_time``: the client's
    threads, not a server in another process; work a call leaves running
    after it returns lands on the next call, so read it as a mean over many.
    """
    wall: dict[str, list[float]] = {name: [] for name in candidates}
    cpu: dict[str, list[float]] = {name: [] for name in candidates}
    gc.collect()  # start each shape from a similar heap, not with the previous shape's garbage
    for first in range(0, len(inputs), block):
        for name, candidate in candidates.items():
            for index in range(first, min(first + block, len(inputs))):
                start, start_cpu = time.perf_counter(), time.process_time()
                candidate(inputs[index])
                elapsed_ms = (time.perf_counter() - start) * 1000
                cpu_ms = (time.process_time() - start_cpu) * 1000
                if index >= warmup:
                    wall[name].append(elapsed_ms)
                    cpu[name].append(cpu_ms)
    return Timings(wall, cpu)


def target_line(name: str, measured: float | None, target: float, at_least: bool) -> str:
    """``measured`` against ``target``: their ratio, and whether the target is met."""
    if measured is None:
        return f"  {name}: not measured"
    met = measured >= target if at_least else measured <= target
    sign = ">=" if at_least else "<="
    return (
        f"  {name}: {measured:.2f} (target {sign} {target:g}; measured/target {measured / target:.2f}, "
        f"{'met' if met else 'missed'})"
    )
