"""A windowed view as this store keeps it: its buckets, the parts each bucket holds, its pages.

Declared with Feast's own API: a ``StreamFeatureView`` with ``aggregations``
(``Aggregation(column, function, time_window)``) over a push source. Each
output feature is named as Feast names it (``Aggregation.resolved_name``).

Buckets are ``hop`` wide (``tiling_hop_size``, else Feast's default of 5
minutes) and aligned to the Unix epoch as Feast's tiling aligns them: bucket
``b`` holds the events of ``[b * hop, (b + 1) * hop)``. A bucket keeps, per
raw column, the parts its aggregations need (count, sum and sum of squares,
min, max, a distinct-count sketch); an output over a window of ``W`` is
merged at read time from the ``W / hop`` most recent buckets, the current one
included.

Buckets live on **pages**: items of their own under the entity's partition,
``K`` consecutive buckets each, so a read of every window of 100 entities is
a few BatchGetItem keys per entity, not one per bucket, while an event's
update is charged on a page of ``K`` buckets, not on every bucket of the
longest window. ``K`` is chosen so the longest window spans about
``PAGES_PER_WINDOW`` pages, unless a page could then grow past
``MAX_PAGE_BYTES``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from feast_chalk_dynamo.errors import InvalidWindowedView
from feast_chalk_dynamo.items.codec import value_field_for
from feast_chalk_dynamo.items.layout import MAX_ITEM_BYTES

# Feast's default bucket width when ``tiling_hop_size`` is unset (its tiling's default too).
DEFAULT_HOP = timedelta(minutes=5)
# The longest window is read from about this many pages per entity.
PAGES_PER_WINDOW = 8
# ... unless that makes a page larger than this at its fullest (every bucket with every part at its
# largest): an update is charged on the whole page, and a page must stay far within 400 KB.
MAX_PAGE_BYTES = 64 * 1024

# Each function by its names (Feast accepts these spellings), to what it is computed from.
CANONICAL = {
    "sum": "sum",
    "count": "count",
    "min": "min",
    "max": "max",
    "mean": "mean",
    "avg": "mean",
    "std": "std",
    "stddev": "std",
    "var": "var",
    "variance": "var",
    "count_distinct": "count_distinct",
}
# The parts of a bucket each function is merged from: n count, s sum, q sum of squares,
# lo min, hi max, d a distinct-count sketch.
PARTS = {
    "sum": ("s",),
    "count": ("n",),
    "min": ("lo",),
    "max": ("hi",),
    "mean": ("n", "s"),
    "std": ("n", "s", "q"),
    "var": ("n", "s", "q"),
    "count_distinct": ("d",),
}
NUMERIC = frozenset({"s", "q", "lo", "hi"})  # parts of a column's numbers: only numeric columns have them
ADDITIVE = frozenset({"n", "s", "q"})  # updated by DynamoDB's ADD; the others are read, merged, written

# Bytes a part of one bucket may take at most on a page (name and value), for the 400 KB check:
# a number is at most 21 bytes (38 digits), a sketch at most SKETCH_MAX_BYTES.
NUMBER_MAX_BYTES = 21
NAME_MAX_BYTES = 12
KEY_AND_VERSION_BYTES = 2048 + 64 + 64


@dataclass(frozen=True)
class Part:
    """One part of a bucket: of which raw column, which kind (see ``PARTS``)."""

    column: str
    kind: str

    @property
    def name(self) -> str:
        """How the name mapping names it (a feature of the view's namespace, dtype ``PART``)."""
        return f"{self.kind}:{self.column}"


@dataclass(frozen=True)
class Output:
    """One output feature: its name, function, the column it reads and its window in buckets."""

    name: str
    function: str
    column: str
    window_buckets: int

    @property
    def parts(self) -> tuple[Part, ...]:
        return tuple(Part(self.column, kind) for kind in PARTS[self.function])


@dataclass(frozen=True)
class WindowedView:
    """What the store needs to know of a windowed view to write events and read windows."""

    view: str
    hop_ms: int
    outputs: tuple[Output, ...]
    page_buckets: int  # K: buckets per page

    @property
    def parts(self) -> tuple[Part, ...]:
        return tuple(dict.fromkeys(part for output in self.outputs for part in output.parts))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(output.column for output in self.outputs))

    @property
    def longest_buckets(self) -> int:
        return max(output.window_buckets for output in self.outputs)

    @property
    def geometry(self) -> str:
        """Part of every page's key: pages of another bucket width or page width are other items."""
        return f"h{self.hop_ms}k{self.page_buckets}"

    def bucket_of(self, micros: int) -> int:
        return (micros // 1000) // self.hop_ms

    def page_of(self, bucket: int) -> int:
        return bucket // self.page_buckets

    def pages_for(self, newest_bucket: int, buckets: int) -> range:
        """The pages holding the ``buckets`` buckets up to ``newest_bucket``."""
        return range(self.page_of(newest_bucket - buckets + 1), self.page_of(newest_bucket) + 1)


def is_windowed(view: Any) -> bool:
    """A view whose rows are buckets: a stream feature view declaring aggregations."""
    return bool(getattr(view, "aggregations", None))


def windowed_view(view: Any, sketch_max_bytes: int) -> WindowedView:
    """The view's buckets and outputs; ``InvalidWindowedView`` naming the view and the fix when they
    cannot be kept (a window not a whole number of buckets, an unknown function, a column not in the
    schema, an output not in the schema, pages past DynamoDB's item limit)."""
    name: str = view.name
    hop = getattr(view, "tiling_hop_size", None) or DEFAULT_HOP
    hop_ms = int(hop / timedelta(milliseconds=1))
    if hop_ms <= 0:
        raise InvalidWindowedView(f"view {name!r}: tiling_hop_size must be positive, not {hop}")
    fields = {field.name: field for field in view.features}
    outputs = []
    for aggregation in view.aggregations:
        outputs.append(_output(name, aggregation, hop, hop_ms, fields))
    longest = max(output.window_buckets for output in outputs)
    bucket_bytes = (
        max_page_bytes(WindowedView(name, hop_ms, tuple(outputs), 1), sketch_max_bytes)
        - KEY_AND_VERSION_BYTES
    )
    by_bytes = (MAX_PAGE_BYTES - KEY_AND_VERSION_BYTES) // bucket_bytes
    page_buckets = max(1, min(math.ceil(longest / PAGES_PER_WINDOW), by_bytes))
    spec = WindowedView(name, hop_ms, tuple(outputs), page_buckets)
    largest = max_page_bytes(spec, sketch_max_bytes)
    if largest > MAX_ITEM_BYTES:
        raise InvalidWindowedView(
            f"view {name!r}: a page of {spec.page_buckets} buckets may hold {largest:,} bytes, past "
            f"DynamoDB's {MAX_ITEM_BYTES:,}-byte item limit; use a wider tiling_hop_size or fewer "
            "aggregations per view"
        )
    return spec


def _output(view: str, aggregation: Any, hop: timedelta, hop_ms: int, fields: dict[str, Any]) -> Output:
    function = CANONICAL.get(str(aggregation.function).lower())
    if function is None:
        known = ", ".join(sorted(CANONICAL))
        raise InvalidWindowedView(
            f"view {view!r}: aggregation function {aggregation.function!r} is not one this store computes "
            f"({known})"
        )
    window = aggregation.time_window
    if window is None or window <= timedelta(0):
        raise InvalidWindowedView(
            f"view {view!r}: aggregation {function}({aggregation.column}) needs a positive time_window"
        )
    window_ms = int(window / timedelta(milliseconds=1))
    if window_ms % hop_ms:
        raise InvalidWindowedView(
            f"view {view!r}: time_window {window} of {function}({aggregation.column}) is not a whole number "
            f"of buckets of {hop} (tiling_hop_size); make it a multiple, or the hop a divisor of it"
        )
    column = aggregation.column
    if column not in fields:
        raise InvalidWindowedView(
            f"view {view!r}: aggregation {function}({column}) reads column {column!r}, which the schema "
            f"lacks; add Field(name={column!r}, dtype=...) to the view's schema"
        )
    if function not in ("count", "count_distinct") and not _numeric(fields[column]):
        raise InvalidWindowedView(
            f"view {view!r}: {function}({column}) needs a numeric column; {column!r} is "
            f"{fields[column].dtype}"
        )
    name = aggregation.resolved_name(window)
    if name not in fields:
        raise InvalidWindowedView(
            f"view {view!r}: output feature {name!r} of {function}({column}) over {window} is not in the "
            f"schema; add Field(name={name!r}, dtype=...)"
        )
    return Output(name, function, column, window_ms // hop_ms)


def _numeric(field: Any) -> bool:
    return field.dtype.to_value_type().name in ("INT32", "INT64", "FLOAT", "DOUBLE")


def max_page_bytes(spec: WindowedView, sketch_max_bytes: int) -> int:
    """The most a page can hold: every part of every bucket at its largest, with the key."""
    per_bucket = sum(
        NAME_MAX_BYTES + (sketch_max_bytes if part.kind == "d" else NUMBER_MAX_BYTES) for part in spec.parts
    )
    return KEY_AND_VERSION_BYTES + spec.page_buckets * per_bucket


def output_fields(spec: WindowedView, schema: Sequence[Any]) -> dict[str, str]:
    """Each output's ``Value`` field, as its schema declares it (a count as Int64, a mean as Float64)."""
    by_name = {field.name: field for field in schema}
    return {
        output.name: value_field_for(by_name[output.name].dtype.to_value_type()) for output in spec.outputs
    }
