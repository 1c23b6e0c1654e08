"""The simulated DynamoDB's reads: GetItem and BatchGetItem answered from a copy of the backend's items.

No I/O and no HTTP: the server scans the backend (``TableCopy.of`` its answers) and hands a read
here as its decoded JSON payload; what comes back is the answer's JSON body.

Why a snapshot of the backend, not the writes the simulator sees: the data writes it answers are
not applied anywhere (it keeps only their sizes, and does not evaluate their conditions), so the
items they describe need not be the items DynamoDB would hold. A consistent Scan copies exactly
what the backend holds, so a read here answers what the backend would. To keep it so, a write to
a copied table is refused (``guard_writes``), and the name registry's partition (``~meta``),
whose writes the backend applies, is not copied: its reads go to the backend too.

What is modelled: the items (each attribute's JSON as the backend answered it: binary values stay
base64 text, sets keep the backend's order), ``ProjectionExpression`` over
``ExpressionAttributeNames`` with map (``.``) and list (``[n]``) steps, ``ConsistentRead`` (it
only halves the read units), ``ReturnConsumedCapacity`` (read units by DynamoDB's rules: each item
``ceil(size / 4 KB)``, a missing one 1, halved if eventually consistent), and the errors of a
request DynamoDB would refuse: over 100 keys, duplicate keys, a key not of the table's schema,
an expression name undefined or unused, two paths that overlap or conflict. ``UnprocessedKeys``
are left only when asked (``leave_unprocessed``). Literal names in a projection and the legacy
``AttributesToGet`` get a ``SimulatorUnsupportedException``: modelling DynamoDB's reserved words
is not worth it for a benchmark, and a loud refusal beats a wrong answer. So does a BatchGetItem
answer over 16 MB, where DynamoDB would return part of it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from benchmarks.simulated_dynamodb.errors import Rejected, unsupported
from benchmarks.simulated_dynamodb.sizes import attribute_sizes
from benchmarks.simulated_dynamodb.writes import is_meta

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem"})
MAX_BATCH_KEYS = 100
MAX_ANSWER_BYTES = 16 * 1024 * 1024
READ_UNIT_BYTES = 4096
CAPACITY_MODES: Final = ("NONE", "TOTAL", "INDEXES")
_PROJECTION_CACHE_SIZE = 10_000
_NAME = r"(?:#[0-9A-Za-z_]+|[A-Za-z][0-9A-Za-z_]*)"
_PATH = re.compile(rf"{_NAME}(?:\.{_NAME}|\[[0-9]+\])*")
_STEP = re.compile(rf"\.?({_NAME})|\[([0-9]+)\]")

Identity = tuple[str, ...]  # an item's key values, in KeySchema order
Path = tuple[str | int, ...]  # attribute names and list indexes, the first always a name


def _invalid(message: str) -> Rejected:
    return Rejected("ValidationException", message)


def _schema_mismatch() -> Rejected:
    return _invalid("The provided key element does not match the schema")


class StoredItem:
    """One item as the backend answered it: each attribute's ``"name":value`` JSON, and its costs."""

    __slots__ = ("fragments", "whole", "size", "units")

    def __init__(self, item: Mapping[str, Any]) -> None:
        self.fragments = {
            name: orjson.dumps(name) + b":" + orjson.dumps(value) for name, value in item.items()
        }
        self.whole = b"{" + b",".join(self.fragments.values()) + b"}"
        self.size = sum(attribute_sizes(item).values())
        self.units = max(1, -(-self.size // READ_UNIT_BYTES))  # strongly consistent read units

    def value(self, name: str) -> Any:
        """The attribute's value, decoded again (only nested projections need it)."""
        return orjson.loads(self.fragments[name][len(orjson.dumps(name)) + 1 :])


@dataclass(frozen=True)
class TableCopy:
    """A table's items, by key, as a consistent Scan of the backend found them (``~meta`` left out)."""

    name: str
    keys: tuple[str, ...]  # key attribute names, partition key first
    types: tuple[str, ...]  # and their types, "S" or "B"
    items: dict[Identity, StoredItem]

    @classmethod
    def of(cls, description: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> TableCopy:
        """From a DescribeTable ``Table`` and the items of a Scan."""
        schema = sorted(description["KeySchema"], key=lambda entry: entry["KeyType"] != "HASH")
        keys = tuple(entry["AttributeName"] for entry in schema)
        defined = {
            entry["AttributeName"]: entry["AttributeType"] for entry in description["AttributeDefinitions"]
        }
        types = tuple(defined[name] for name in keys)
        if "N" in types:
            # Equal numbers may be written differently ("1", "1.0"): keys would need normalising.
            raise unsupported(f"numeric key attributes (table {description['TableName']})")
        copy = cls(description["TableName"], keys, types, {})
        for item in items:
            if not is_meta(item):
                copy.items[copy.identity(item, whole_key=False)] = StoredItem(item)
        return copy

    def identity(self, key: Mapping[str, Any], whole_key: bool = True) -> Identity:
        """The key values of ``key`` (an item if not ``whole_key``); ValidationException if off-schema."""
        if whole_key and len(key) != len(self.keys):
            raise _schema_mismatch()
        try:
            identity = tuple(key[name][tag] for name, tag in zip(self.keys, self.types, strict=True))
        except (KeyError, TypeError):
            raise _schema_mismatch() from None
        if "" in identity:
            raise _invalid(
                "One or more parameter values are not valid. The AttributeValue for a key attribute "
                "cannot contain an empty string value."
            )
        return identity


@dataclass(frozen=True)
class Projection:
    """A parsed ProjectionExpression: paths grouped by attribute, in the order first named."""

    groups: tuple[tuple[str, tuple[Path, ...]], ...]  # (attribute, the paths below it; () for all of it)
    top: tuple[str, ...] | None  # the attributes, when every path is a whole attribute: the fast path

    @classmethod
    def parse(cls, expression: str, names: Mapping[str, str]) -> Projection:
        """ValidationException for what DynamoDB refuses; SimulatorUnsupportedException for literal names."""
        if not expression.strip():
            raise _invalid("Invalid ProjectionExpression: The expression can not be empty;")
        used: set[str] = set()
        grouped: dict[str, list[Path]] = {}
        for text in (part.strip() for part in expression.split(",")):
            if not _PATH.fullmatch(text):
                raise _invalid(f"Invalid ProjectionExpression: Syntax error; token: {text!r}")
            path: list[str | int] = []
            for name, index in _STEP.findall(text):
                if not name:
                    path.append(int(index))
                elif name[0] != "#":
                    raise unsupported(
                        f"literal names in a ProjectionExpression ({name!r}): DynamoDB's reserved words "
                        "are not modelled; name it in ExpressionAttributeNames"
                    )
                elif name not in names:
                    raise _invalid(
                        "Invalid ProjectionExpression: An expression attribute name used in the document "
                        f"path is not defined; attribute name: {name}"
                    )
                else:
                    used.add(name)
                    path.append(names[name])
            first = str(path[0])
            below = tuple(path[1:])
            for other in grouped.get(first, ()):
                _check_apart(first, other, below)
            grouped.setdefault(first, []).append(below)
        unused = sorted(set(names) - used)
        if unused:
            raise _invalid(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {"
                + ", ".join(unused)
                + "}"
            )
        groups = tuple((name, tuple(paths)) for name, paths in grouped.items())
        flat = all(paths == [()] for paths in grouped.values())
        return cls(groups, tuple(grouped) if flat else None)

    def render(self, item: StoredItem) -> bytes:
        """The item's JSON with only what the projection names; nested paths decode their attribute."""
        fragments = item.fragments
        if self.top is not None:
            return b"{" + b",".join([fragments[name] for name in self.top if name in fragments]) + b"}"
        parts = []
        for name, paths in self.groups:
            if name not in fragments:
                continue
            if paths == ((),):
                parts.append(fragments[name])
                continue
            picked = _pick(item.value(name), paths)
            if picked is not None:
                parts.append(orjson.dumps(name) + b":" + orjson.dumps(picked))
        return b"{" + b",".join(parts) + b"}"


def _check_apart(attribute: str, one: Path, other: Path) -> None:
    """Two paths below one attribute must part ways at a step of the same kind: DynamoDB's rule."""
    for mine, theirs in zip(one, other, strict=False):
        if isinstance(mine, int) != isinstance(theirs, int):
            raise _invalid(
                "Invalid ProjectionExpression: Two document paths conflict with each other; must remove "
                f"or rewrite one of these paths; path one: {[attribute, *one]}, "
                f"path two: {[attribute, *other]}"
            )
        if mine != theirs:
            return
    raise _invalid(
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or "
        f"rewrite one of these paths; path one: {[attribute, *one]}, path two: {[attribute, *other]}"
    )


def _pick(value: Any, paths: Sequence[Path]) -> Any:
    """The parts of ``value`` the (non-empty, apart) ``paths`` name, shaped as DynamoDB answers; None if none.

    A map keeps the members named; a list keeps the elements named, in index order, closed up.
    """
    below: dict[str | int, list[Path]] = {}
    for path in paths:
        below.setdefault(path[0], []).append(path[1:])
    found: dict[str | int, Any] = {}
    for step, rests in below.items():
        if isinstance(step, int):
            elements = value.get("L") if isinstance(value, dict) else None
            child = elements[step] if isinstance(elements, list) and step < len(elements) else None
        else:
            members = value.get("M") if isinstance(value, dict) else None
            child = members.get(step) if isinstance(members, dict) else None
        if child is not None and rests != [()]:
            child = _pick(child, rests)
        if child is not None:
            found[step] = child
    if not found:
        return None
    indexes = sorted(step for step in found if isinstance(step, int))  # all steps, or none: paths are apart
    return {"L": [found[index] for index in indexes]} if indexes else {"M": found}


class ReadModel:
    """The tables copied from the backend, and the reads answered from them.

    Not thread-safe: the server calls it from its event loop's thread only.
    """

    def __init__(self) -> None:
        self._tables: dict[str, TableCopy] = {}
        self._projections: dict[tuple[str, tuple[tuple[str, str], ...]], Projection] = {}
        self.reset()

    def reset(self) -> None:
        """Zero the counters and forget any request to leave keys unprocessed; the copies stay."""
        self._read_units = 0.0
        self._unprocessed_keys = 0
        self._to_leave = 0

    def counters(self) -> dict[str, Any]:
        """Since the last reset: read units by DynamoDB's rules, keys left unprocessed; items held now."""
        return {
            "read_units": self._read_units,
            "unprocessed_keys": self._unprocessed_keys,
            "snapshot_items": sum(len(table.items) for table in self._tables.values()),
        }

    # the copies

    def hold(self, table: TableCopy) -> None:
        self._tables[table.name] = table

    def observe(self, operation: str, request: bytes) -> None:
        """Forget the copy of a table the backend deleted (a forwarded DeleteTable it answered 200)."""
        if operation == "DeleteTable":
            # The backend accepted the request, so it reads; if not, there is nothing to forget.
            with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                self._tables.pop(orjson.loads(request)["TableName"], None)

    def holds_any(self, tables: Sequence[str]) -> bool:
        return any(table in self._tables for table in tables)

    @property
    def copying(self) -> bool:
        return bool(self._tables)

    def leave_unprocessed(self, answers: int) -> None:
        """The next ``answers`` BatchGetItem answers each leave the last half of a table's keys unprocessed.

        Rounded down, so a request of a single key is answered whole and does not count: DynamoDB
        answers a request of which nothing can be processed with an error, not with all of it left.
        """
        self._to_leave = answers

    # reads

    def answers(self, operation: str, payload: Mapping[str, Any]) -> bool:
        """Whether the read is answered here: every table copied, no key of the ``~meta`` partition."""
        try:
            if operation == "GetItem":
                return payload["TableName"] in self._tables and not is_meta(payload["Key"])
            requests = payload["RequestItems"]
            return bool(requests) and all(
                table in self._tables and not any(is_meta(key) for key in request["Keys"])
                for table, request in requests.items()
            )
        except (KeyError, TypeError, AttributeError):
            return False  # malformed: the backend says how

    def read(self, operation: str, payload: Mapping[str, Any]) -> bytes:
        """The JSON answer of a read ``answers`` said yes to; ``Rejected`` for what DynamoDB would refuse."""
        try:
            capacity = payload.get("ReturnConsumedCapacity", "NONE")
            if capacity not in CAPACITY_MODES:
                raise _invalid(
                    f"ReturnConsumedCapacity {capacity!r} is not one of {', '.join(CAPACITY_MODES)}"
                )
            if operation == "GetItem":
                return self._get_item(payload, capacity)
            return self._batch_get_item(payload, capacity)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise _invalid(f"simulator could not read the request: {error!r}") from None

    def _get_item(self, payload: Mapping[str, Any], capacity: str) -> bytes:
        table = self._tables[payload["TableName"]]
        projection = self._projection(payload, table)
        item = table.items.get(table.identity(payload["Key"]))
        units = (item.units if item is not None else 1) * _unit_factor(payload)
        self._read_units += units
        body = b"{}" if item is None else b'{"Item":%s}' % _render(item, projection)
        if capacity == "NONE":
            return body
        consumed = orjson.dumps({"ConsumedCapacity": _consumed(table.name, units, capacity)})
        return body[:-1] + (b"," if item is not None else b"") + consumed[1:]

    def _batch_get_item(self, payload: Mapping[str, Any], capacity: str) -> bytes:
        plans = []
        total = 0
        for name, request in payload["RequestItems"].items():
            table = self._tables[name]
            keys = request["Keys"]
            if not keys:
                raise _invalid(
                    "1 validation error detected: Keys must have length greater than or equal to 1"
                )
            total += len(keys)
            if total > MAX_BATCH_KEYS:
                raise _invalid("Too many items requested for the BatchGetItem call")
            projection = self._projection(request, table)
            identities = [table.identity(key) for key in keys]
            if len(set(identities)) != len(identities):
                raise _invalid("Provided list of item keys contains duplicates")
            plans.append((table, request, identities, projection))
        leaving = self._to_leave > 0
        answers, unprocessed, consumed = [], {}, []
        answer_bytes = left = 0
        read_units = 0.0
        for table, request, identities, projection in plans:
            served = len(identities) - len(identities) // 2 if leaving else len(identities)
            if served < len(identities):
                unprocessed[table.name] = {**request, "Keys": request["Keys"][served:]}
                left += len(identities) - served
            rendered = []
            units = 0
            for identity in identities[:served]:
                item = table.items.get(identity)
                if item is None:
                    units += 1
                    continue
                units += item.units
                answer_bytes += item.size
                rendered.append(_render(item, projection))
            table_units = units * _unit_factor(request)
            read_units += table_units
            consumed.append(_consumed(table.name, table_units, capacity))
            answers.append(orjson.dumps(table.name) + b":[" + b",".join(rendered) + b"]")
        if answer_bytes > MAX_ANSWER_BYTES:
            raise unsupported(
                f"a BatchGetItem answer of {answer_bytes} bytes, over 16 MB (DynamoDB answers part)"
            )
        self._read_units += read_units
        self._unprocessed_keys += left
        if left:
            self._to_leave -= 1
        body = b'{"Responses":{%s},"UnprocessedKeys":%s' % (b",".join(answers), orjson.dumps(unprocessed))
        if capacity != "NONE":
            body += b',"ConsumedCapacity":' + orjson.dumps(consumed)
        return body + b"}"

    def _projection(self, request: Mapping[str, Any], table: TableCopy) -> Projection | None:
        """The request's projection (cached: a client sends the same few again and again), checked."""
        if "AttributesToGet" in request:
            raise unsupported("AttributesToGet (the legacy parameter); use ProjectionExpression")
        expression = request.get("ProjectionExpression")
        names = request.get("ExpressionAttributeNames")
        if expression is None:
            if names is not None:
                raise _invalid("ExpressionAttributeNames can only be specified when using expressions")
            return None
        if names is not None and not names:
            raise _invalid("ExpressionAttributeNames must not be empty")
        cache_key = (expression, tuple(names.items()) if names else ())
        projection = self._projections.get(cache_key)
        if projection is None:
            projection = Projection.parse(expression, names or {})
            if len(self._projections) >= _PROJECTION_CACHE_SIZE:
                self._projections.clear()
            self._projections[cache_key] = projection
        if projection.top is None:
            for name, paths in projection.groups:
                if name in table.keys and paths != ((),):
                    raise _invalid(
                        "Key attributes must be scalars; list random access '[]' and map lookup '.' are "
                        f"not allowed: Key: {name}"
                    )
        return projection


def _render(item: StoredItem, projection: Projection | None) -> bytes:
    return item.whole if projection is None else projection.render(item)


def _unit_factor(request: Mapping[str, Any]) -> float:
    consistent = request.get("ConsistentRead", False)
    if not isinstance(consistent, bool):
        raise _invalid(f"ConsistentRead must be a boolean, not {consistent!r}")
    return 1.0 if consistent else 0.5


def _consumed(table: str, units: float, mode: str) -> dict[str, Any]:
    """One table's ConsumedCapacity, as the write side's answers have it (``writes.capacity_answer``)."""
    consumed: dict[str, Any] = {"TableName": table, "CapacityUnits": units, "ReadCapacityUnits": units}
    if mode == "INDEXES":
        consumed["Table"] = {"CapacityUnits": units, "ReadCapacityUnits": units}
    return consumed
