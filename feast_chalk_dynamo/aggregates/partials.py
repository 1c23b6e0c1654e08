"""A bucket's parts, folded from events, merged over a window, finished into each function's value.

Pure logic, no I/O: what a push adds to a bucket, and what a read computes
from the buckets of a window, are the same arithmetic wherever they run.

``count`` counts a column's non-null values; ``mean`` is ``sum / count``;
``var`` and ``std`` are the sample statistics Feast's tiling computes
(``compute_holistic_value_from_irs``: ``(sum_sq - sum**2 / count) /
(count - 1)``, none below two values); ``count_distinct`` is the estimate of
a HyperLogLog sketch (Apache DataSketches, ``lg_k = SKETCH_LG_K``: a relative
standard error of 1.8 %; below a few hundred values per sketch it counts
coupons and is exact or within one). A window without events reads 0 for
``count``, ``sum`` and ``count_distinct`` and null for the others. Nulls and
non-finite numbers (NaN, ±inf) count as no value, as pandas skips NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from datasketches import hll_sketch, hll_union, tgt_hll_type

from feast_chalk_dynamo.aggregates.spec import Output, Part

SKETCH_LG_K = 11
SKETCH_TYPE = tgt_hll_type.HLL_4
# The most a stored sketch takes, for the 400 KB check: the library's own bound (1,128 bytes at lg_k 11,
# HLL_4; a compact sketch measured 1,064-1,072 bytes past 200,000 values), not one stream's measurement.
SKETCH_MAX_BYTES = hll_sketch.get_max_updatable_serialization_bytes(SKETCH_LG_K, SKETCH_TYPE)

# A bucket's parts: a number for n, s, q, lo and hi; a sketch for d.
Parts = dict[Part, Any]


def new_sketch() -> Any:
    return hll_sketch(SKETCH_LG_K, SKETCH_TYPE)


def sketch_from(data: bytes) -> Any:
    return hll_sketch.deserialize(bytes(data))


def sketch_bytes(sketch: Any) -> bytes:
    return bytes(sketch.serialize_compact())


def union(sketches: Iterable[Any]) -> Any:
    merged = hll_union(SKETCH_LG_K)
    for sketch in sketches:
        merged.update(sketch)
    return merged.get_result(SKETCH_TYPE)


def _usable(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def fold(parts: Parts, wanted: Iterable[Part], event: Mapping[str, Any]) -> None:
    """Add one event (raw column -> plain value) to a bucket's parts, in place."""
    for part in wanted:
        value: Any = event.get(part.column)
        if not _usable(value):
            continue
        kind = part.kind
        if kind == "d":
            sketch = parts.get(part)
            if sketch is None:
                sketch = parts[part] = new_sketch()
            sketch.update(value)
            continue
        if isinstance(value, bool):
            value = int(value)
        current = parts.get(part)
        if kind == "n":
            parts[part] = (current or 0) + 1
        elif kind == "s":
            parts[part] = (current or 0) + value
        elif kind == "q":
            parts[part] = (current or 0) + value * value
        elif kind == "lo":
            parts[part] = value if current is None else min(current, value)
        elif kind == "hi":
            parts[part] = value if current is None else max(current, value)


def merge(into: Parts, other: Parts) -> None:
    """Merge another bucket's (or window's) parts into ``into``, in place."""
    for part, value in other.items():
        current = into.get(part)
        if current is None:
            into[part] = value if part.kind != "d" else union([value])
        elif part.kind in ("n", "s", "q"):
            into[part] = current + value
        elif part.kind == "lo":
            into[part] = min(current, value)
        elif part.kind == "hi":
            into[part] = max(current, value)
        else:
            into[part] = union([current, value])


def finish(output: Output, window: Parts) -> Any:
    """The output's value from the merged parts of its window (None: null)."""
    column = output.column
    return finish_kinds(
        output.function, {part.kind: value for part, value in window.items() if part.column == column}
    )


def finish_kinds(function: str, kinds: Mapping[str, Any]) -> Any:
    """``function``'s value from its column's merged parts by kind (``n``, ``s``, ...); None: null."""
    n: Any = kinds.get("n")
    s: Any = kinds.get("s")
    if function == "sum":
        return s if s is not None else 0
    if function == "count":
        return n or 0
    if function == "min":
        return kinds.get("lo")
    if function == "max":
        return kinds.get("hi")
    if function == "count_distinct":
        sketch = kinds.get("d")
        return round(sketch.get_estimate()) if sketch is not None else 0
    if not n:
        return None
    if function == "mean":
        return s / n
    if n < 2:
        return None
    q: Any = kinds.get("q")
    variance = max((q - s * s / n) / (n - 1), 0.0)
    return math.sqrt(variance) if function == "std" else variance
