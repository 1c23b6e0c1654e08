"""A bucket's parts (``aggregates.partials``): folded from events, merged over a window, finished, vs pandas.

Events fall into buckets, each bucket is folded, the buckets are merged in
any order (as a read merges the pages of a window): every function then
agrees with the oracle (``tests.windowed_oracle``) over the same raw values.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from datasketches import hll_sketch
from hypothesis import given, settings
from hypothesis import strategies as st

from feast_chalk_dynamo.aggregates.pages import decode_part, encode_part
from feast_chalk_dynamo.aggregates.partials import (
    SKETCH_LG_K,
    SKETCH_MAX_BYTES,
    SKETCH_TYPE,
    Parts,
    finish,
    fold,
    merge,
    new_sketch,
    sketch_bytes,
)
from feast_chalk_dynamo.aggregates.spec import Output
from tests.windowed_oracle import DISTINCT_3_SIGMA, EXACT_DISTINCT, FUNCTIONS, aggregate, agrees

# Each spelling of each function over amount (its canonical name is what the store computes), and the
# counts over rider.
OUTPUTS = [
    Output(name, canonical, "amount", 1) for name, canonical in FUNCTIONS.items() if name != "count_distinct"
]
OUTPUTS += [
    Output("count_distinct", "count_distinct", "rider", 1),
    Output("count_rider", "count", "rider", 1),
]
PARTS = tuple(dict.fromkeys(part for output in OUTPUTS for part in output.parts))

AMOUNTS = st.one_of(
    st.none(),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.integers(-(10**6), 10**6).map(lambda n: n / 4),  # dyadic: sums exact
    st.floats(-1e9, 1e9, allow_nan=False),
    st.integers(-(10**9), 10**9),  # an Int64 column's values
)
RIDERS = st.one_of(st.none(), st.text("abcdefgh", min_size=1, max_size=3))
EVENTS = st.lists(st.tuples(st.integers(0, 5), AMOUNTS, RIDERS), max_size=40)


def finished(buckets: dict[int, Parts], order: list[int]) -> dict[str, Any]:
    """Each output from the buckets merged in ``order``, parts round-tripped as a page stores them."""
    window: Parts = {}
    for bucket in order:
        stored = {
            part: decode_part(part, encode_part(part, value)) for part, value in buckets[bucket].items()
        }
        merge(window, stored)
    return {output.name: finish(output, window) for output in OUTPUTS}


@settings(max_examples=300)
@given(events=EVENTS, data=st.data())
def test_folded_merged_and_finished_buckets_agree_with_pandas(
    events: list[tuple[int, Any, Any]], data: Any
) -> None:
    buckets: dict[int, Parts] = {}
    for bucket, amount, rider in events:
        fold(buckets.setdefault(bucket, {}), PARTS, {"amount": amount, "rider": rider})
    order = data.draw(st.permutations(sorted(buckets)))
    got = finished(buckets, order)
    frame = pd.DataFrame({"amount": pd.Series([e[1] for e in events], dtype=object),
                          "rider": pd.Series([e[2] for e in events], dtype=object)})  # fmt: skip
    for output in OUTPUTS:
        values = frame[output.column]
        want = aggregate(output.function, values)
        assert agrees(output.function, got[output.name], want, values), (output.name, got[output.name], want)


def test_an_empty_window_reads_zero_for_sums_and_counts_and_null_for_the_others() -> None:
    got = finished({}, [])
    assert {name: got[name] for name in ("sum", "count", "count_distinct")} == dict.fromkeys(
        ("sum", "count", "count_distinct"), 0
    )
    assert all(got[name] is None for name in ("min", "max", "mean", "avg", "std", "var", "variance"))


def test_one_value_has_a_mean_but_no_sample_deviation() -> None:
    buckets: dict[int, Parts] = {0: {}}
    fold(buckets[0], PARTS, {"amount": 3.5, "rider": "a"})
    got = finished(buckets, [0])
    assert got["mean"] == got["min"] == got["max"] == 3.5
    assert got["std"] is None and got["var"] is None


@settings(max_examples=20, deadline=None)
@given(distinct=st.integers(1, 5000), buckets=st.integers(1, 8), seed=st.integers(0, 2**32))
def test_count_distinct_is_exact_in_the_sketchs_exact_range_and_within_3_sigma_past_it(
    distinct: int, buckets: int, seed: int
) -> None:
    """Riders spread over buckets (some in several): the merged estimate is the oracle's rule."""
    parts: dict[int, Parts] = {b: {} for b in range(buckets)}
    for rider in range(distinct):
        for bucket in {(rider * 7 + seed) % buckets, (rider + seed) % buckets}:
            fold(parts[bucket], PARTS, {"rider": f"rider-{seed}-{rider}"})
    got = finished(parts, list(range(buckets)))["count_distinct"]
    assert agrees("count_distinct", got, distinct, pd.Series(dtype=object))
    if distinct <= EXACT_DISTINCT:
        assert got == distinct


def test_the_sketchs_documented_error() -> None:
    """What the oracle holds count_distinct to."""
    assert SKETCH_LG_K == 11 and EXACT_DISTINCT == 192
    assert 0.06 < DISTINCT_3_SIGMA < 0.075  # 3 x 1.04 / sqrt(2**11), widened for unions


def test_the_item_limit_check_assumes_a_sketch_as_large_as_the_library_says_it_can_grow() -> None:
    """DataSketches bounds a sketch's serialized size (``get_max_updatable_serialization_bytes``: 1,128
    bytes at lg_k 11, HLL_4; the compact form is smaller). The 400 KB check assumed 1,100, a size
    measured on one stream, so a page it accepted could outgrow it."""
    documented = hll_sketch.get_max_updatable_serialization_bytes(SKETCH_LG_K, SKETCH_TYPE)
    assert documented <= SKETCH_MAX_BYTES
    sketch = new_sketch()
    for value in range(300_000):
        sketch.update(value)
    assert len(sketch_bytes(sketch)) <= SKETCH_MAX_BYTES
