"""Entity items sized from feature types (``planning.estimates``) and stored items (``planning.samples``).

Sizes by DynamoDB's rules, worked by hand: an attribute is its name's UTF-8
bytes plus its value's; S its UTF-8 bytes; N 1 byte plus 1 per pair of
significant digits (pairs aligned on the exponent); L 3 bytes plus, per
element, 1 + its size. The event time 2025-06-01T12:34:56.789012Z is
1,748,781,296,789,012 µs: 16 significant digits, exponent 15, so pairs
from 10^15 down to 10^0: 8 pairs, 9 bytes.
"""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Array, Int64, String

from feast_chalk_dynamo.items.names import feature_name, namespace_name, project_name
from feast_chalk_dynamo.planning.estimates import Assumptions, estimate_items
from feast_chalk_dynamo.planning.item_sizes import Ids
from feast_chalk_dynamo.planning.samples import measure

DRIVER = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
EVENT_MICROS = "1748781296789012"

# The ids feast apply would have allocated in a fresh table.
ALLOCATED = {
    project_name("p"): "1",
    namespace_name("p", "stats"): "2",
    feature_name("p", "stats", "n", "INT64"): "3",
    feature_name("p", "stats", "s", "STRING"): "4",
    namespace_name("p", "trips"): "6",
    feature_name("p", "trips", "ids", "INT64_LIST"): "5",
}


def view(name: str, *features: Field, ttl: timedelta | None = None) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[DRIVER],
        schema=[Field(name="driver_id", dtype=Int64), *features],
        source=FileSource(path=f"/nonexistent/{name}.parquet", timestamp_field="ts"),
        ttl=ttl,
    )


STATS = view("stats", Field(name="n", dtype=Int64), Field(name="s", dtype=String), ttl=timedelta(days=1))
TRIPS = view("trips", Field(name="ids", dtype=Array(Int64)), ttl=timedelta(days=2))


def test_a_views_row_and_the_items_key_sized_by_hand() -> None:
    """Join key 100000 (an integer of 6 digits), a string of 16 bytes.

    * key: pk '1/driver_id=i:100000' is 20 bytes + 'pk' 2 = 22; sk '#' 1 + 'sk' 2 = 3: 25 B;
    * row: '_t2' 3 + the event time 9 = 12; '3' 1 + N 100000 (1 significant digit: 1 + 1) 2 = 3;
      '4' 1 + 16 = 17: 32 B. The item: 57 B.
    """
    (shape,) = estimate_items("p", [STATS], False, Ids(ALLOCATED.get), Assumptions(string_bytes=16), False)
    assert shape.join_keys == ("driver_id",)
    assert shape.key_bytes == 25
    (row,) = shape.views
    assert (row.namespace, row.estimated_bytes, row.ts_attr) == ("stats", 32, "_t2")
    assert row.attributes == {"_t2", "_v2", "3", "4"}
    assert shape.other_bytes == 0


def test_lists_take_list_items_elements_and_expiry_adds_its_attribute() -> None:
    """A list of 3 integers 100000, 100001, 100002: N 100000 is 2 B; 100001 has 6 significant
    digits, exponent 5: pairs 10^5..10^0, 3 pairs, 4 B; so is 100002. L: 3 + (1 + 2) + (1 + 4) +
    (1 + 4) = 16, under '5': 17; with '_t6' and the time 12: 29 B. With Chalk-style expiry and a
    ttl on every view the item also holds '_x' 2 + N 1748781296 (10 digits: 5 pairs, 6 B) = 8 B."""
    shapes = estimate_items("p", [STATS, TRIPS], False, Ids(ALLOCATED.get), Assumptions(list_items=3), True)
    (shape,) = shapes
    assert [(row.namespace, row.estimated_bytes) for row in shape.views] == [("stats", 32), ("trips", 29)]
    assert shape.other_bytes == 8


def test_ids_not_allocated_count_three_characters() -> None:
    """Made-up ids from '100' on: project '100' makes the pk 2 bytes longer (27 B of key); features
    '101', '102' and namespace '103': '_t103' 5 + 9, '101' 3 + 2, '102' 3 + 16 = 38 B."""
    (shape,) = estimate_items("p", [STATS], False, Ids(lambda name: None), Assumptions(), False)
    assert shape.key_bytes == 27
    assert shape.views[0].estimated_bytes == 38


def stored(driver: int, **attributes: dict[str, str]) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"1/driver_id=i:{driver}"}, "sk": {"S": "#"}, **attributes}


def test_measured_rows_key_and_other_attributes() -> None:
    """Two stored items of 'stats' (no 'trips' row on either):

    * driver 7: key 'pk' 2 + '1/driver_id=i:7' 15 = 17, 'sk' 3: 20; row '_t2' 12, '3' N 5
      (1 + 1) 3, '4' S 'abc' 4: 19; 39 B;
    * driver 8: key 20; row '_t2' 12, '3' 3 (its string null: absent): 15; 'zz' N 1 is no view's:
      2 + 2 = 4 other; 39 B.

    Means: row (19 + 15) / 2 = 17, key 20, other 2: the item 39 B. 'trips' was not measured, so
    its estimate stands (29 B with 3-element lists), and the item comes to 68 B. An item keyed
    otherwise (city and driver_id) belongs to no kind of item here and is left out.
    """
    (shape,) = estimate_items(
        "p", [STATS, TRIPS], False, Ids(ALLOCATED.get), Assumptions(list_items=3), False
    )
    items = [
        stored(7, _t2={"N": EVENT_MICROS}, **{"3": {"N": "5"}, "4": {"S": "abc"}}),
        stored(8, _t2={"N": EVENT_MICROS}, zz={"N": "1"}, **{"3": {"N": "5"}}),
        {"pk": {"S": "1/city=s:x|driver_id=i:9"}, "sk": {"S": "#"}, "_t2": {"N": EVENT_MICROS}},
    ]
    (sampled,) = measure([shape], items)
    assert sampled.sampled_sizes == [39, 39]
    stats, trips = sampled.item.views
    assert (stats.measured_bytes, stats.measured_items, stats.bytes) == (17, 2, 17)
    assert (trips.measured_bytes, trips.measured_items, trips.bytes) == (None, 0, 29)
    assert (sampled.item.key_bytes, sampled.item.other_bytes) == (20, 2)
    assert sampled.item.size == 20 + 2 + 17 + 29


def test_no_sample_keeps_every_estimate() -> None:
    (shape,) = estimate_items("p", [STATS], False, Ids(ALLOCATED.get), Assumptions(), True)
    (sampled,) = measure([shape], [])
    assert sampled.sampled_sizes == []
    assert sampled.item.size == 25 + 32 + 8
