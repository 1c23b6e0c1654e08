"""Bucket pages (``aggregates.pages``): what DynamoDB is sent is within its limits, what a page holds
is within the size the 400 KB check assumes, and a page decodes to the buckets written to it.

Requests are held to ``tests/dynamodb_limits.py``, the checker the strict
proxy of the integration tests applies.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from feast_chalk_dynamo.aggregates.pages import (
    VERSION_ATTR,
    PageLayout,
    encode_part,
    update_request,
)
from feast_chalk_dynamo.aggregates.partials import SKETCH_MAX_BYTES, new_sketch
from feast_chalk_dynamo.aggregates.spec import Part, max_page_bytes
from feast_chalk_dynamo.aggregates.writer import ATTRIBUTES_PER_UPDATE
from feast_chalk_dynamo.items.layout import EXPIRY_ATTR, MAX_PARTITION_KEY_BYTES, short_id
from feast_chalk_dynamo.windowed import spec_of
from tests.dynamodb_limits import item_size, violation
from tests.unit.test_aggregate_spec import view
from tests.windowed_objects import SALES_AGGREGATIONS

SPEC = spec_of(view(SALES_AGGREGATIONS, hop=timedelta(minutes=10)))
# Part ids as a mapping hands them out late in a busy table's life: 6 base-36 digits.
LAYOUT = PageLayout(SPEC, short_id(36**5), {part: short_id(36**5 + i) for i, part in enumerate(SPEC.parts)})
LONGEST_KEY = "k" * MAX_PARTITION_KEY_BYTES


def full_sketch() -> Any:
    sketch = new_sketch()
    for value in range(300_000):
        sketch.update(value)
    return sketch


FULL_SKETCH = full_sketch()
# The widest number text a part may hold: 17 significant digits and an exponent.
WIDEST_NUMBER = -1.2345678901234567e-100


def largest_value(part: Part) -> Any:
    return FULL_SKETCH if part.kind == "d" else WIDEST_NUMBER


def wire(request: dict[str, Any]) -> dict[str, Any]:
    """The request as DynamoDB's JSON carries it (binary values as base64 text)."""

    def encode(value: Any) -> Any:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        raise TypeError(value)

    loaded: dict[str, Any] = json.loads(json.dumps(request, default=encode))
    return loaded


def test_a_full_page_is_no_larger_than_the_size_the_item_limit_check_assumes() -> None:
    """Every part of every bucket at its largest, the longest partition key: within ``max_page_bytes``."""
    page = 10**9  # a page index as wide as any of this century's
    item = {
        **LAYOUT.key(LONGEST_KEY, page),
        VERSION_ATTR: {"N": str(10**12)},
        EXPIRY_ATTR: {"N": str(10**10)},
    }
    for bucket in range(page * SPEC.page_buckets, (page + 1) * SPEC.page_buckets):
        for part in SPEC.parts:
            item[LAYOUT.attribute(part, bucket)] = encode_part(part, largest_value(part))
    assert item_size(wire(item)) <= max_page_bytes(SPEC, SKETCH_MAX_BYTES)


@settings(max_examples=50, deadline=None)
@given(
    adds=st.integers(0, ATTRIBUTES_PER_UPDATE),
    sets=st.integers(0, ATTRIBUTES_PER_UPDATE),
    version=st.one_of(st.none(), st.integers(0, 10**9)),
    page=st.integers(0, 10**9),
)
def test_an_update_of_a_page_is_one_dynamodb_accepts(
    adds: int, sets: int, version: int | None, page: int
) -> None:
    """Up to one chunk of the writer's (``ATTRIBUTES_PER_UPDATE``) additions and merged values (sketches
    at their largest), conditioned on the page's version or not: within every limit the checker knows."""
    first = page * SPEC.page_buckets
    changes = [(part, bucket) for bucket in range(first, first + SPEC.page_buckets) for part in SPEC.parts]
    additive = [(p, b) for p, b in changes if p.kind in ("n", "s", "q")] * ATTRIBUTES_PER_UPDATE
    merged = [(p, b) for p, b in changes if p.kind not in ("n", "s", "q")] * ATTRIBUTES_PER_UPDATE
    added = {LAYOUT.attribute(p, b): WIDEST_NUMBER for p, b in dict.fromkeys(additive[:adds])}
    merged_values = {
        LAYOUT.attribute(p, b): encode_part(p, largest_value(p)) for p, b in dict.fromkeys(merged[:sets])
    }
    request = update_request(
        "feast-online-store",
        LAYOUT.key(LONGEST_KEY, page),
        added,
        merged_values,
        LAYOUT.expiry(page),
        version,
    )
    assert violation("UpdateItem", wire(request)) is None


@given(page=st.integers(0, 10**8), bucket_in_page=st.integers(0, SPEC.page_buckets - 1))
def test_a_page_expires_only_after_its_last_bucket_left_the_longest_window(
    page: int, bucket_in_page: int
) -> None:
    bucket = page * SPEC.page_buckets + bucket_in_page
    last_read_ms = (bucket + SPEC.longest_buckets) * SPEC.hop_ms  # the first moment no window holds it
    assert LAYOUT.expiry(page) * 1000 >= last_read_ms


def test_a_page_decodes_to_its_buckets_ignoring_other_attributes() -> None:
    page = 7
    first = page * SPEC.page_buckets
    count, total, sketch = Part("amount", "n"), Part("amount", "s"), Part("rider", "d")
    item = {
        **LAYOUT.key("driver", page),
        VERSION_ATTR: {"N": "3"},
        EXPIRY_ATTR: {"N": "99"},
        LAYOUT.attribute(count, first + 2): {"N": "4"},
        LAYOUT.attribute(sketch, first + 2): encode_part(sketch, FULL_SKETCH),
        LAYOUT.attribute(total, first): {"N": "1.5"},
        "zz.3": {"N": "1"},  # a part the view no longer has
    }
    buckets = LAYOUT.decode(item, page)
    assert sorted(buckets) == [first, first + 2]
    assert buckets[first] == {total: 1.5}
    assert buckets[first + 2][count] == 4
    assert round(buckets[first + 2][sketch].get_estimate()) == round(FULL_SKETCH.get_estimate())
