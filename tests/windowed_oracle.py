"""The oracle of windowed aggregations: pandas over the raw events, with the store's bucket rule.

Written from the issue's rules, not from the store's code, so the two can
disagree:

- buckets are ``hop`` wide and aligned to the Unix epoch: an event at ``t``
  is in bucket ``t // hop``;
- at ``now``, a window of ``W`` is the ``W / hop`` most recent buckets, the
  current one included: buckets ``now // hop - W / hop + 1`` to
  ``now // hop`` (an event after ``now``'s bucket is in no window yet);
- an event older than the longest window when it was pushed is dropped (a
  late event), so it counts nowhere, nor in the entity's event time;
- ``count`` counts non-null values, ``sum``/``count``/``count_distinct``
  read 0 on an empty window, ``min``/``max``/``mean`` null, and ``std``/
  ``var`` (sample statistics, ``ddof=1``) null below two values; nulls and
  non-finite numbers are no values;
- an entity none of whose events were kept was never seen: NOT_FOUND, no
  values; the others are PRESENT with the newest kept event's time, and
  their raw columns read as that event's (Feast's stores answer the newest
  pushed row).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from datasketches import hll_sketch
from feast.aggregation import Aggregation

from feast_chalk_dynamo.aggregates.partials import SKETCH_LG_K

# Feast's spellings of each function.
FUNCTIONS = {
    "sum": "sum", "count": "count", "min": "min", "max": "max", "mean": "mean", "avg": "mean",
    "std": "std", "stddev": "std", "var": "var", "variance": "var", "count_distinct": "count_distinct",
}  # fmt: skip


@dataclass(frozen=True)
class Expected:
    """What a read at ``now`` answers for one entity: its event time, each output's value (and the
    raw values it was computed from), and its raw columns: those of its newest kept event (any one of
    them if several are that new)."""

    event_time: datetime
    values: dict[str, Any]
    windows: dict[str, pd.Series]
    newest_rows: list[dict[str, Any]]


def aggregate(function: str, values: pd.Series) -> Any:
    """One function over one window's raw values (None: null), as pandas computes it."""
    kept = values[values.map(_usable)]
    canonical = FUNCTIONS[function]
    if canonical == "count":
        return int(len(kept))
    if canonical == "count_distinct":
        return int(kept.nunique())
    if canonical == "sum":
        return kept.sum() if len(kept) else 0
    numbers = kept.astype(float)
    if canonical in ("std", "var"):
        if len(numbers) < 2:
            return None
        return float(numbers.std(ddof=1) if canonical == "std" else numbers.var(ddof=1))
    if not len(numbers):
        return None
    if canonical == "mean":
        return float(numbers.mean())
    return kept.min() if canonical == "min" else kept.max()


def buckets(times: pd.Series, hop: timedelta) -> pd.Series:
    """The epoch-aligned bucket of each time: ``t // hop``."""
    return _nanos(times) // _hop_ns(hop)


def late(
    events: pd.DataFrame, aggregations: Sequence[Aggregation], hop: timedelta, pushed_at: datetime
) -> pd.Series:
    """Which events were late when pushed at ``pushed_at``: in a bucket before the longest window's first."""
    hop_ns = _hop_ns(hop)
    longest = max(_window_buckets(a, hop_ns) for a in aggregations)
    return buckets(events["ts"], hop) < _bucket_of(pushed_at, hop_ns) - longest + 1


def expected(
    events: pd.DataFrame,
    keys: Sequence[str],
    aggregations: Sequence[Aggregation],
    hop: timedelta,
    now: datetime,
    pushed_at: datetime | None = None,
) -> dict[tuple[Any, ...], Expected]:
    """Each entity's answer (by its ``keys`` values) at ``now`` to events pushed at ``pushed_at``
    (default ``now``); an entity that is absent reads NOT_FOUND."""
    hop_ns = _hop_ns(hop)
    kept = events[~late(events, aggregations, hop, pushed_at or now)]
    newest = _bucket_of(now, hop_ns)
    answers = {}
    for key, group in kept.groupby(list(keys), sort=False):
        group_buckets = buckets(group["ts"], hop)
        values, windows = {}, {}
        for aggregation in aggregations:
            first = newest - _window_buckets(aggregation, hop_ns) + 1
            name = aggregation.resolved_name(aggregation.time_window)
            windows[name] = group[(group_buckets >= first) & (group_buckets <= newest)][aggregation.column]
            values[name] = aggregate(aggregation.function, windows[name])
        newest_event = group["ts"].max()
        columns = list(dict.fromkeys(aggregation.column for aggregation in aggregations))
        latest = group[group["ts"] == newest_event][columns].to_dict("records")
        rows = [{c: None if pd.isna(v) else v for c, v in row.items()} for row in latest]
        answers[key if isinstance(key, tuple) else (key,)] = Expected(
            newest_event.to_pydatetime(), values, windows, rows
        )
    return answers


def _usable(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    return not pd.isna(value)


def _window_buckets(aggregation: Aggregation, hop_ns: int) -> int:
    window_ns = int(aggregation.time_window / timedelta(microseconds=1)) * 1000
    assert window_ns % hop_ns == 0, "a window is a whole number of buckets"
    return window_ns // hop_ns


def _hop_ns(hop: timedelta) -> int:
    return int(hop / timedelta(microseconds=1)) * 1000


def _nanos(times: pd.Series) -> pd.Series:
    return pd.to_datetime(times, utc=True).dt.as_unit("ns").astype("int64")


def _bucket_of(moment: datetime, hop_ns: int) -> int:
    return pd.Timestamp(moment).value // hop_ns


# count_distinct: a DataSketches HLL sketch (lg_k 11) counts coupons, exactly once rounded, up to
# 3/4 * 2**(lg_k - 3) = 192 distinct values (its LIST and SET modes; measured: 200 random streams each,
# every count to 192 exact, the first inexact at 194, in HLL mode). Past that, within the library's
# a priori error of 3 standard deviations for a sketch made by unions (a window's buckets are merged).
EXACT_DISTINCT = 3 * 2 ** (SKETCH_LG_K - 3) // 4
DISTINCT_3_SIGMA = max(abs(hll_sketch.get_rel_err(upper, True, SKETCH_LG_K, 3)) for upper in (True, False))


def agrees(function: str, got: Any, want: Any, values: pd.Series) -> bool:
    """``got`` (the store's) is ``want`` (pandas') for this function over the window's raw ``values``:
    counts exactly, count_distinct exactly or within 3 sigma (see above), the others to rounding (sums
    in another order; variance from sums of squares, as Feast's tiling computes it, not two passes)."""
    if want is None or got is None:
        return got is None and want is None
    canonical = FUNCTIONS[function]
    if canonical == "count":
        return bool(got == want)
    if canonical == "count_distinct":
        return bool(got == want) if want <= EXACT_DISTINCT else abs(got - want) <= DISTINCT_3_SIGMA * want
    numbers = values[values.map(_usable)].astype(float)
    scale = float((numbers.abs()).sum()) + 1.0
    if canonical in ("std", "var"):
        scale = float((numbers**2).sum()) / max(len(numbers) - 1, 1) + 1.0
        if canonical == "std":
            return math.isclose(got, want, rel_tol=1e-9, abs_tol=math.sqrt(1e-9 * scale))
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9 * scale)
