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

from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feast_chalk_dynamo.codec import encode_value, item_size
from feast_chalk_dynamo.errors import ItemTooLarge
from feast_chalk_dynamo.expressions import placeholder_suffix, update_fits
from feast_chalk_dynamo.layout import ENTITY_SK, EXPIRY_ATTR, MAX_ITEM_BYTES, PK, SK, describe_entity
from feast_chalk_dynamo.reader import FeatureSlot, datetime_to_micros

# The only-newer guard; the observed-at time is always placeholder 0.
GUARD = "attribute_not_exists(#0) OR #0 <= :0"


@dataclass(frozen=True)
class WriteLayout:
    """Where one view's row goes, and how long the entity item may live.

    ``item_ttl_seconds`` is None when the item must never expire as a whole
    (Chalk-style expiry off, or some view on the same entity has no ttl).
    ``view_names`` names the views of the project by timestamp attribute,
    for errors about a full item.
    """

    view: str
    ts_attr: str
    values_attr: str
    features: dict[str, FeatureSlot]
    item_ttl_seconds: int | None
    view_names: dict[str, str] = field(default_factory=dict)


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


def encode_update(layout: WriteLayout, row: EntityRow, table: str, guarded: bool, now: float) -> RowUpdate:
    """One UpdateItem that writes the whole row, or nothing: never half a row.

    The view's features are SET attribute by attribute (and the values map
    removed) when the expression fits DynamoDB's 4 KB; a row of a view too
    wide for that goes in as one map attribute instead. Either way the
    timestamp, the values and the guard are one request. ``now`` (epoch
    seconds) dates the item's expiry when Chalk-style expiry is on.
    """
    micros = datetime_to_micros(row.event_ts)
    stamp = {"N": str(micros)}
    features: dict[str, Any] = {}
    nulls: list[str] = []
    for name, value in row.values.items():
        slot = layout.features.get(name)
        if slot is None or slot.attr is None:
            continue  # not a feature of this view's schema
        encoded = encode_value(value, slot.field)
        if encoded is None:  # null: drop any older value rather than keep it
            nulls.append(slot.attr)
        else:
            features[slot.attr] = encoded
    expiry: dict[str, Any] = {}
    if layout.item_ttl_seconds is not None:
        seconds = math.ceil(max(now, micros / 1e6) + layout.item_ttl_seconds)
        expiry[EXPIRY_ATTR] = {"N": str(seconds)}
    # The timestamp is placeholder 0 (the guard refers to it), always.
    request = _update(
        {layout.ts_attr: stamp, **features, **expiry},
        [*nulls, layout.values_attr, *([] if expiry else [EXPIRY_ATTR])],
    )
    if not update_fits(request["UpdateExpression"], request["ExpressionAttributeNames"]):
        packed = {layout.values_attr: {"M": features}}
        request = _update({layout.ts_attr: stamp, **packed, **expiry}, [] if expiry else [EXPIRY_ATTR])
    key = {PK: {"S": row.key}, SK: {"S": ENTITY_SK}}
    size = item_size({**key, layout.ts_attr: stamp, **features})
    if size > MAX_ITEM_BYTES:
        raise ItemTooLarge(
            f"row of view {layout.view!r} for entity {describe_entity(row.key)} is {size} bytes on its "
            f"own; a DynamoDB item holds at most {MAX_ITEM_BYTES}; nothing was written"
        )
    request["TableName"] = table
    request["Key"] = key
    if guarded:
        request["ConditionExpression"] = GUARD
    return RowUpdate(row.key, request, size)


def _update(assigned: dict[str, Any], removed: list[str]) -> dict[str, Any]:
    """UpdateExpression with the shortest placeholders: ``SET #0 = :0, … REMOVE #k, …``."""
    names = {f"#{placeholder_suffix(i)}": attr for i, attr in enumerate([*assigned, *removed])}
    placeholders = list(names)
    values = {f":{p[1:]}": value for p, value in zip(placeholders, assigned.values(), strict=False)}
    expression = "SET " + ", ".join(f"{p} = :{p[1:]}" for p in placeholders[: len(assigned)])
    if removed:
        expression += " REMOVE " + ", ".join(placeholders[len(assigned) :])
    return {
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


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
