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


def time_interleaved(
    candidates: Mapping[str, Callable[[T], Any]],
    inputs: Sequence[T],
    warmup: int,
    block: int = 10,
) -> dict[str, list[float]]:
    """Call every candidate on each input, in turns of ``block`` inputs; ms per call, warm-ups dropped.

    Every candidate sees the same inputs in the same order, so they read the
    same entities. The first ``warmup`` inputs are run but not recorded: they
    open pooled connections and fill the registry and name caches, costs a
    long-running server pays once.
    """
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    gc.collect()  # start each shape from a similar heap, not with the previous shape's garbage
    for first in range(0, len(inputs), block):
        for name, candidate in candidates.items():
            for index in range(first, min(first + block, len(inputs))):
                start = time.perf_counter()
                candidate(inputs[index])
                elapsed_ms = (time.perf_counter() - start) * 1000
                if index >= warmup:
                    samples[name].append(elapsed_ms)
    return samples
