"""The simulated DynamoDB's write semantics (``benchmarks.simulated_dynamodb.writes``), without HTTP.

The write benchmark's write units are only as good as this model's billing: an update charged on
the larger of the item's size before and after, per started KB, twice in a transaction. Sizes are
checked against ``tests.dynamodb_limits.item_size``, an independent implementation of AWS's rules.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.simulated_dynamodb.errors import Rejected
from benchmarks.simulated_dynamodb.writes import WriteModel, capacity_answer
from tests.dynamodb_limits import item_size

TABLE = "t"


def _model() -> WriteModel:
    model = WriteModel()
    model.observe(
        "CreateTable",
        b"{}",
        orjson.dumps(
            {
                "TableDescription": {
                    "TableName": TABLE,
                    "KeySchema": [
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                        {"AttributeName": "pk", "KeyType": "HASH"},
                    ],
                }
            }
        ),
    )
    return model


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "#"}}


def _units(size: int) -> int:
    return max(1, -(-size // 1024))


# (kind, key, attribute, value length): "set" a string, "keep" (if_not_exists), "remove".
_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["set", "keep", "remove"]),
        st.sampled_from(["e1", "e2"]),
        st.sampled_from(["a", "bb", "ccc"]),
        st.integers(0, 2500),
    ),
    max_size=12,
)


@given(_STEPS)
def test_updates_are_billed_on_the_larger_size_as_dynamodb_counts_it(
    steps: list[tuple[str, str, str, int]],
) -> None:
    model = _model()
    items: dict[str, dict[str, Any]] = {}
    expected_units = 0
    for kind, pk, name, length in steps:
        value = {"S": "x" * length}
        expression = {"set": "SET #n = :v", "keep": "SET #n = if_not_exists(#n, :v)", "remove": "REMOVE #n"}[
            kind
        ]
        request: dict[str, Any] = {
            "TableName": TABLE,
            "Key": _key(pk),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {"#n": name},
        }
        if kind != "remove":
            request["ExpressionAttributeValues"] = {":v": value}
        old = items.get(pk)
        new = dict(old if old is not None else _key(pk))
        if kind == "remove":
            new.pop(name, None)
        elif kind == "set" or name not in new:
            new[name] = value
        expected_units += _units(max(item_size(old) if old is not None else 0, item_size(new)))
        items[pk] = new

        assert model.write("UpdateItem", request) is None  # no capacity asked for

    assert model.counters() == {
        "actions": len(steps),
        "items": len(items),
        "write_units": expected_units,
        "bytes_stored": sum(map(item_size, items.values())),
    }


def test_a_transaction_costs_twice_and_answers_its_capacity_by_table() -> None:
    model = _model()
    update = {
        "TableName": TABLE,
        "UpdateExpression": "SET v = :v",
        "ExpressionAttributeValues": {":v": {"N": "1"}},
    }
    payload = {
        "TransactItems": [
            {"Update": {**update, "Key": _key("t1")}},
            {"Put": {"TableName": TABLE, "Item": {**_key("t2"), "v": {"S": "x" * 1500}}}},
            {"ConditionCheck": {"TableName": TABLE, "Key": _key("t3"), "ConditionExpression": "x"}},
        ],
        "ReturnConsumedCapacity": "TOTAL",
    }

    capacity = model.write("TransactWriteItems", payload)

    assert capacity == {TABLE: 2 * 1 + 2 * 2 + 2 * 1}
    assert model.counters()["actions"] == 2  # a condition check writes nothing
    assert capacity_answer("TransactWriteItems", capacity)["ConsumedCapacity"] == [
        {"TableName": TABLE, "CapacityUnits": 8.0, "WriteCapacityUnits": 8.0}
    ]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (
            {"TableName": TABLE, "Key": _key("e1"), "UpdateExpression": "SET a.b = :v"},
            "SimulatorUnsupportedException",
        ),
        (
            {"TableName": TABLE, "Key": _key("e1"), "UpdateExpression": "SET a = :missing"},
            "ValidationException",
        ),
        (
            {"TableName": TABLE, "Key": {"pk": {"S": "e1"}}, "UpdateExpression": "REMOVE a"},
            "ValidationException",
        ),
        ({"TableName": TABLE, "UpdateExpression": "REMOVE a"}, "ValidationException"),
    ],
)
def test_a_write_it_cannot_model_is_rejected_with_nothing_applied(payload: dict[str, Any], code: str) -> None:
    model = _model()

    with pytest.raises(Rejected) as rejected:
        model.write("UpdateItem", payload)

    assert rejected.value.code == code
    assert model.counters() == {"actions": 0, "items": 0, "write_units": 0, "bytes_stored": 0}


def test_a_deleted_table_takes_its_items_with_it() -> None:
    model = _model()
    item = {**_key("e1"), "v": {"S": "x"}}
    model.write("BatchWriteItem", {"RequestItems": {TABLE: [{"PutRequest": {"Item": item}}]}})

    model.observe("DeleteTable", orjson.dumps({"TableName": TABLE}), b"{}")

    assert model.counters() == {"actions": 1, "items": 0, "write_units": 1, "bytes_stored": 0}
    assert model.missing_schemas([TABLE]) == [TABLE]
