"""A windowed view as the store keeps it (``aggregates.spec``): buckets, pages, and what is refused.

Each refusal the issue names (a window not a whole number of buckets, an
unknown function, a column not in the schema, pages past DynamoDB's 400 KB)
is an error naming the view and the fix; the bucket rule is Feast's tiling's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from feast.aggregation import Aggregation
from feast.stream_feature_view import StreamFeatureView
from feast.types import Float64, PrimitiveFeastType, String
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.aggregates.partials import SKETCH_MAX_BYTES
from feast_chalk_dynamo.aggregates.spec import DEFAULT_HOP, MAX_PAGE_BYTES, PAGES_PER_WINDOW, max_page_bytes
from feast_chalk_dynamo.errors import InvalidWindowedView
from feast_chalk_dynamo.items.layout import MAX_ITEM_BYTES
from feast_chalk_dynamo.windowed import spec_of
from tests.windowed_objects import DRIVER, HOUR, SALES_AGGREGATIONS, distinct_counts, windowed_view

DAY, WEEK = timedelta(days=1), timedelta(days=7)


def view(
    aggregations: Sequence[Aggregation],
    hop: timedelta | None = timedelta(hours=1),
    fields: dict[str, PrimitiveFeastType] | None = None,
) -> StreamFeatureView:
    """A view ``tx`` per driver, its schema every column and output (``fields``: instead of those)."""
    return windowed_view("tx", [DRIVER], aggregations, Path("/nonexistent.parquet"), hop, fields)


def refusal(aggregations: Sequence[Aggregation], **kwargs: object) -> str:
    with pytest.raises(InvalidWindowedView) as raised:
        spec_of(view(aggregations, **kwargs))  # type: ignore[arg-type]
    message = str(raised.value)
    assert message.startswith("view 'tx': "), message
    return message


def test_a_window_that_is_not_a_whole_number_of_buckets_is_refused() -> None:
    message = refusal([Aggregation(column="amount", function="sum", time_window=timedelta(minutes=90))])
    assert "1:30:00" in message and "tiling_hop_size" in message and "multiple" in message


def test_an_unknown_function_is_refused_naming_the_known_ones() -> None:
    message = refusal([Aggregation(column="amount", function="median", time_window=HOUR)])
    assert "'median'" in message and "count_distinct" in message and "stddev" in message


def test_an_aggregation_over_a_column_not_in_the_schema_is_refused() -> None:
    aggregation = Aggregation(column="tip", function="sum", time_window=HOUR)
    message = refusal([aggregation], fields={"amount": Float64, "sum_tip_3600s": Float64})
    assert "'tip'" in message and "Field(name='tip'" in message


def test_an_output_not_in_the_schema_is_refused() -> None:
    aggregation = Aggregation(column="amount", function="sum", time_window=HOUR)
    message = refusal([aggregation], fields={"amount": Float64})
    assert "'sum_amount_3600s'" in message and "Field(name='sum_amount_3600s'" in message


def test_a_sum_of_a_string_column_is_refused() -> None:
    aggregation = Aggregation(column="rider", function="sum", time_window=HOUR)
    message = refusal([aggregation])
    assert "numeric" in message and "'rider'" in message


def test_an_output_declared_as_a_string_is_refused() -> None:
    aggregation = Aggregation(column="amount", function="sum", time_window=HOUR)
    message = refusal([aggregation], fields={"amount": Float64, "sum_amount_3600s": String})
    assert "Int64 or Float64" in message


def test_a_view_whose_bucket_could_pass_dynamodbs_item_limit_is_refused() -> None:
    """360 distinct counts: a page of one bucket may hold 360 sketches of 1,128 B, past 400 KB."""
    aggregations, fields = distinct_counts(360)
    message = refusal(aggregations, fields=fields)
    assert "409,600-byte item limit" in message and "fewer aggregations" in message


def test_a_long_window_of_narrow_buckets_gets_smaller_pages_not_a_refusal() -> None:
    """A week of 1-minute buckets with a distinct count: an eighth of the window a page would be 1,260
    sketches (1.4 MB); pages of fewer buckets stay within 64 KB at their fullest."""
    spec = spec_of(view([Aggregation(column="rider", function="count_distinct", time_window=WEEK)],
                        hop=timedelta(minutes=1)))  # fmt: skip
    assert max_page_bytes(spec, SKETCH_MAX_BYTES) <= MAX_PAGE_BYTES < MAX_ITEM_BYTES
    assert spec.page_buckets < math.ceil(7 * 24 * 60 / PAGES_PER_WINDOW)


def test_the_issues_view_fits_a_page_within_the_item_limit() -> None:
    """4 aggregations over 1 h, 1 day and 7 days, 1-hour buckets, count_distinct included (point 4)."""
    aggregations = [
        Aggregation(column="amount", function="sum", time_window=HOUR),
        Aggregation(column="amount", function="mean", time_window=DAY),
        Aggregation(column="amount", function="max", time_window=WEEK),
        Aggregation(column="rider", function="count_distinct", time_window=WEEK),
    ]
    spec = spec_of(view(aggregations))
    assert spec.page_buckets == math.ceil(7 * 24 / PAGES_PER_WINDOW) == 21
    assert max_page_bytes(spec, SKETCH_MAX_BYTES) < MAX_ITEM_BYTES / 10


def test_an_unset_hop_is_feasts_default_of_five_minutes() -> None:
    spec = spec_of(view([Aggregation(column="amount", function="sum", time_window=HOUR)], hop=None))
    assert spec.hop_ms == DEFAULT_HOP / timedelta(milliseconds=1) == 300_000
    assert spec.outputs[0].window_buckets == 12


def test_every_spelling_of_every_function_is_kept_with_its_parts() -> None:
    spec = spec_of(view(SALES_AGGREGATIONS))
    functions = {output.name: output.function for output in spec.outputs}
    assert functions["avg_amount_10800s"] == "mean"
    assert functions["stddev_amount_86400s"] == "std" and functions["variance_amount_3600s"] == "var"
    assert {part.name for part in spec.parts} == {
        "s:amount", "n:amount", "q:amount", "lo:amount", "hi:amount", "s:qty", "hi:qty", "d:rider",
    }  # fmt: skip


@given(
    hop_minutes=st.sampled_from([1, 5, 10, 60, 24 * 60]),
    windows=st.lists(st.integers(1, 400), min_size=1, max_size=3),
    moment_ms=st.integers(0, 4_102_444_800_000),  # up to 2100
)
def test_buckets_are_aligned_to_the_epoch_and_pages_hold_the_longest_window(
    hop_minutes: int, windows: list[int], moment_ms: int
) -> None:
    """The bucket of ``t`` starts at ``(t_ms // hop_ms) * hop_ms``, as Feast's tiling aligns it, and the
    pages of the longest window ending in any bucket hold each of its buckets and about 8 pages."""
    hop = timedelta(minutes=hop_minutes)
    aggregations = [
        Aggregation(column="amount", function="sum", time_window=hop * n, name=f"s{i}")
        for i, n in enumerate(windows)
    ]
    spec = spec_of(view(aggregations, hop=hop))
    hop_ms = hop_minutes * 60_000
    bucket = spec.bucket_of(moment_ms * 1000 + 999)
    assert bucket * hop_ms == (moment_ms // hop_ms) * hop_ms
    longest = max(windows)
    pages = spec.pages_for(bucket, longest)
    held = {b for page in pages for b in range(page * spec.page_buckets, (page + 1) * spec.page_buckets)}
    assert set(range(bucket - longest + 1, bucket + 1)) <= held
    assert len(pages) <= PAGES_PER_WINDOW + 1
