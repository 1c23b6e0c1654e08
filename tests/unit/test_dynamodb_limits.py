"""Tests of tests/dynamodb_limits.py, the check of requests against what real DynamoDB accepts.

Each check gets a request AWS rejects, which must get AWS's message, and the nearest request AWS
accepts, which must get None. The property tests vary the input around each limit. The requests
the store really sends (see feast_chalk_dynamo/writes/rows.py, names.py, tables.py, reader.py) must all
pass: a checker that cries wolf would be switched off.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.dynamodb_limits import (
    MAX_BATCH_GET_KEYS,
    MAX_BATCH_WRITE_REQUESTS,
    MAX_EXPRESSION_BYTES,
    MAX_ITEM_BYTES,
    MAX_NESTING_LEVELS,
    MAX_REQUEST_BYTES,
    MAX_TRANSACT_ITEMS,
    TABLE_KEYS,
    attribute_size,
    created_keys,
    item_size,
    request_tables,
    violation,
)

KEY = {"pk": {"S": "1/driver_id=i:1"}, "sk": {"S": "#"}}
OVERLAP = "Two document paths overlap with each other; must remove or rewrite one of these paths"
EMPTY_KEY = (
    "One or more parameter values are not valid. The AttributeValue for a key attribute "
    "cannot contain an empty string value. Key: {}"
)


def key(pk: str = "a", sk: str = "#") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def update(
    expression: str, names: dict[str, str] | None = None, values: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """An UpdateItem request on KEY."""
    request: dict[str, Any] = {"TableName": "t", "Key": KEY, "UpdateExpression": expression, **extra}
    if names is not None:
        request["ExpressionAttributeNames"] = names
    if values is not None:
        request["ExpressionAttributeValues"] = values
    return request


def put(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"TableName": "t", "Item": {**KEY, **item}, **extra}


def batch_get(*keys: dict[str, Any], **per_table: Any) -> dict[str, Any]:
    return {"RequestItems": {"t": {"Keys": list(keys), **per_table}}}


def batch_write(*requests: dict[str, Any]) -> dict[str, Any]:
    return {"RequestItems": {"t": list(requests)}}


def put_request(item: dict[str, Any]) -> dict[str, Any]:
    return {"PutRequest": {"Item": item}}


def delete_request(k: dict[str, Any]) -> dict[str, Any]:
    return {"DeleteRequest": {"Key": k}}


def transact(*actions: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"TransactItems": [{kind: {"TableName": "t", **action}} for kind, action in actions]}


def padded(expression: str, size: int) -> str:
    """The expression with trailing spaces to ``size`` bytes: AWS measures the string as sent."""
    return expression + " " * (size - len(expression.encode()))


# -- the store's own requests ------------------------------------------------------------------------

STORE_REQUESTS = [
    (  # writes/rows.py: a row, with the only-newer guard
        "UpdateItem",
        {
            "TableName": "t",
            "Key": {"pk": {"S": "1/driver_id=i:1"}, "sk": {"S": "#"}},
            "UpdateExpression": "SET #a0 = :a0, #a1 = :a1 REMOVE #a2",
            "ConditionExpression": "attribute_not_exists(#a0) OR #a0 <= :a0",
            "ExpressionAttributeNames": {"#a0": "_t1", "#a1": "b", "#a2": "_x"},
            "ExpressionAttributeValues": {":a0": {"N": "1"}, ":a1": {"L": [{"S": ""}]}},
        },
    ),
    (  # reader.py
        "BatchGetItem",
        {
            "RequestItems": {
                "t": {
                    "Keys": [{"pk": {"S": "a"}, "sk": {"S": "#"}}],
                    "ProjectionExpression": "#pk,#0,#1",
                    "ExpressionAttributeNames": {"#pk": "pk", "#0": "_t1", "#1": "a"},
                    "ConsistentRead": False,
                }
            }
        },
    ),
    (  # names.py: warm-up and namespace loads
        "Query",
        {
            "TableName": "t",
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": {":pk": {"S": "~meta"}, ":prefix": {"S": "ns/"}},
            "ConsistentRead": True,
        },
    ),
    (
        "Query",
        {
            "TableName": "t",
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": {":pk": {"S": "~meta"}},
            "ProjectionExpression": "#sk",
            "ExclusiveStartKey": {"pk": {"S": "~meta"}, "sk": {"S": "fqn/p"}},
        },
    ),
    (  # tables.py: the parallel scan
        "Scan",
        {
            "TableName": "t",
            "ProjectionExpression": "#pk, #sk",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk", "#t": "_t3"},
            "FilterExpression": "attribute_exists(#t) AND begins_with(#pk, :prefix)",
            "ExpressionAttributeValues": {":prefix": {"S": "1/"}},
            "TotalSegments": 4,
            "Segment": 0,
        },
    ),
    (  # names.py: the id counter
        "UpdateItem",
        {
            "TableName": "t",
            "Key": {"pk": {"S": "~meta"}, "sk": {"S": "~counter"}},
            "UpdateExpression": "ADD #n :one",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "UPDATED_NEW",
        },
    ),
    (
        "PutItem",
        {
            "TableName": "t",
            "Item": {"pk": {"S": "~meta"}, "sk": {"S": "fqn/p/v/f/INT64"}, "id": {"S": "1a"}},
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": "pk"},
        },
    ),
    (
        "UpdateItem",
        update(
            "SET #ttl = :ttl, #keys = :keys",
            {"#ttl": "ttl", "#keys": "keys"},
            {":ttl": {"N": "86400"}, ":keys": {"L": [{"S": "driver_id"}]}},
            ReturnValues="ALL_NEW",
        ),
    ),
    ("UpdateItem", update("REMOVE #ttl, #keys", {"#ttl": "ttl", "#keys": "keys"}, ReturnValues="ALL_NEW")),
    (  # tables.py: dropping an item no live view uses
        "DeleteItem",
        {
            "TableName": "t",
            "Key": KEY,
            "ConditionExpression": "attribute_not_exists(#l0) AND attribute_not_exists(#l1)",
            "ExpressionAttributeNames": {"#l0": "_t1", "#l1": "_t2"},
        },
    ),
    (
        "UpdateItem",
        update(
            "SET #a = if_not_exists(#a, :zero) + :inc, #l = list_append(#l, :items)",
            {"#a": "count", "#l": "log"},
            {":zero": {"N": "0"}, ":inc": {"N": "1"}, ":items": {"L": [{"S": "x"}]}},
        ),
    ),
    ("GetItem", {"TableName": "t", "Key": KEY, "ConsistentRead": True}),
    ("BatchWriteItem", batch_write(delete_request(key("a")), delete_request(key("b")))),
    (
        "TransactWriteItems",
        transact(
            (
                "Put",
                {"Item": {**key("a"), "v": {"N": "1"}}, "ConditionExpression": "attribute_not_exists(pk)"},
            ),
            (
                "Update",
                {
                    "Key": key("b"),
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "2"}},
                },
            ),
            ("Delete", {"Key": key("c")}),
            (
                "ConditionCheck",
                {
                    "Key": key("d"),
                    "ConditionExpression": "attribute_exists(#v)",
                    "ExpressionAttributeNames": {"#v": "v"},
                },
            ),
        ),
    ),
    ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": "t", "Key": key("a")}}]}),
]


@pytest.mark.parametrize(("operation", "payload"), STORE_REQUESTS)
def test_the_stores_requests_are_accepted(operation: str, payload: dict[str, Any]) -> None:
    assert violation(operation, payload) is None


@pytest.mark.parametrize(
    ("operation", "payload"),
    [
        ("ListTables", {}),
        ("DescribeTable", {"TableName": "t"}),
        ("DeleteTable", {"TableName": "t"}),
        ("DescribeTimeToLive", {"TableName": "t"}),
        (
            "UpdateTimeToLive",
            {"TableName": "t", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "x"}},
        ),
        (
            "CreateTable",
            {
                "TableName": "t",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
            },
        ),
    ],
)
def test_table_operations_are_checked_for_size_only(operation: str, payload: dict[str, Any]) -> None:
    assert violation(operation, payload, body_size=MAX_REQUEST_BYTES) is None
    assert violation(operation, payload, body_size=MAX_REQUEST_BYTES + 1) is not None


def test_a_request_body_is_at_most_16_mb() -> None:
    request = put({"v": {"S": "x"}})
    assert violation("PutItem", request, body_size=16 * 1024 * 1024) is None
    message = violation("PutItem", request, body_size=16 * 1024 * 1024 + 1)
    assert message is not None and "16777216" in message


# -- expression size ---------------------------------------------------------------------------------


def _expression_sites(size: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Every place an expression goes, each holding one of ``size`` bytes: (field, operation, request)."""
    names = {"#v": "v"}
    condition: dict[str, Any] = {
        "ConditionExpression": padded("attribute_exists(#v)", size),
        "ExpressionAttributeNames": names,
    }
    projection: dict[str, Any] = {
        "ProjectionExpression": padded("#v", size),
        "ExpressionAttributeNames": names,
    }
    keyed: dict[str, Any] = {"Key": key("x")}
    return [
        ("UpdateExpression", "UpdateItem", update(padded("REMOVE #v", size), names)),
        ("ConditionExpression", "UpdateItem", update("REMOVE w", **condition)),
        ("ConditionExpression", "PutItem", put({}, **condition)),
        ("ConditionExpression", "DeleteItem", {"TableName": "t", **keyed, **condition}),
        ("ProjectionExpression", "GetItem", {"TableName": "t", **keyed, **projection}),
        ("ProjectionExpression", "Scan", {"TableName": "t", **projection}),
        (
            "FilterExpression",
            "Scan",
            {
                "TableName": "t",
                "FilterExpression": condition["ConditionExpression"],
                "ExpressionAttributeNames": names,
            },
        ),
        (
            "KeyConditionExpression",
            "Query",
            {
                "TableName": "t",
                "KeyConditionExpression": padded("#v = :v", size),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {":v": {"S": "a"}},
            },
        ),
        ("ProjectionExpression", "BatchGetItem", batch_get(key("x"), **projection)),
        (
            "ProjectionExpression",
            "TransactGetItems",
            {"TransactItems": [{"Get": {"TableName": "t", **keyed, **projection}}]},
        ),
        (
            "UpdateExpression",
            "TransactWriteItems",
            transact(
                (
                    "Update",
                    {
                        **keyed,
                        "UpdateExpression": padded("REMOVE #v", size),
                        "ExpressionAttributeNames": names,
                    },
                )
            ),
        ),
        ("ConditionExpression", "TransactWriteItems", transact(("Put", {"Item": key("x"), **condition}))),
        ("ConditionExpression", "TransactWriteItems", transact(("Delete", {**keyed, **condition}))),
        ("ConditionExpression", "TransactWriteItems", transact(("ConditionCheck", {**keyed, **condition}))),
    ]


@pytest.mark.parametrize("site", range(len(_expression_sites(1))))
def test_every_expression_is_at_most_4_kb(site: int) -> None:
    _, operation, at_limit = _expression_sites(MAX_EXPRESSION_BYTES)[site]
    assert violation(operation, at_limit) is None
    field, operation, over = _expression_sites(MAX_EXPRESSION_BYTES + 216)[site]
    assert violation(operation, over) == (
        f"Invalid {field}: Expression size has exceeded the maximum allowed size; expression size: 4312"
    )


def test_only_the_expression_string_counts_towards_its_size() -> None:
    """Placeholders count as written; what they stand for counts towards the 2 MB of substitutions."""
    expression = padded("attribute_exists(#v) AND #v <> :v", MAX_EXPRESSION_BYTES)
    request = put(
        {},
        ConditionExpression=expression,
        ExpressionAttributeNames={"#v": "v" * 10_000},
        ExpressionAttributeValues={":v": {"S": "x" * 10_000}},
    )
    assert violation("PutItem", request) is None


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=1, max_value=250), min_size=1, max_size=120))
def test_update_expressions_are_accepted_iff_at_most_4096_bytes(lengths: list[int]) -> None:
    names = {f"#{i}{'n' * length}": f"a{i}" for i, length in enumerate(lengths)}
    values = {f":{i}{'v' * length}": {"N": str(i)} for i, length in enumerate(lengths)}
    expression = "SET " + ", ".join(f"{name} = {value}" for name, value in zip(names, values, strict=True))
    message = violation("UpdateItem", update(expression, names, values))
    size = len(expression.encode())
    if size <= MAX_EXPRESSION_BYTES:
        assert message is None
    else:
        assert message == (
            "Invalid UpdateExpression: Expression size has exceeded the maximum allowed size; "
            f"expression size: {size}"
        )


# -- placeholders ------------------------------------------------------------------------------------


def test_name_placeholders_start_with_a_hash() -> None:
    assert violation("UpdateItem", update("REMOVE #a", {"#a": "x"})) is None
    assert violation("UpdateItem", update("REMOVE #a", {"#a": "x", "a": "y"})) == (
        'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'
    )
    assert violation("UpdateItem", update("REMOVE #a", {"#a": "x", "#a-b": "y"})) == (
        'ExpressionAttributeNames contains invalid key: Syntax error; key: "#a-b"'
    )


def test_value_placeholders_start_with_a_colon() -> None:
    assert violation("UpdateItem", update("SET a = :a", values={":a": {"N": "1"}})) is None
    assert violation("UpdateItem", update("SET a = :a", values={":a": {"N": "1"}, "#b": {"N": "1"}})) == (
        'ExpressionAttributeValues contains invalid key: Syntax error; key: "#b"'
    )


@given(st.text("abcXYZ019_", min_size=1, max_size=254), st.sampled_from("#:"))
def test_placeholders_of_word_characters_up_to_255_bytes_are_accepted(body: str, sigil: str) -> None:
    placeholder = sigil + body
    if sigil == "#":
        request = update(f"REMOVE {placeholder}", {placeholder: "x"})
    else:
        request = update(f"SET x = {placeholder}", values={placeholder: {"S": "v"}})
    assert violation("UpdateItem", request) is None


def test_placeholders_are_at_most_255_bytes() -> None:
    name = "#" + "n" * 254
    assert violation("UpdateItem", update(f"REMOVE {name}", {name: "x"})) is None
    message = violation("UpdateItem", update(f"REMOVE {name}n", {f"{name}n": "x"}))
    assert message is not None and message.startswith("ExpressionAttributeNames contains invalid key")


def test_every_supplied_name_must_be_used() -> None:
    assert violation("UpdateItem", update("REMOVE #a, #b", {"#a": "x", "#b": "y"})) is None
    assert violation("UpdateItem", update("REMOVE #a", {"#a": "x", "#b": "y"})) == (
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
    )


def test_a_name_used_only_in_the_condition_counts_as_used() -> None:
    request = update("REMOVE #a", {"#a": "x", "#b": "y"}, ConditionExpression="attribute_exists(#b)")
    assert violation("UpdateItem", request) is None


def test_every_supplied_value_must_be_used() -> None:
    values = {":a": {"N": "1"}, ":b": {"N": "2"}}
    assert violation("UpdateItem", update("SET x = :a, y = :b", values=values)) is None
    assert violation("UpdateItem", update("SET x = :a", values=values)) == (
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}"
    )


def test_placeholders_are_used_per_transaction_action() -> None:
    """Each action has its own maps: a name used in another action is still unused in this one."""
    used = (
        "Delete",
        {
            "Key": key("a"),
            "ConditionExpression": "attribute_exists(#v)",
            "ExpressionAttributeNames": {"#v": "v"},
        },
    )
    unused = ("Delete", {"Key": key("b"), "ExpressionAttributeNames": {"#v": "v"}})
    assert violation("TransactWriteItems", transact(used)) is None
    assert violation("TransactWriteItems", transact(used, unused)) == (
        "ExpressionAttributeNames can only be specified when using expressions"
    )


def test_every_used_name_must_be_supplied() -> None:
    request = {"TableName": "t", "Key": KEY, "ConditionExpression": "attribute_exists(#x)"}
    assert violation("DeleteItem", {**request, "ExpressionAttributeNames": {"#x": "x"}}) is None
    assert violation("DeleteItem", request) == (
        "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; "
        "attribute name: #x"
    )


def test_every_used_value_must_be_supplied() -> None:
    assert violation("UpdateItem", update("SET a = :v", values={":w": {"N": "1"}})) == (
        "Invalid UpdateExpression: An expression attribute value used in expression is not defined; "
        "attribute value: :v"
    )


def test_maps_without_expressions() -> None:
    assert violation("GetItem", {"TableName": "t", "Key": KEY, "ExpressionAttributeNames": {"#a": "a"}}) == (
        "ExpressionAttributeNames can only be specified when using expressions"
    )
    assert violation("PutItem", put({}, ExpressionAttributeValues={":a": {"N": "1"}})) == (
        "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"
    )
    assert violation("UpdateItem", update("REMOVE a", {})) == "ExpressionAttributeNames must not be empty"


def test_substitutions_are_at_most_2_mb_in_all() -> None:
    def query(value_bytes: int) -> dict[str, Any]:
        return {
            "TableName": "t",
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "v = :v",
            "ExpressionAttributeValues": {":pk": {"S": "a"}, ":v": {"S": "x" * value_bytes}},
        }

    fixed = len(":pk") + 1 + len(":v")
    assert violation("Query", query(2 * 1024 * 1024 - fixed)) is None
    message = violation("Query", query(2 * 1024 * 1024 - fixed + 1))
    assert message is not None and "2097152" in message


# -- document paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("projection", "names", "paths"),
    [
        ("#pk, #pk", {"#pk": "pk"}, "path one: [pk], path two: [pk]"),
        ("#a, #b", {"#a": "pk", "#b": "pk"}, "path one: [pk], path two: [pk]"),
        ("a, a.b", {}, "path one: [a], path two: [a, b]"),
        ("#m.x[1], #m.x", {"#m": "m"}, "path one: [m, x, [1]], path two: [m, x]"),
    ],
)
def test_projections_may_not_name_one_path_twice(projection: str, names: dict[str, str], paths: str) -> None:
    request: dict[str, Any] = {"TableName": "t", "Key": KEY, "ProjectionExpression": projection}
    if names:
        request["ExpressionAttributeNames"] = names
    assert violation("GetItem", request) == f"Invalid ProjectionExpression: {OVERLAP}; {paths}"


@pytest.mark.parametrize("projection", ["a, b", "a.b, a.c", "a[0], a[1]", "#a, a", "a.b[0].c, a.b[1]"])
def test_distinct_projection_paths_are_accepted(projection: str) -> None:
    request: dict[str, Any] = {"TableName": "t", "Key": KEY, "ProjectionExpression": projection}
    if "#a" in projection:
        request["ExpressionAttributeNames"] = {"#a": "z"}
    assert violation("GetItem", request) is None


def test_a_map_path_and_a_list_path_conflict() -> None:
    request = {"TableName": "t", "Key": KEY, "ProjectionExpression": "a.b, a[0]"}
    assert violation("GetItem", request) == (
        "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite "
        "one of these paths; path one: [a, b], path two: [a, [0]]"
    )


@given(st.lists(st.text("abcdefgh", min_size=1, max_size=6), min_size=1, max_size=30, unique=True), st.data())
def test_projections_are_accepted_iff_their_names_are_distinct(
    attributes: list[str], data: st.DataObject
) -> None:
    names = {f"#{i}": attribute for i, attribute in enumerate(attributes)}
    request: dict[str, Any] = {
        "TableName": "t",
        "Key": KEY,
        "ProjectionExpression": ", ".join(names),
        "ExpressionAttributeNames": names,
    }
    assert violation("GetItem", request) is None
    again = data.draw(st.sampled_from(attributes))
    request["ExpressionAttributeNames"] = {**names, "#again": again}
    request["ProjectionExpression"] += ", #again"
    assert violation("GetItem", request) == (
        f"Invalid ProjectionExpression: {OVERLAP}; path one: [{again}], path two: [{again}]"
    )


path_lists = st.lists(
    st.tuples(st.sampled_from("ab"), st.lists(st.sampled_from(["a", "b", 0, 1]), max_size=3)).map(
        lambda path: (path[0], *path[1])
    ),
    min_size=1,
    max_size=8,
)


def clash(one: tuple[str | int, ...], two: tuple[str | int, ...]) -> bool:
    """The plain definition: equal up to the shorter path's end, or a map step against a list step."""
    for a, b in zip(one, two, strict=False):
        if type(a) is not type(b):
            return True
        if a != b:
            return False
    return True


@given(path_lists)
def test_projections_are_rejected_iff_two_paths_clash(projected: list[tuple[str | int, ...]]) -> None:
    def text(path: tuple[str | int, ...]) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)[1:]

    request = {"TableName": "t", "Key": KEY, "ProjectionExpression": ", ".join(map(text, projected))}
    clashes = any(clash(one, two) for i, one in enumerate(projected) for two in projected[i + 1 :])
    assert (violation("GetItem", request) is not None) == clashes


def test_an_update_may_not_change_one_path_twice() -> None:
    names = {"#a": "a", "#b": "b"}
    assert violation("UpdateItem", update("SET #a = :v REMOVE #b", names, {":v": {"N": "1"}})) is None
    assert violation("UpdateItem", update("SET #a = :v REMOVE #a", {"#a": "a"}, {":v": {"N": "1"}})) == (
        f"Invalid UpdateExpression: {OVERLAP}; path one: [a], path two: [a]"
    )
    assert violation("UpdateItem", update("SET a.b = :v REMOVE a", values={":v": {"N": "1"}})) == (
        f"Invalid UpdateExpression: {OVERLAP}; path one: [a, b], path two: [a]"
    )


def test_reading_a_path_an_update_sets_is_fine() -> None:
    values = {":v": {"N": "1"}}
    assert violation("UpdateItem", update("SET a = b + :v, b = :v", values=values)) is None
    assert violation("UpdateItem", update("SET a = if_not_exists(a, :v)", values=values)) is None


def test_an_update_has_each_clause_once() -> None:
    values = {":v": {"N": "1"}}
    assert violation("UpdateItem", update("SET a = :v, b = :v", values=values)) is None
    assert violation("UpdateItem", update("SET a = :v SET b = :v", values=values)) == (
        'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;'
    )


@pytest.mark.parametrize(
    ("expression", "values"),
    [
        ("SET #k = :v", {":v": {"S": "x"}}),
        ("REMOVE #k", None),
        ("ADD #k :n", {":n": {"N": "1"}}),
        ("DELETE #k :s", {":s": {"SS": ["x"]}}),
    ],
)
@pytest.mark.parametrize("attribute", TABLE_KEYS)
def test_an_update_may_not_change_a_key(
    expression: str, values: dict[str, Any] | None, attribute: str
) -> None:
    assert violation("UpdateItem", update(expression, {"#k": attribute}, values)) == (
        f"One or more parameter values were invalid: Cannot update attribute {attribute}. "
        "This attribute is part of the key"
    )
    assert violation("UpdateItem", update(expression, {"#k": attribute + "2"}, values)) is None


def test_an_update_may_test_a_key() -> None:
    request = update(
        "SET v = :v", {"#pk": "pk"}, {":v": {"N": "1"}}, ConditionExpression="attribute_exists(#pk)"
    )
    assert violation("UpdateItem", request) is None


# -- batches and transactions ------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=150))
def test_batch_get_is_accepted_iff_at_most_100_keys(count: int) -> None:
    message = violation("BatchGetItem", batch_get(*(key(str(i)) for i in range(count))))
    assert message == (
        None if count <= MAX_BATCH_GET_KEYS else "Too many items requested for the BatchGetItem call"
    )


def test_batch_get_counts_keys_across_tables() -> None:
    def two_tables(first: int, second: int) -> dict[str, Any]:
        return {
            "RequestItems": {
                "t1": {"Keys": [key(str(i)) for i in range(first)]},
                "t2": {"Keys": [key(str(i)) for i in range(second)]},
            }
        }

    assert violation("BatchGetItem", two_tables(60, 40)) is None
    assert (
        violation("BatchGetItem", two_tables(60, 41)) == "Too many items requested for the BatchGetItem call"
    )


def test_batch_get_keys_are_distinct_within_a_table() -> None:
    assert violation("BatchGetItem", batch_get(key("a"), key("a", "$"))) is None
    assert (
        violation("BatchGetItem", batch_get(key("a"), key("a")))
        == "Provided list of item keys contains duplicates"
    )
    same_key_two_tables = {"RequestItems": {"t1": {"Keys": [key("a")]}, "t2": {"Keys": [key("a")]}}}
    assert violation("BatchGetItem", same_key_two_tables) is None


def test_batch_get_asks_for_at_least_one_key() -> None:
    assert violation("BatchGetItem", batch_get()) == (
        "1 validation error detected: Value '[]' at 'requestItems.t.member.keys' "
        "failed to satisfy constraint: Member must have length greater than or equal to 1"
    )
    assert violation("BatchGetItem", {"RequestItems": {}}) is not None


@given(st.integers(min_value=1, max_value=40))
def test_batch_write_is_accepted_iff_at_most_25_requests(count: int) -> None:
    message = violation("BatchWriteItem", batch_write(*(delete_request(key(str(i))) for i in range(count))))
    if count <= MAX_BATCH_WRITE_REQUESTS:
        assert message is None
    else:
        assert message is not None and "Member must have length less than or equal to 25" in message


def test_batch_write_counts_requests_across_tables() -> None:
    def two_tables(first: int, second: int) -> dict[str, Any]:
        return {
            "RequestItems": {
                "t1": [delete_request(key(str(i))) for i in range(first)],
                "t2": [delete_request(key(str(i))) for i in range(second)],
            }
        }

    assert violation("BatchWriteItem", two_tables(13, 12)) is None
    assert (
        violation("BatchWriteItem", two_tables(13, 13))
        == "Too many items requested for the BatchWriteItem call"
    )


def test_batch_write_has_at_least_one_request() -> None:
    assert violation("BatchWriteItem", batch_write()) is not None
    assert violation("BatchWriteItem", {"RequestItems": {}}) is not None


def test_batch_write_touches_each_item_once() -> None:
    assert violation("BatchWriteItem", batch_write(put_request(key("a")), delete_request(key("b")))) is None
    assert violation("BatchWriteItem", batch_write(put_request(key("a")), delete_request(key("a")))) == (
        "Provided list of item keys contains duplicates"
    )


def test_batch_write_puts_are_items_of_at_most_400_kb() -> None:
    assert violation("BatchWriteItem", batch_write(put_request(sized_item(MAX_ITEM_BYTES)))) is None
    assert violation("BatchWriteItem", batch_write(put_request(sized_item(MAX_ITEM_BYTES + 1)))) == (
        "Item size has exceeded the maximum allowed size"
    )


@given(st.integers(min_value=1, max_value=130))
def test_transact_write_is_accepted_iff_at_most_100_actions(count: int) -> None:
    message = violation(
        "TransactWriteItems", transact(*(("Delete", {"Key": key(str(i))}) for i in range(count)))
    )
    if count <= MAX_TRANSACT_ITEMS:
        assert message is None
    else:
        assert message is not None and message.startswith("1 validation error detected: Value '[")
        assert message.endswith(
            "at 'transactItems' failed to satisfy constraint: "
            "Member must have length less than or equal to 100"
        )


def test_transact_write_has_at_least_one_action() -> None:
    assert violation("TransactWriteItems", {"TransactItems": []}) == (
        "1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


@pytest.mark.parametrize("first", ["Put", "Update", "Delete", "ConditionCheck"])
@pytest.mark.parametrize("second", ["Put", "Update", "Delete", "ConditionCheck"])
def test_transact_write_acts_once_on_each_item(first: str, second: str) -> None:
    def action(kind: str, k: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if kind == "Put":
            return kind, {"Item": k}
        if kind == "Update":
            return kind, {"Key": k, "UpdateExpression": "REMOVE v"}
        if kind == "ConditionCheck":
            return kind, {"Key": k, "ConditionExpression": "attribute_exists(v)"}
        return kind, {"Key": k}

    assert (
        violation("TransactWriteItems", transact(action(first, key("a")), action(second, key("b")))) is None
    )
    assert violation("TransactWriteItems", transact(action(first, key("a")), action(second, key("a")))) == (
        "Transaction request cannot include multiple operations on one item"
    )


def test_transact_write_may_act_on_the_same_key_in_two_tables() -> None:
    payload = {
        "TransactItems": [
            {"Delete": {"TableName": "t1", "Key": key("a")}},
            {"Delete": {"TableName": "t2", "Key": key("a")}},
        ]
    }
    assert violation("TransactWriteItems", payload) is None


def test_transact_write_items_are_at_most_4_mb_together() -> None:
    def puts(count: int, size: int) -> dict[str, Any]:
        return transact(*(("Put", {"Item": sized_item(size, pk=f"{i:03}")}) for i in range(count)))

    assert violation("TransactWriteItems", puts(10, MAX_ITEM_BYTES)) is None  # 4,096,000 bytes
    message = violation("TransactWriteItems", puts(11, 390_000))  # 4,290,000 bytes
    assert message is not None and "4194304" in message


def test_transact_write_actions_are_checked_like_requests() -> None:
    bad = (
        "Update",
        {
            "Key": key("a"),
            "UpdateExpression": "SET #k = :v",
            "ExpressionAttributeNames": {"#k": "pk"},
            "ExpressionAttributeValues": {":v": {"S": "x"}},
        },
    )
    message = violation("TransactWriteItems", transact(("Delete", {"Key": key("b")}), bad))
    assert message is not None and "Cannot update attribute pk" in message


@given(st.integers(min_value=1, max_value=130))
def test_transact_get_is_accepted_iff_at_most_100_gets(count: int) -> None:
    payload = {"TransactItems": [{"Get": {"TableName": "t", "Key": key(str(i))}} for i in range(count)]}
    message = violation("TransactGetItems", payload)
    assert (message is None) == (count <= MAX_TRANSACT_ITEMS)


# -- item size ---------------------------------------------------------------------------------------


def sized_item(size: int, pk: str = "a") -> dict[str, Any]:
    """An item of exactly ``size`` bytes: the key plus one string attribute "v" padded to fit."""
    base = len("pk") + len(pk) + len("sk") + len("#") + len("v")
    return {**key(pk), "v": {"S": "x" * (size - base)}}


def test_a_put_item_is_at_most_400_kb() -> None:
    assert violation("PutItem", {"TableName": "t", "Item": sized_item(409_600)}) is None
    assert violation("PutItem", {"TableName": "t", "Item": sized_item(409_601)}) == (
        "Item size has exceeded the maximum allowed size"
    )


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "héllo"}, 6),  # UTF-8 bytes
        ({"B": base64.b64encode(b"\x00\x01\x02").decode()}, 3),  # raw bytes, not base64 text
        ({"N": "0"}, 1),
        ({"N": "7"}, 2),  # one digit pair + exponent byte
        ({"N": "-7"}, 3),  # plus a byte for the sign
        ({"N": "12345"}, 4),  # 1|23|45
        ({"N": "1000000"}, 2),  # trailing zeros are not significant
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["a", "bc"]}, 3),
        ({"L": [{"S": "ab"}, {"BOOL": False}]}, 3 + (1 + 2) + (1 + 1)),
        ({"M": {"k": {"S": "ab"}, "key": {"NULL": True}}}, 3 + (1 + 1 + 2) + (1 + 3 + 1)),
        ({"L": []}, 3),
    ],
)
def test_attribute_sizes_follow_aws_rules(value: dict[str, Any], size: int) -> None:
    assert attribute_size(value) == size


def test_item_size_adds_names_to_values() -> None:
    assert item_size({"pk": {"S": "a"}, "héllo": {"S": "é"}}) == 2 + 1 + 6 + 2


@settings(max_examples=50)
@given(
    target=st.integers(min_value=MAX_ITEM_BYTES - 40, max_value=MAX_ITEM_BYTES + 40),
    wide=st.integers(min_value=0, max_value=50_000),
    raw=st.integers(min_value=0, max_value=50_000),
    flags=st.integers(min_value=0, max_value=20),
)
def test_items_are_accepted_iff_at_most_400_kb(target: int, wide: int, raw: int, flags: int) -> None:
    """Items of a size known by construction: 3-byte characters, binaries, booleans, ASCII padding."""
    item: dict[str, Any] = {
        **key("a"),  # 2 + 1 + 2 + 1
        "w": {"S": "€" * wide},  # 1 + 3 * wide
        "b": {"B": base64.b64encode(b"\xff" * raw).decode()},  # 1 + raw
        **{f"f{i:02}": {"BOOL": True} for i in range(flags)},  # (3 + 1) each
    }
    known = 6 + 1 + 3 * wide + 1 + raw + 4 * flags
    item["p"] = {"S": "x" * (target - known - 1)}  # 1 + padding
    message = violation("PutItem", {"TableName": "t", "Item": item})
    assert message == (
        None if target <= MAX_ITEM_BYTES else "Item size has exceeded the maximum allowed size"
    )


def test_an_update_that_sets_more_than_400_kb_is_rejected() -> None:
    """The key and the values a SET stores are in the item after the update, whatever it held before."""
    key_bytes = item_size(KEY)
    fits = {":v": {"S": "x" * (MAX_ITEM_BYTES - key_bytes - 1)}}
    assert violation("UpdateItem", update("SET v = :v", values=fits)) is None
    too_big = {":v": {"S": "x" * (MAX_ITEM_BYTES - key_bytes)}}
    assert violation("UpdateItem", update("SET v = :v", values=too_big)) == (
        "Item size to update has exceeded the maximum allowed size"
    )


def test_values_an_update_only_compares_do_not_count_towards_the_item() -> None:
    big = {":big": {"S": "x" * MAX_ITEM_BYTES}, ":v": {"N": "1"}}
    assert violation("UpdateItem", update("SET v = :v", values=big, ConditionExpression="w <> :big")) is None
    assert (
        violation(
            "UpdateItem",
            update(
                "SET v = if_not_exists(v, :big)",
                values=big | {":v": {"N": "1"}},
                ConditionExpression="v <> :v",
            ),
        )
        is None
    )


# -- keys --------------------------------------------------------------------------------------------


def _key_sites(k: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every place a key goes, each holding ``k``."""
    return [
        ("GetItem", {"TableName": "t", "Key": k}),
        ("DeleteItem", {"TableName": "t", "Key": k}),
        ("UpdateItem", {"TableName": "t", "Key": k, "UpdateExpression": "REMOVE v"}),
        ("PutItem", {"TableName": "t", "Item": {**k, "v": {"N": "1"}}}),
        ("BatchGetItem", batch_get(k)),
        ("BatchWriteItem", batch_write(delete_request(k))),
        ("BatchWriteItem", batch_write(put_request(k))),
        ("TransactWriteItems", transact(("Put", {"Item": k}))),
        ("TransactWriteItems", transact(("Delete", {"Key": k}))),
        (
            "TransactWriteItems",
            transact(("ConditionCheck", {"Key": k, "ConditionExpression": "attribute_exists(v)"})),
        ),
        ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": "t", "Key": k}}]}),
        ("Scan", {"TableName": "t", "ExclusiveStartKey": k}),
    ]


SITES = range(len(_key_sites(KEY)))


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("attribute", TABLE_KEYS)
def test_key_values_may_not_be_empty(site: int, attribute: str) -> None:
    assert violation(*_key_sites(key("a", "b"))[site]) is None
    assert violation(*_key_sites({**KEY, attribute: {"S": ""}})[site]) == EMPTY_KEY.format(attribute)


@pytest.mark.parametrize("site", SITES)
def test_partition_keys_are_at_most_2048_bytes(site: int) -> None:
    assert violation(*_key_sites(key("é" * 1024))[site]) is None
    assert violation(*_key_sites(key("é" * 1024 + "x"))[site]) == (
        "One or more parameter values were invalid: "
        "Size of hashkey has exceeded the maximum size limit of2048 bytes"
    )


@pytest.mark.parametrize("site", SITES)
def test_sort_keys_are_at_most_1024_bytes(site: int) -> None:
    assert violation(*_key_sites(key("a", "é" * 512))[site]) is None
    assert violation(*_key_sites(key("a", "é" * 512 + "x"))[site]) == (
        "One or more parameter values were invalid: "
        "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
    )


@pytest.mark.parametrize(
    "bad",
    [{"pk": {"S": "a"}}, {**KEY, "v": {"S": "x"}}, {"pk": {"N": "1"}, "sk": {"S": "#"}}, {}],
)
def test_a_key_is_exactly_the_key_attributes(bad: dict[str, Any]) -> None:
    assert (
        violation("GetItem", {"TableName": "t", "Key": bad})
        == "The provided key element does not match the schema"
    )


def test_an_item_has_its_key_attributes() -> None:
    assert violation("PutItem", {"TableName": "t", "Item": {"pk": {"S": "a"}, "v": {"S": "x"}}}) == (
        "One or more parameter values were invalid: Missing the key sk in the item"
    )
    assert violation("PutItem", {"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}}) == (
        "One or more parameter values were invalid: Type mismatch for key sk expected: S actual: N"
    )


def test_a_table_of_one_key() -> None:
    keys = ("id",)
    assert violation("GetItem", {"TableName": "t", "Key": {"id": {"S": "a"}}}, keys=keys) is None
    assert violation("GetItem", {"TableName": "t", "Key": {"id": {"S": ""}}}, keys=keys) == EMPTY_KEY.format(
        "id"
    )
    assert violation("GetItem", {"TableName": "t", "Key": KEY}, keys=keys) is not None


def test_non_key_strings_may_be_empty() -> None:
    assert violation("PutItem", put({"v": {"S": ""}, "b": {"B": ""}, "l": {"L": [{"S": ""}]}})) is None


# -- values: sets, nesting, numbers, names -----------------------------------------------------------


@pytest.mark.parametrize(
    ("empty", "message"),
    [
        ({"SS": []}, "One or more parameter values were invalid: An string set  may not be empty"),
        ({"NS": []}, "One or more parameter values were invalid: An number set  may not be empty"),
        ({"BS": []}, "One or more parameter values were invalid: Binary sets should not be empty"),
    ],
)
def test_sets_may_not_be_empty(empty: dict[str, Any], message: str) -> None:
    assert violation("PutItem", put({"s": empty})) == message
    assert violation("PutItem", put({"m": {"M": {"in": {"L": [empty]}}}})) == message
    assert violation("UpdateItem", update("SET s = :s", values={":s": empty})) == (
        f"ExpressionAttributeValues contains invalid value: {message} for key :s"
    )


@pytest.mark.parametrize(
    ("duplicated", "distinct"),
    [
        ({"SS": ["a", "b", "a"]}, {"SS": ["a", "b", "A"]}),
        ({"NS": ["1", "2", "1.0"]}, {"NS": ["1", "2", "1.01"]}),
        ({"BS": ["AAE=", "AAE="]}, {"BS": ["AAE=", "AAI="]}),
    ],
)
def test_sets_may_not_hold_duplicates(duplicated: dict[str, Any], distinct: dict[str, Any]) -> None:
    assert violation("PutItem", put({"s": distinct})) is None
    message = violation("PutItem", put({"s": duplicated}))
    assert message is not None and "Input collection" in message and "contains duplicates" in message
    message = violation("UpdateItem", update("ADD s :s", values={":s": {"M": {"in": duplicated}}}))
    assert message is not None and "contains duplicates" in message


def nested(levels: int, container: str = "M") -> dict[str, Any]:
    """A value ``levels`` deep: the attribute is level 1, each map or list around the leaf one more."""
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(levels - 1):
        value = {"M": {"n": value}} if container == "M" else {"L": [value]}
    return value


@given(st.integers(min_value=1, max_value=40), st.sampled_from("ML"))
def test_values_are_accepted_iff_at_most_32_levels_deep(levels: int, container: str) -> None:
    deep = nested(levels, container)
    expected = (
        None
        if levels <= MAX_NESTING_LEVELS
        else (
            "Nesting Levels have exceeded supported limits: "
            "Attributes in the item have nested levels beyond supported limit"
        )
    )
    assert violation("PutItem", put({"d": deep})) == expected
    assert violation("UpdateItem", update("SET d = :d", values={":d": deep})) == expected


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (
            "1E+126",
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "-1E+126",
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "1E-131",
            "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        ),
        ("1" * 39, "Attempting to store more than 38 significant digits in a Number"),
        ("0." + "1" * 39, "Attempting to store more than 38 significant digits in a Number"),
        ("abc", "The parameter cannot be converted to a numeric value: abc"),
        ("NaN", "The parameter cannot be converted to a numeric value: NaN"),
        ("9" * 38 + "E+88", None),  # 9.99...9E+125, the largest
        ("1E-130", None),  # the smallest
        ("1" + "0" * 100, None),  # one significant digit
        ("0.000", None),
        ("-0", None),
        ("1" * 38, None),
    ],
)
def test_numbers_within_range_and_precision(number: str, message: str | None) -> None:
    assert violation("PutItem", put({"n": {"N": number}})) == message
    assert violation("PutItem", put({"n": {"NS": ["1", number]}})) == message
    wrapped = (
        None if message is None else f"ExpressionAttributeValues contains invalid value: {message} for key :n"
    )
    assert violation("UpdateItem", update("SET n = :n", values={":n": {"L": [{"N": number}]}})) == wrapped


@given(
    st.text("0123456789", min_size=1, max_size=45).map(lambda d: "1" + d + "1"),
    st.integers(min_value=-140, max_value=135),
    st.booleans(),
)
def test_numbers_are_accepted_iff_38_digits_between_1e_130_and_1e_126(
    digits: str, exponent: int, negative: bool
) -> None:
    number = f"{'-' if negative else ''}{digits[0]}.{digits[1:]}E{exponent}"  # adjusted exponent = exponent
    accepted = len(digits) <= 38 and -130 <= exponent <= 125
    assert (violation("PutItem", put({"n": {"N": number}})) is None) == accepted


def test_attribute_names_are_1_byte_to_64_kb() -> None:
    longest = "n" * (64 * 1024 - 1)
    assert violation("PutItem", put({longest: {"S": "x"}})) is None
    assert violation("PutItem", put({longest + "n": {"S": "x"}})) is not None
    assert violation("PutItem", put({"": {"S": "x"}})) is not None
    assert violation("UpdateItem", update("REMOVE #a", {"#a": longest})) is None
    assert violation("UpdateItem", update("REMOVE #a", {"#a": longest + "n"})) is not None
    assert violation("UpdateItem", update("REMOVE #a", {"#a": ""})) is not None


def test_an_attribute_value_has_exactly_one_type() -> None:
    assert violation("PutItem", put({"v": {}})) == (
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
    )
    assert violation("PutItem", put({"v": {"S": "a", "N": "1"}})) == (
        "Supplied AttributeValue has more than one datatypes set, "
        "must contain exactly one of the supported datatypes"
    )


def test_a_request_names_its_tables_and_a_create_table_its_keys() -> None:
    """What the strict proxy needs to check requests to a table keyed otherwise (Feast's ``entity_id``)."""
    assert request_tables({"TableName": "a", "Key": key()}) == {"a"}
    assert request_tables({"RequestItems": {"a": {"Keys": [key()]}, "b": {"Keys": [key()]}}}) == {"a", "b"}
    update_action = {"Update": {"TableName": "c", "Key": key(), "UpdateExpression": "SET #a = :a"}}
    delete_action = {"Delete": {"TableName": "d", "Key": key()}}
    assert request_tables({"TransactItems": [update_action, delete_action]}) == {"c", "d"}
    assert request_tables({}) == set()
    keyed = [{"AttributeName": "sk", "KeyType": "RANGE"}, {"AttributeName": "pk", "KeyType": "HASH"}]
    assert created_keys({"TableName": "t", "KeySchema": keyed}) == TABLE_KEYS
    assert created_keys({"KeySchema": [{"AttributeName": "entity_id", "KeyType": "HASH"}]}) == ("entity_id",)
    feast_key = {"entity_id": {"S": "0a1b"}}
    scan = {"TableName": "p.v", "Segment": 0, "TotalSegments": 2, "ExclusiveStartKey": feast_key}
    assert violation("Scan", scan, keys=("entity_id",)) is None
    assert violation("Scan", scan) is not None  # checked as the store's table
