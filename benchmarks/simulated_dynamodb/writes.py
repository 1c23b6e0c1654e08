"""The simulated DynamoDB's semantics: which writes it answers, what they do to items, what they cost.

No I/O and no HTTP: the server (``server.py``) hands a write here as its decoded JSON payload,
and renders what comes back. Nothing is stored but each item's attribute sizes, so that an
update is billed by DynamoDB's rules on the larger of the item's size before and after:
``max(1, ceil(size / 1 KB))`` write units, twice that in a transaction. **Conditions are not
evaluated** (``ConditionExpression`` and ``ConditionCheck`` always succeed), ``ReturnValues`` is
ignored, and ``BatchWriteItem`` leaves no ``UnprocessedItems``.

The key attributes of a table come from its ``KeySchema``, which the server learns from
forwarded CreateTable and DescribeTable answers (``observe``) or asks for (``learn_schema``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import orjson

from benchmarks.simulated_dynamodb.errors import Rejected, unsupported
from benchmarks.simulated_dynamodb.sizes import Sizes, attribute_sizes, value_size, write_units
from benchmarks.simulated_dynamodb.update_expressions import (
    REMOVE,
    SET_IF_ABSENT,
    Action,
    parse_update_expression,
)

# feast_chalk_dynamo.items.layout.META_PK, copied: importing the package would import Feast into the server.
META_PK: Final = "~meta"
META_KEY_ATTR: Final = "pk"

TRANSACTION_FACTOR = 2  # a transactional write costs two units per KB: prepare and commit
# The writes answered here; every other operation is the backend's.
WRITE_OPERATIONS = frozenset({"UpdateItem", "TransactWriteItems", "BatchWriteItem"})
# Every operation that changes items: refused on a table whose reads are answered from a copy.
MUTATIONS = WRITE_OPERATIONS | {"PutItem", "DeleteItem"}
# A write's answer body when no consumed capacity is asked for (ReturnValues is ignored).
PLAIN_ANSWERS: Final = {
    "UpdateItem": b"{}",
    "TransactWriteItems": b"{}",
    "BatchWriteItem": b'{"UnprocessedItems":{}}',
}
_PARSE_CACHE_SIZE = 10_000

Identity = tuple[str, ...]  # (table, key values in KeySchema order)
# (kind, table, identity, payload, factor): kind "update" (payload: key, [(name, size or None for
# a removal, only if absent)]), "put" (payload: the new sizes), "delete" or "check" (payload: None).
_Mutation = tuple[str, str, Identity, Any, int]


def tables_of(operation: str, payload: Mapping[str, Any]) -> list[str]:
    """The tables a write of ``MUTATIONS`` touches, each once, in order."""
    if operation in ("UpdateItem", "PutItem", "DeleteItem"):
        return [payload["TableName"]]
    if operation == "BatchWriteItem":
        return list(payload["RequestItems"])
    tables = []
    for entry in payload["TransactItems"]:
        for action in entry.values():
            if action["TableName"] not in tables:
                tables.append(action["TableName"])
    return tables


def touches_meta(operation: str, payload: Mapping[str, Any]) -> bool:
    """Whether a write of ``MUTATIONS`` touches the name registry (partition ``~meta``): the backend's."""
    return any(map(is_meta, written_keys(operation, payload)))


def written_keys(operation: str, payload: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The key (or whole item) of each item a write of ``MUTATIONS`` touches."""
    if operation in ("UpdateItem", "DeleteItem"):
        yield payload["Key"]
    elif operation == "PutItem":
        yield payload["Item"]
    elif operation == "BatchWriteItem":
        for requests in payload["RequestItems"].values():
            for request in requests:
                yield (
                    request["PutRequest"]["Item"]
                    if "PutRequest" in request
                    else request["DeleteRequest"]["Key"]
                )
    else:
        for entry in payload["TransactItems"]:
            for action in entry.values():
                yield action["Item"] if "Item" in action else action["Key"]


def is_meta(key: Mapping[str, Any]) -> bool:
    """Whether a key (or item) is of the name registry's partition, which the backend always handles."""
    value = key.get(META_KEY_ATTR)
    return isinstance(value, dict) and value.get("S") == META_PK


def key_schema(description: Mapping[str, Any]) -> tuple[str, ...]:
    """Key attribute names of a TableDescription, partition key first."""
    schema = description["KeySchema"]
    return tuple(entry["AttributeName"] for entry in sorted(schema, key=lambda e: e["KeyType"] != "HASH"))


def capacity_answer(operation: str, capacity: Mapping[str, int]) -> dict[str, Any]:
    """A write's answer with ``ReturnConsumedCapacity``: write units per table."""
    consumed = [
        {"TableName": table, "CapacityUnits": float(units), "WriteCapacityUnits": float(units)}
        for table, units in capacity.items()
    ]
    document: dict[str, Any] = {"ConsumedCapacity": consumed[0] if operation == "UpdateItem" else consumed}
    if operation == "BatchWriteItem":
        document["UnprocessedItems"] = {}
    return document


class WriteModel:
    """The tables' key schemas, each item's attribute sizes, and what the writes cost.

    Not thread-safe: the server calls it from its event loop's thread only.
    """

    def __init__(self) -> None:
        self._schemas: dict[str, tuple[str, ...]] = {}
        self._parsed: dict[str, tuple[Action, ...]] = {}
        self.reset()

    def reset(self) -> None:
        """Zero the counters and forget the items; the tables' key schemas stay (so do the tables)."""
        self._items: dict[Identity, Sizes] = {}
        self._actions = 0
        self._write_units = 0
        self._bytes_stored = 0

    def counters(self) -> dict[str, int]:
        """Since the last reset, as ``SimStats`` reports them.

        ``actions``: item writes applied (updates, puts, deletes; not condition checks). ``items``:
        distinct items held. ``write_units``: by DynamoDB's rules. ``bytes_stored``: the items'
        current total size.
        """
        return {
            "actions": self._actions,
            "items": len(self._items),
            "write_units": self._write_units,
            "bytes_stored": self._bytes_stored,
        }

    # key schemas

    def missing_schemas(self, tables: Sequence[str]) -> list[str]:
        return [table for table in tables if table not in self._schemas]

    def learn_schema(self, table: str, keys: tuple[str, ...]) -> None:
        self._schemas[table] = keys

    def observe(self, operation: str, request: bytes, answer: bytes) -> None:
        """Keep key schemas current from what the backend did: created, described and deleted tables."""
        try:
            if operation in ("CreateTable", "DescribeTable"):
                description = orjson.loads(answer)[
                    "TableDescription" if operation == "CreateTable" else "Table"
                ]
                self._schemas[description["TableName"]] = key_schema(description)
            elif operation == "DeleteTable":
                table = orjson.loads(request)["TableName"]
                self._schemas.pop(table, None)
                for identity in [identity for identity in self._items if identity[0] == table]:
                    self._bytes_stored -= sum(self._items.pop(identity).values())
        except (orjson.JSONDecodeError, KeyError, TypeError):
            pass  # an answer without a description: nothing to learn

    # writes

    def write(self, operation: str, payload: Mapping[str, Any]) -> dict[str, int] | None:
        """Apply one write of ``WRITE_OPERATIONS`` to tables whose schemas are known.

        Returns the write units by table if ``ReturnConsumedCapacity`` asks for them, else None.
        Raises ``Rejected`` with nothing applied if any part of the request is wrong.
        """
        try:
            if operation == "UpdateItem":
                mutations = [self._plan_update(payload, payload["TableName"], 1)]
            elif operation == "BatchWriteItem":
                mutations = self._plan_batch(payload)
            else:
                mutations = self._plan_transaction(payload)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as error:
            raise Rejected(
                "ValidationException", f"simulator could not read the request: {error!r}"
            ) from None
        wants_capacity = payload.get("ReturnConsumedCapacity", "NONE") != "NONE"
        capacity = self._apply(mutations, wants_capacity)
        return capacity if wants_capacity else None

    def _identity(self, table: str, item: Mapping[str, Any], whole_key: bool) -> Identity:
        keys = self._schemas[table]
        if whole_key and len(item) != len(keys):
            raise Rejected("ValidationException", "The provided key element does not match the schema")
        try:
            return (table, *[next(iter(item[name].values())) for name in keys])
        except KeyError:
            raise Rejected(
                "ValidationException", "The provided key element does not match the schema"
            ) from None

    def _parse(self, expression: str) -> tuple[Action, ...]:
        actions = self._parsed.get(expression)
        if actions is None:
            actions = parse_update_expression(expression)
            if len(self._parsed) >= _PARSE_CACHE_SIZE:
                self._parsed.clear()
            self._parsed[expression] = actions
        return actions

    def _plan_update(self, action: Mapping[str, Any], table: str, factor: int) -> _Mutation:
        key = action["Key"]
        identity = self._identity(table, key, whole_key=True)
        expression = action.get("UpdateExpression")
        if expression is None and action.get("AttributeUpdates"):
            raise unsupported("AttributeUpdates (the legacy parameter); use UpdateExpression")
        names: Mapping[str, str] = action.get("ExpressionAttributeNames") or {}
        values: Mapping[str, Any] = action.get("ExpressionAttributeValues") or {}
        changes = []
        for kind, path, operand in self._parse(expression) if expression else ():
            try:
                name = names[path] if path[0] == "#" else path
                value = values[operand] if kind != REMOVE else None
            except KeyError as missing:
                raise Rejected(
                    "ValidationException",
                    f"Invalid UpdateExpression: An expression attribute name or value used in expression "
                    f"is not defined; attribute: {missing.args[0]}",
                ) from None
            size = None if value is None else len(name.encode()) + value_size(value)
            changes.append((name, size, kind == SET_IF_ABSENT))
        return ("update", table, identity, (key, changes), factor)

    def _plan_batch(self, payload: Mapping[str, Any]) -> list[_Mutation]:
        mutations: list[_Mutation] = []
        for table, requests in payload["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    identity = self._identity(table, item, whole_key=False)
                    mutations.append(("put", table, identity, attribute_sizes(item), 1))
                else:
                    identity = self._identity(table, request["DeleteRequest"]["Key"], whole_key=True)
                    mutations.append(("delete", table, identity, None, 1))
        return mutations

    def _plan_transaction(self, payload: Mapping[str, Any]) -> list[_Mutation]:
        mutations: list[_Mutation] = []
        for entry in payload["TransactItems"]:
            ((kind, action),) = entry.items()
            table = action["TableName"]
            if kind == "Update":
                mutations.append(self._plan_update(action, table, TRANSACTION_FACTOR))
            elif kind == "Put":
                identity = self._identity(table, action["Item"], whole_key=False)
                mutations.append(
                    ("put", table, identity, attribute_sizes(action["Item"]), TRANSACTION_FACTOR)
                )
            elif kind in ("Delete", "ConditionCheck"):
                identity = self._identity(table, action["Key"], whole_key=True)
                mutation = "delete" if kind == "Delete" else "check"
                mutations.append((mutation, table, identity, None, TRANSACTION_FACTOR))
            else:
                raise Rejected("ValidationException", f"unknown transaction action {kind!r}")
        return mutations

    def _apply(self, mutations: Sequence[_Mutation], by_table: bool) -> dict[str, int]:
        """Apply planned writes in order, counting units on the larger of each item's old and new size."""
        items = self._items
        capacity: dict[str, int] = {}
        for kind, table, identity, change, factor in mutations:
            old = items.get(identity)
            before = sum(old.values()) if old is not None else 0
            if kind == "update":
                key, changes = change
                sizes = old if old is not None else attribute_sizes(key)
                for name, size, only_if_absent in changes:
                    if size is None:
                        sizes.pop(name, None)
                    elif not only_if_absent or name not in sizes:
                        sizes[name] = size
                items[identity] = sizes
                after = sum(sizes.values())
            elif kind == "put":
                items[identity] = change
                after = sum(change.values())
            elif kind == "delete":
                items.pop(identity, None)
                after = 0
            else:  # a condition check reads the item and writes nothing
                after = before
            units = factor * write_units(max(before, after))
            self._write_units += units
            self._bytes_stored += after - before
            if kind != "check":
                self._actions += 1
            if by_table:
                capacity[table] = capacity.get(table, 0) + units
        return capacity
