"""Pure parts of the migration: the key index, Feast's items read back, the dry run's arithmetic."""

from __future__ import annotations

import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet
import pytest
from feast import Entity, FeatureView, Field, FileSource
from feast.infra.online_stores.dynamodb import _to_client_write_item
from feast.infra.online_stores.helpers import compute_entity_id
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.types import Array, Float64, Int64, String
from feast.utils import _convert_arrow_to_proto
from feast.value_type import ValueType
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.items.codec import item_size
from feast_chalk_dynamo.items.names import feature_name, namespace_name
from feast_chalk_dynamo.migrate.feast_items import NotAFeastItem, feast_row
from feast_chalk_dynamo.migrate.keys import KeyIndex, keys_of_table, read_entities_file
from feast_chalk_dynamo.migrate.sizing import Sizes
from feast_chalk_dynamo.planning import capacity
from feast_chalk_dynamo.planning.item_sizes import Ids, RowSizer, view_layout
from feast_chalk_dynamo.sources import join_keys

USER = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
SHOP = Entity(name="shop", join_keys=["shop_id"], value_type=ValueType.INT64)
VIEW = FeatureView(
    name="orders",
    entities=[USER, SHOP],
    schema=[
        Field(name="user_id", dtype=String),
        Field(name="shop_id", dtype=Int64),
        Field(name="total", dtype=Float64),
        Field(name="items", dtype=Array(String)),
    ],
    source=FileSource(path="/nonexistent/orders.parquet", timestamp_field="ts"),
)
CONFIG = RepoConfig(
    project="p",
    provider="local",
    registry="/nonexistent/registry.db",
    online_store={"type": "dynamodb", "region": "us-east-1"},
    entity_key_serialization_version=3,
)

user_ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
shop_ids = st.integers(-(2**63), 2**63 - 1)


def entity_key(user: str, shop: int) -> EntityKeyProto:
    return EntityKeyProto(
        join_keys=["user_id", "shop_id"],
        entity_values=[ValueProto(string_val=user), ValueProto(int64_val=shop)],
    )


@given(st.lists(st.tuples(user_ids, shop_ids), max_size=30), st.tuples(user_ids, shop_ids))
def test_every_indexed_key_resolves_from_feast_s_hash_and_nothing_else_does(
    pairs: list[tuple[str, int]], stranger: tuple[str, int]
) -> None:
    index = KeyIndex(3)
    keys = [entity_key(*pair) for pair in pairs]
    index.add(keys)
    assert len(index) == len(set(pairs))
    for key in keys:
        assert index.resolve(compute_entity_id(key, entity_key_serialization_version=3)) == key
    if stranger not in pairs:
        hashed = compute_entity_id(entity_key(*stranger), entity_key_serialization_version=3)
        assert hashed not in index and index.resolve(hashed) is None


@given(st.lists(st.tuples(user_ids, shop_ids), min_size=1, max_size=30))
def test_keys_from_columns_hash_as_materialization_s_rows_do(pairs: list[tuple[str, int]]) -> None:
    """The keys built from join-key columns are the ones Feast's materialization hashed into item ids."""
    table = pa.table(
        {
            "user_id": [user for user, _ in pairs],
            "shop_id": [shop for _, shop in pairs],
            "total": [1.5] * len(pairs),
            "items": [["a"]] * len(pairs),
            "ts": [datetime(2024, 1, 1, tzinfo=timezone.utc)] * len(pairs),
        }
    )
    materialized = _convert_arrow_to_proto(table, VIEW, join_keys(VIEW))
    index = KeyIndex(3)
    index.add(keys_of_table(table.select(["user_id", "shop_id"]), join_keys(VIEW)))
    for key, values, event_ts, _ in materialized:
        item = _to_client_write_item(CONFIG, key, values, event_ts)
        resolved = index.resolve(feast_row(item).entity_id)
        assert resolved is not None
        assert compute_entity_id(resolved) == item["entity_id"]["S"]


def test_entities_files_are_read_typed_as_the_entities_declare(tmp_path: Path) -> None:
    """A CSV's "007" stays the string "007" for a string key; parquet columns are taken as they are."""
    csv = tmp_path / "pushed.csv"
    csv.write_text("shop_id,user_id,extra\n1,007,x\n2,abc,y\n")
    parquet = tmp_path / "pushed.parquet"
    pyarrow.parquet.write_table(pa.table({"user_id": ["007", "abc"], "shop_id": [1, 2]}), parquet)
    for path in (csv, parquet):
        keys = list(keys_of_table(read_entities_file(path, join_keys(VIEW)), join_keys(VIEW)))
        assert sorted(compute_entity_id(k) for k in keys) == sorted(
            compute_entity_id(entity_key(u, s)) for u, s in (("007", 1), ("abc", 2))
        )


def test_the_key_index_costs_under_300_bytes_an_entity() -> None:
    """The memory the module's docstring and the README quote."""
    keys = [entity_key(f"user-{i:08d}", i) for i in range(50_000)]
    tracemalloc.start()
    try:
        index = KeyIndex(3)
        index.add(keys)
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(index) == len(keys)
    assert used / len(keys) < 300


moments = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([None, timezone.utc]),
)


@given(moments, st.lists(st.floats(allow_nan=False), max_size=3), st.booleans())
def test_feast_s_items_read_back_as_the_rows_it_wrote(
    moment: datetime, prices: list[float], null: bool
) -> None:
    values = {
        "total": ValueProto() if null else ValueProto(double_val=sum(prices)),
        "items": ValueProto(string_list_val={"val": [str(p) for p in prices]}),
    }
    item = _to_client_write_item(CONFIG, entity_key("u", 1), values, moment)
    row = feast_row(item)
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    assert row.event_ts == aware and row.event_ts.utcoffset() == timedelta(0)
    assert row.values == values
    assert row.entity_id == compute_entity_id(entity_key("u", 1))


@pytest.mark.parametrize(
    "item",
    [
        {"pk": {"S": "1/user_id=s:u"}, "sk": {"S": "#"}},
        {"entity_id": {"S": "ab"}, "event_ts": {"S": "yesterday"}, "values": {"M": {}}},
        {"entity_id": {"S": "ab"}, "event_ts": {"S": "2024-01-01 00:00:00+00:00"}, "values": {"S": "x"}},
    ],
)
def test_an_item_not_shaped_as_feast_s_is_refused(item: dict[str, Any]) -> None:
    with pytest.raises(NotAFeastItem, match="not an item of Feast's DynamoDB store"):
        feast_row(item)


def test_sizes_add_an_entity_s_views_onto_one_item_and_price_reads_and_writes() -> None:
    sizes = Sizes(n_views=3, consistent_reads=False)
    k = 40  # the entity item's key attributes

    def key_bytes() -> int:
        return k

    # Entity a: 2 of the 3 views; entity b: 1. Feast's items 500 B and 5,000 B.
    sizes.count_item("t1", 500)
    sizes.add_row("a", 500, key_bytes, 700)
    sizes.count_item("t2", 5_000)
    sizes.add_row("a", 5_000, key_bytes, 600)
    sizes.count_item("t1", 500)
    sizes.add_row("b", 500, key_bytes, 700)
    sizes.count_item("t2", 10)  # an unresolved item: in Feast's storage, in no entity
    estimate = sizes.estimate()
    assert (estimate.feast_items, estimate.feast_bytes) == (4, 6_010)
    assert (estimate.entities, estimate.our_items, estimate.our_bytes) == (2, 2, 2 * k + 2_000)
    # Feast reads 3 items an entity (an absent one still costs half a unit); this store one.
    assert estimate.read_units_before == ((0.5 + 1.0 + 0.5) + (0.5 + 0.5 + 0.5)) / 2
    assert estimate.read_units_after == (capacity.read_units(k + 1_300) + capacity.read_units(k + 700)) / 2
    assert estimate.write_units_before == ((1 + 5) + 1) / 2
    from_empty_a = capacity.write_units(k + 700) + capacity.write_units(k + 1_300)
    assert estimate.write_units_after_from_empty == (from_empty_a + capacity.write_units(k + 700)) / 2
    full = 2 * capacity.write_units(k + 1_300) + capacity.write_units(k + 700)
    assert estimate.write_units_after_full == full / 2


VALUES = {"total": ValueProto(double_val=12.5), "items": ValueProto(string_list_val={"val": ["ab", "c"]})}
AT = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_a_row_s_size_is_what_its_update_sets_with_the_ids_apply_allocated() -> None:
    allocated = {
        namespace_name("p", "orders"): "7",
        feature_name("p", "orders", "total", "DOUBLE"): "a",
        feature_name("p", "orders", "items", "STRING_LIST"): "b",
    }
    sizer = RowSizer("1", view_layout("p", "orders", VIEW, Ids(allocated.get)))
    expected = {"_t7": {"N": "1704067200000000"}, "a": {"N": "12.5"}, "b": {"L": [{"S": "ab"}, {"S": "c"}]}}
    assert sizer(entity_key("u", 1), VALUES, AT) == item_size(expected)
    assert sizer.key_bytes(entity_key("u", 1)) == item_size(
        {"pk": {"S": "1/shop_id=i:1|user_id=s:u"}, "sk": {"S": "#"}}
    )


def test_ids_not_allocated_are_made_up_distinct_and_3_characters_long() -> None:
    ids = Ids(lambda name: None)
    made_up = [ids(f"name {i}") for i in range(1_000)]
    assert len(set(made_up)) == len(made_up) and {len(i) for i in made_up} == {3}
    size = RowSizer("10", view_layout("p", "orders", VIEW, ids))(entity_key("u", 1), VALUES, AT)
    expected = {
        "_tabc": {"N": "1704067200000000"},
        "abc": {"N": "12.5"},
        "abd": {"L": [{"S": "ab"}, {"S": "c"}]},
    }
    assert size == item_size(expected)
