"""A row's UpdateItem (no server): its size bound, its shape, and rows too wide to SET one by one."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.items.codec import encode_value, item_size
from feast_chalk_dynamo.items.layout import ENTITY_SK, PK, SK
from feast_chalk_dynamo.items.slots import FeatureSlot, datetime_to_micros
from feast_chalk_dynamo.writes.rows import GUARD, EntityRow, RowEncoder, WriteLayout
from tests.unit.test_codec import ROUND_TRIP_FIELDS, VALUE_STRATEGIES

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def layout(fields: list[str]) -> WriteLayout:
    slots = {field: FeatureSlot(field, f"a{i}", field) for i, field in enumerate(fields)}
    return WriteLayout("v", "_t1", "_v1", slots, None)


def exact_size(row: EntityRow, fields: list[str]) -> int:
    """The row's attributes measured by DynamoDB's rules."""
    attrs: dict[str, Any] = {
        PK: {"S": row.key},
        SK: {"S": ENTITY_SK},
        "_t1": {"N": str(datetime_to_micros(row.event_ts))},
    }
    for i, field in enumerate(fields):
        attrs[f"a{i}"] = encode_value(row.values[field], field)
    return item_size(attrs)


# Keys as any join key value makes them: non-ASCII text counts in bytes, not characters.
WIDE_CHARACTERS = st.characters(min_codepoint=0x800, max_codepoint=0xFFFF, blacklist_categories=("Cs",))
KEYS = (st.text(max_size=50) | st.text(WIDE_CHARACTERS, min_size=100, max_size=600)).map(
    lambda s: f"1/city=s:{s}"
)


@given(
    KEYS,
    st.lists(st.sampled_from(ROUND_TRIP_FIELDS), min_size=1, max_size=8, unique=True).flatmap(
        lambda fields: st.tuples(st.just(fields), st.tuples(*(VALUE_STRATEGIES[f] for f in fields)))
    ),
)
def test_the_size_never_understates_the_row(key: str, case: tuple[list[str], tuple[ValueProto, ...]]) -> None:
    """Transactions are cut by this size and the 400 KB check relies on it: an upper bound, always."""
    fields, values = case
    row = EntityRow(key, dict(zip(fields, values, strict=True)), NOW)
    update = RowEncoder(layout(fields), "t", guarded=True, now=0)(row)
    assert update.size >= exact_size(row, fields)


def test_rows_of_a_batch_share_one_expression_and_carry_the_guard() -> None:
    encode = RowEncoder(layout(["double_val", "string_val"]), "t", guarded=True, now=0)
    rows = [
        EntityRow(
            f"1/k=i:{i}",
            {"double_val": ValueProto(double_val=i + 0.5), "string_val": ValueProto(string_val="x")},
            NOW,
        )
        for i in range(3)
    ]
    first, second, _ = (encode(row).request for row in rows)
    assert first["UpdateExpression"] is second["UpdateExpression"]
    assert first["ExpressionAttributeValues"] != second["ExpressionAttributeValues"]
    assert first["ConditionExpression"] == GUARD
    assert (
        "ConditionExpression"
        not in RowEncoder(layout(["double_val"]), "t", guarded=False, now=0)(rows[0]).request
    )


def assigned_and_removed(request: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What an update SETs (attribute -> value) and REMOVEs, read back from its expression."""
    names, values = request["ExpressionAttributeNames"], request["ExpressionAttributeValues"]
    assigned_part, _, removed_part = request["UpdateExpression"].removeprefix("SET ").partition(" REMOVE ")
    assigned = {}
    for assignment in assigned_part.split(", "):
        name, value = assignment.split(" = ")
        assigned[names[name]] = values[value]
    return assigned, [names[name] for name in removed_part.split(", ") if name]


def test_a_null_is_set_as_NULL_and_a_feature_the_row_lacks_is_removed() -> None:
    """A written null is stored (Feast answers it PRESENT); a feature the row does not have goes, as
    Feast's DynamoDB store's whole-item put and this store's map form drop it (NOT_FOUND), rather than
    keep an older value under the new row's time."""
    fields = ["double_val", "string_val", "int64_list_val"]
    encode = RowEncoder(layout(fields), "t", guarded=True, now=0)
    values = {"double_val": ValueProto(), "string_val": ValueProto(string_val="x")}
    assigned, removed = assigned_and_removed(encode(EntityRow("1/k=i:1", values, NOW)).request)
    assert assigned["a0"] == {"NULL": True} and assigned["a1"] == {"S": "x"}
    assert "a2" not in assigned and removed[0] == "a2" and "a0" not in removed
    assert removed[1:] == ["_v1", "_x"]


def test_a_row_too_wide_to_set_one_by_one_keeps_its_nulls_in_the_map() -> None:
    fields = [f"f{i}" for i in range(200)]
    slots = {name: FeatureSlot(name, f"a{i}", "double_val") for i, name in enumerate(fields)}
    encode = RowEncoder(WriteLayout("v", "_t1", "_v1", slots, None), "t", guarded=True, now=0)
    values = {name: ValueProto(double_val=1.0) for name in fields[:150]}
    values["f3"] = ValueProto()
    assigned, _ = assigned_and_removed(encode(EntityRow("1/k=i:1", values, NOW)).request)
    packed = assigned["_v1"]["M"]
    assert packed["a3"] == {"NULL": True} and len(packed) == 150  # the 50 the row lacks are not there
