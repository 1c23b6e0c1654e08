"""The simulated DynamoDB's reads (``benchmarks.simulated_dynamodb.reads``) and latency, without HTTP.

What the answers hold is checked against real backends in ``tests/integration/test_simulated_reads``;
here, what those cannot show: keys left unprocessed on demand, read units by DynamoDB's rules, the
requests DynamoDB refuses, and the latency distribution's percentiles.
"""

from __future__ import annotations

import random
import statistics
from typing import Any

import orjson
import pytest

from benchmarks.simulated_dynamodb import server
from benchmarks.simulated_dynamodb.errors import Rejected
from benchmarks.simulated_dynamodb.latency import DEFAULT_READ_LATENCY, Latency
from benchmarks.simulated_dynamodb.reads import ReadModel, TableCopy
from tests.dynamodb_limits import item_size

TABLE = "t"
DESCRIPTION = {
    "TableName": TABLE,
    "KeySchema": [{"AttributeName": "sk", "KeyType": "RANGE"}, {"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
}


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "#"}}


def _item(pk: str, padding: int = 0) -> dict[str, Any]:
    return {**_key(pk), "v": {"S": "x" * padding}, "m": {"M": {"a": {"N": "1"}, "b": {"L": [{"S": "p"}]}}}}


def _model(*items: dict[str, Any]) -> ReadModel:
    model = ReadModel()
    model.hold(TableCopy.of(DESCRIPTION, [*items, {"pk": {"S": "~meta"}, "sk": {"S": "ns/x"}}]))
    return model


def _batch(model: ReadModel, keys: list[dict[str, Any]], **request: Any) -> dict[str, Any]:
    payload = {"RequestItems": {TABLE: {"Keys": keys, **request}}, "ReturnConsumedCapacity": "TOTAL"}
    assert model.answers("BatchGetItem", payload)
    answer: dict[str, Any] = orjson.loads(model.read("BatchGetItem", payload))
    return answer


def _rejected(model: ReadModel, keys: list[dict[str, Any]], **request: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        _batch(model, keys, **request)
    return caught.value


def test_leaves_the_last_half_of_the_keys_unprocessed_for_the_answers_asked() -> None:
    model = _model(*(_item(f"e{i}") for i in range(5)))
    model.leave_unprocessed(2)
    keys = [_key(f"e{i}") for i in range(5)]
    request = {"ProjectionExpression": "#v", "ExpressionAttributeNames": {"#v": "v"}, "ConsistentRead": True}

    single = _batch(model, keys[:1], **request)  # one key: nothing to leave, and it does not count
    first = _batch(model, keys, **request)
    second = _batch(model, keys[3:], **request)
    third = _batch(model, keys[3:], **request)

    assert single["UnprocessedKeys"] == {} and len(single["Responses"][TABLE]) == 1
    assert len(first["Responses"][TABLE]) == 3
    assert first["UnprocessedKeys"] == {TABLE: {"Keys": keys[3:], **request}}  # resendable as it is
    assert second["UnprocessedKeys"] == {TABLE: {"Keys": keys[4:], **request}}
    assert third["UnprocessedKeys"] == {} and len(third["Responses"][TABLE]) == 2
    assert model.counters()["unprocessed_keys"] == 3


def test_read_units_by_item_size_halved_when_eventually_consistent() -> None:
    # 4,097 bytes is two units; a missing item costs one, as DynamoDB charges a GetItem that finds nothing.
    big = _item("big", padding=4097 - item_size(_item("big")))
    assert item_size(big) == 4097
    model = _model(big, _item("small"))
    keys = [_key("big"), _key("small"), _key("absent")]

    strong = _batch(model, keys, ConsistentRead=True)["ConsumedCapacity"]
    eventual = _batch(model, keys)["ConsumedCapacity"]
    get = orjson.loads(
        model.read("GetItem", {"TableName": TABLE, "Key": _key("big"), "ReturnConsumedCapacity": "INDEXES"})
    )

    assert [entry["CapacityUnits"] for entry in strong + eventual] == [4.0, 2.0]
    assert get["ConsumedCapacity"] == {
        "TableName": TABLE,
        "CapacityUnits": 1.0,
        "ReadCapacityUnits": 1.0,
        "Table": {"CapacityUnits": 1.0, "ReadCapacityUnits": 1.0},
    }
    assert model.counters()["read_units"] == 7.0


def test_the_meta_partition_is_not_copied_and_its_reads_are_not_answered_here() -> None:
    model = _model(_item("e1"))
    meta_key = {"pk": {"S": "~meta"}, "sk": {"S": "ns/x"}}

    assert model.counters()["snapshot_items"] == 1
    assert not model.answers("GetItem", {"TableName": TABLE, "Key": meta_key})
    assert not model.answers("BatchGetItem", {"RequestItems": {TABLE: {"Keys": [_key("e1"), meta_key]}}})
    assert not model.answers("GetItem", {"TableName": "other", "Key": _key("e1")})


@pytest.mark.parametrize(
    ("keys", "request_fields", "message"),
    [
        ([_key(f"e{i}") for i in range(101)], {}, "Too many items requested"),
        ([_key("e1"), _key("e1")], {}, "contains duplicates"),
        ([{"pk": {"S": "e1"}}], {}, "does not match the schema"),
        ([{"pk": {"N": "1"}, "sk": {"S": "#"}}], {}, "does not match the schema"),
        ([{**_key("e1"), "x": {"S": "1"}}], {}, "does not match the schema"),
        ([{"pk": {"S": ""}, "sk": {"S": "#"}}], {}, "empty string"),
        ([_key("e1")], {"ProjectionExpression": "#a"}, "not defined; attribute name: #a"),
        (
            [_key("e1")],
            {"ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": "a", "#b": "b"}},
            "unused in expressions: keys: {#b}",
        ),
        ([_key("e1")], {"ExpressionAttributeNames": {"#a": "a"}}, "only be specified when using expressions"),
        (
            [_key("e1")],
            {"ProjectionExpression": "#m.#a, #m", "ExpressionAttributeNames": {"#m": "m", "#a": "a"}},
            "overlap",
        ),
        (
            [_key("e1")],
            {"ProjectionExpression": "#m.#a, #m[0]", "ExpressionAttributeNames": {"#m": "m", "#a": "a"}},
            "conflict",
        ),
        ([_key("e1")], {"ProjectionExpression": "#m.", "ExpressionAttributeNames": {"#m": "m"}}, "Syntax"),
        (
            [_key("e1")],
            {"ProjectionExpression": "#p.#a", "ExpressionAttributeNames": {"#p": "pk", "#a": "a"}},
            "Key attributes must be scalars",
        ),
        ([_key("e1")], {"ConsistentRead": "yes"}, "ConsistentRead"),
    ],
    ids=[
        "101 keys",
        "duplicates",
        "part of a key",
        "wrong key type",
        "extra key attribute",
        "empty key",
        "undefined name",
        "unused name",
        "names without expression",
        "overlap",
        "conflict",
        "syntax",
        "nested key path",
        "consistent not a bool",
    ],
)
def test_requests_dynamodb_refuses_are_validation_errors(
    keys: list[dict[str, Any]], request_fields: dict[str, Any], message: str
) -> None:
    model = _model(_item("e1"))
    model.leave_unprocessed(1)

    rejected = _rejected(model, keys, **request_fields)

    assert rejected.code == "ValidationException"
    assert message in str(rejected)
    assert model.counters() == {"read_units": 0.0, "unprocessed_keys": 0, "snapshot_items": 1}


@pytest.mark.parametrize(
    "request_fields",
    [
        {"ProjectionExpression": "v"},  # a literal name: reserved words are not modelled
        {"AttributesToGet": ["v"]},
    ],
    ids=["literal name", "AttributesToGet"],
)
def test_what_is_not_modelled_is_refused_loudly(request_fields: dict[str, Any]) -> None:
    assert (
        _rejected(_model(_item("e1")), [_key("e1")], **request_fields).code == "SimulatorUnsupportedException"
    )


def test_a_table_with_numeric_keys_is_not_copied() -> None:
    description = {
        **DESCRIPTION,
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "N"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    }
    with pytest.raises(Rejected, match="numeric key attributes"):
        TableCopy.of(description, [])


def test_lognormal_latency_has_the_percentiles_asked_for() -> None:
    latency = Latency.parse(DEFAULT_READ_LATENCY)
    rng = random.Random(20)
    draws_ms = [latency.draw(rng) * 1000 for _ in range(40_000)]
    cuts = statistics.quantiles(draws_ms, n=100)

    assert latency.spec == "lognormal:p50=4,p99=15"
    assert cuts[49] == pytest.approx(4, rel=0.03)
    assert cuts[98] == pytest.approx(15, rel=0.06)
    assert min(draws_ms) > 0


def test_fixed_latency_and_bad_specs() -> None:
    assert Latency.parse("fixed: 2.5").draw(random.Random()) == 0.0025
    assert Latency.parse("lognormal:p50=4,p99=4").draw(random.Random()) == 0.004
    for spec in (
        "lognormal:p50=15,p99=4",
        "lognormal:p50=0,p99=4",
        "fixed:-1",
        "fixed:1.2.3",
        "normal:4",
        "",
    ):
        with pytest.raises(ValueError, match="is not 'fixed:MS' or 'lognormal:p50=MS,p99=MS'"):
            Latency.parse(spec)


def test_a_bad_read_latency_on_the_command_line_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        server.main(["--backend", "http://127.0.0.1:9", "--read-latency", "normal:4"])

    assert caught.value.code == 2
    assert "latency 'normal:4' is not 'fixed:MS' or 'lognormal:p50=MS,p99=MS'" in capsys.readouterr().err
