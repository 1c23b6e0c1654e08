"""Which buckets a backfill sets, slice by slice, and the whole buckets it folds (pure logic).

The rule (``backfill.plan``): a bucket is set when ``[start, end)`` overlaps
it, it had closed when the run started, and it was within the view's longest
window then. Checked here against that rule stated on times, bucket by
bucket, for random bucket widths, windows and times.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.aggregates.partials import fold
from feast_chalk_dynamo.aggregates.spec import Output, Part, WindowedView
from feast_chalk_dynamo.aggregates.whole import WholeBuckets
from feast_chalk_dynamo.aggregates.writer import Event
from feast_chalk_dynamo.backfill.plan import ViewPlan, buckets_to_set

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROS = st.integers(min_value=10**15, max_value=10**15 + 10**11)  # 2001, over about a day


def spec(hop_ms: int, longest: int, page_buckets: int) -> WindowedView:
    outputs = (Output("sum_x", "sum", "x", longest), Output("count_x", "count", "x", 1))
    return WindowedView("v", hop_ms, outputs, page_buckets)


def at(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


@given(
    hop_ms=st.integers(min_value=1, max_value=3_600_000),
    longest=st.integers(min_value=1, max_value=50),
    page_buckets=st.integers(min_value=1, max_value=9),
    start=MICROS,
    length=st.integers(min_value=1, max_value=10**10),
    started=MICROS,
)
def test_a_bucket_is_set_when_the_range_overlaps_it_it_had_closed_and_is_in_the_longest_window(
    hop_ms: int, longest: int, page_buckets: int, start: int, length: int, started: int
) -> None:
    view = spec(hop_ms, longest, page_buckets)
    end = start + length
    asked, chosen = buckets_to_set(view, at(start), at(end), at(started))
    hop = hop_ms * 1000
    # Each condition holds on an interval of buckets: checked on both sides of every edge.
    edges = (asked.start, asked.stop, chosen.start, chosen.stop, started // hop, started // hop - longest)
    for bucket in {edge + step for edge in edges for step in range(-2, 3)}:
        overlaps = bucket * hop < end and (bucket + 1) * hop > start
        closed = (bucket + 1) * hop <= started
        seen = bucket > started // hop - longest  # among the longest window's buckets at the start
        assert (bucket in asked) == overlaps
        assert (bucket in chosen) == (overlaps and closed and seen), bucket

    plan = ViewPlan(None, view, asked, chosen)
    slices = list(plan.slices()) if chosen else []
    assert [bucket for part in slices for bucket in part] == list(chosen)
    assert all(part and view.page_of(part.start) == view.page_of(part.stop - 1) for part in slices)
    assert len(slices) == len({view.page_of(bucket) for bucket in chosen})


@given(
    times=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 99), st.none() | st.floats(-1e6, 1e6)), max_size=60
    ),
    cuts=st.lists(st.integers(0, 60), max_size=4),
    first=st.integers(0, 9),
    count=st.integers(0, 9),
)
def test_whole_buckets_fold_every_event_of_the_range_whatever_the_chunks(
    times: list[tuple[int, int, float | None]], cuts: list[int], first: int, count: int
) -> None:
    view = spec(10, 10, 3)  # buckets of 10 ms: an event at t ms is in bucket t // 10
    events = [Event(f"k{key}", t * 1000, {"x": x}) for key, t, x in times]
    whole = WholeBuckets(view, range(first, first + count))
    bounds = [0, *sorted(cuts), len(events)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        whole.add(events[lo:hi])

    inside = [event for event in events if first <= view.bucket_of(event.micros) < first + count]
    wanted: dict[tuple[str, int], dict[Part, object]] = {}
    for event in inside:
        fold(wanted.setdefault((event.key, view.bucket_of(event.micros)), {}), view.parts, event.values)
    assert whole.parts == wanted
    assert (whole.events, whole.outside) == (len(inside), len(events) - len(inside))
    assert whole.newest == {
        key: max(e.micros for e in inside if e.key == key) for key in {e.key for e in inside}
    }
