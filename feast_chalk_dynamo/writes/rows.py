"""Feast rows as UpdateItem requests: one per entity row, the whole row or nothing.

An UpdateItem touches only the attributes of the view being written, so the
other views sharing the entity's item are left alone; a put would erase them.
With a guard the update is conditional on the stored observed-at time not
being newer, so a late or replayed batch can never overwrite fresher data.
The same request serves as an ``Update`` action of a transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feast_chalk_dynamo.dynamo.expressions import placeholder_suffix, update_fits
from feast_chalk_dynamo.errors import ItemTooLarge
from feast_chalk_dynamo.items.codec import encoder_for, item_size
from feast_chalk_dynamo.items.layout import ENTITY_SK, EXPIRY_ATTR, MAX_ITEM_BYTES, PK, SK, describe_entity
from feast_chalk_dynamo.items.slots import FeatureSlot, datetime_to_micros

# The only-newer guard; the observed-at time is always placeholder 0.
GUARD = "attribute_not_exists(#0) OR #0 <= :0"


@dataclass(frozen=True)
class WriteLayout:
    """Where one view's row goes, and how long the entity item may live.

    ``item_ttl_seconds`` is None when the item must never expire as a whole
    (Chalk-style expiry off, or some view on the same entity has no ttl).
    ``view_names`` names the views of the project by timestamp attribute,
    for errors about a full item. ``clear_attrs`` are the view's other
    feature ids (other dtypes, recently retired): every row removes them, so
    a reader resolving one finds nothing rather than an older row's value
    under this row's time (``names.NameRegistry.ids_to_clear``).
    """

    view: str
    ts_attr: str
    values_attr: str
    features: dict[str, FeatureSlot]
    item_ttl_seconds: int | None
    view_names: dict[str, str] = field(default_factory=dict)
    clear_attrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntityRow:
    key: str
    values: dict[str, ValueProto]
    event_ts: datetime


@dataclass(frozen=True)
class RowUpdate:
    """One row's UpdateItem request, and the bytes it writes (for sizing transactions)."""

    key: str
    request: dict[str, Any]
    size: int


@dataclass(frozen=True)
class _Shape:
    """What every row with the same attributes shares: the expression and its names."""

    expression: str
    names: dict[str, str]
    value_placeholders: tuple[str, ...]


class RowEncoder:
    """Encodes the rows of one view for one write: one UpdateItem per row, the whole row or nothing.

    The view's features are SET attribute by attribute, a null as NULL (and
    the values map and the features the row lacks removed) when the
    expression fits DynamoDB's 4 KB; a row of a view too wide for that goes
    in as one map attribute instead. Either way the timestamp, the values
    and the guard are one request. ``now`` (epoch seconds) dates the item's
    expiry when Chalk-style expiry is on.

    Rows of a batch nearly always set the same attributes, so the expression
    and its name map are built once per shape and shared by the requests
    (nothing modifies a request after it is built).
    """

    def __init__(self, layout: WriteLayout, table: str, guarded: bool, now: float) -> None:
        self._layout = layout
        self._table = table
        self._guarded = guarded
        self._now = now
        self._features = {
            name: (slot.attr, encoder_for(slot.field))
            for name, slot in layout.features.items()
            if slot.attr is not None  # a feature of the schema without an id is never written
        }
        self._shapes: dict[tuple[tuple[str, ...], tuple[str, ...]], _Shape | None] = {}
        # An attribute both set and removed is an error to DynamoDB (a layout merged from several
        # definitions of one namespace, as migrate writes, sets ids another one would clear).
        written = {attr for attr, _ in self._features.values()}
        self._clear = [attr for attr in layout.clear_attrs if attr not in written]

    def __call__(self, row: EntityRow) -> RowUpdate:
        layout = self._layout
        micros = datetime_to_micros(row.event_ts)
        stamp = {"N": str(micros)}
        features: dict[str, Any] = {}
        lacking: list[str] = []
        values = row.values
        # The view's features in the layout's order, whatever the row's (a value of none of them is
        # not written): the rows of a batch then share one shape.
        for name, (attr, encode) in self._features.items():
            value = values.get(name)
            if value is None:
                # A feature the row lacks goes, as the map form drops it: a read answers
                # NOT_FOUND, never an older value under this row's time.
                lacking.append(attr)
            else:
                features[attr] = encode(value)  # a null too: NULL, so it reads as written
        expiry: dict[str, Any] = {}
        if layout.item_ttl_seconds is not None:
            seconds = math.ceil(max(self._now, micros / 1e6) + layout.item_ttl_seconds)
            expiry[EXPIRY_ATTR] = {"N": str(seconds)}
        unexpired = [] if expiry else [EXPIRY_ATTR]
        # The timestamp is placeholder 0 (the guard refers to it), always.
        assigned = {layout.ts_attr: stamp, **features, **expiry}
        request = self._update(assigned, [*lacking, *self._clear, layout.values_attr, *unexpired])
        if request is None:
            packed = {layout.ts_attr: stamp, layout.values_attr: {"M": features}, **expiry}
            request = self._update(packed, unexpired)
            assert request is not None  # a few attributes always fit
        key = {PK: {"S": row.key}, SK: {"S": ENTITY_SK}}
        size = self._size_at_most(row, key, stamp, features)
        request["TableName"] = self._table
        request["Key"] = key
        if self._guarded:
            request["ConditionExpression"] = GUARD
        return RowUpdate(row.key, request, size)

    def _update(self, assigned: dict[str, Any], removed: list[str]) -> dict[str, Any] | None:
        """``SET #0 = :0, … REMOVE #k, …`` with the shortest placeholders, or None past the limits."""
        signature = (tuple(assigned), tuple(removed))
        if signature not in self._shapes:
            self._shapes[signature] = _shape(*signature)
        shape = self._shapes[signature]
        if shape is None:
            return None
        return {
            "UpdateExpression": shape.expression,
            "ExpressionAttributeNames": shape.names,
            "ExpressionAttributeValues": dict(zip(shape.value_placeholders, assigned.values(), strict=True)),
        }

    def _size_at_most(
        self, row: EntityRow, key: dict[str, Any], stamp: dict[str, Any], features: dict[str, Any]
    ) -> int:
        """The row's bytes, or more: its JSON is longer than DynamoDB's measure of it.

        (Every name and value costs more in JSON than in DynamoDB's size
        rules: quotes, type tags, digits against half-bytes, base64.) Only a
        row near the 400 KB limit pays for the exact measure.
        """
        bound = (
            len(orjson.dumps(features, default=str)) + len(row.key.encode()) + len(self._layout.ts_attr) + 32
        )
        if bound <= MAX_ITEM_BYTES:
            return bound
        size = item_size({**key, self._layout.ts_attr: stamp, **features})
        if size > MAX_ITEM_BYTES:
            raise ItemTooLarge(
                f"row of view {self._layout.view!r} for entity {describe_entity(row.key)} is {size} bytes "
                f"on its own; a DynamoDB item holds at most {MAX_ITEM_BYTES}; nothing was written"
            )
        return size


def _shape(assigned: tuple[str, ...], removed: tuple[str, ...]) -> _Shape | None:
    placeholders = [f"#{placeholder_suffix(i)}" for i in range(len(assigned) + len(removed))]
    names = dict(zip(placeholders, [*assigned, *removed], strict=True))
    expression = "SET " + ", ".join(f"{p} = :{p[1:]}" for p in placeholders[: len(assigned)])
    if removed:
        expression += " REMOVE " + ", ".join(placeholders[len(assigned) :])
    if not update_fits(expression, names):
        return None
    return _Shape(expression, names, tuple(f":{p[1:]}" for p in placeholders[: len(assigned)]))


def newest_per_key(rows: Sequence[EntityRow]) -> list[EntityRow]:
    """One row per entity, the newest (the later one on a tie), as a guarded write would keep.

    A transaction may not touch one item twice, and a parallel write of two
    rows of one entity would race; both need this first.
    """
    newest: dict[str, EntityRow] = {}
    for row in rows:
        current = newest.get(row.key)
        if current is None or datetime_to_micros(row.event_ts) >= datetime_to_micros(current.event_ts):
            newest[row.key] = row
    return list(newest.values())
