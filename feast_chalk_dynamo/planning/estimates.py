"""Entity items sized from the registry alone: each view's row as a write would encode made-up values.

Before a table holds data (when sizing it, or its Terraform), a row's size
can only come from its features' types. Each feature gets a representative
value of its type, and the row is encoded by the write path's own encoder
(``planning.item_sizes``: native types, short ids, the view's timestamp) and
measured by DynamoDB's rules, so a view of wide maps or long lists costs
what such rows would. The representative values (``Assumptions``):

* strings and bytes of ``string_bytes`` bytes; lists and sets of
  ``list_items`` elements; a map or JSON object of ``list_items`` entries,
  each an 8-byte key and a string of ``string_bytes``; a struct, one value
  per field;
* integers of 6 digits, doubles of 17 significant digits and floats of 9
  (a random value's), timestamps of this century (10 digits), decimals of
  8 digits, UUIDs as 16 bytes;
* every feature set (a null would take its id and 1 byte), event times with
  microseconds, join-key values as features of their type.

Ids are the ones ``feast apply`` allocated where the table is reachable,
else 3 characters each (``item_sizes.Ids``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from feast.feature_view import DUMMY_ENTITY_ID, DUMMY_ENTITY_VAL
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import python_values_to_proto_values
from feast.types import Array, FeastType, PrimitiveFeastType, Set, Struct

from feast_chalk_dynamo.items.codec import item_size
from feast_chalk_dynamo.items.layout import EXPIRY_ATTR
from feast_chalk_dynamo.items.names import versioned_view_name
from feast_chalk_dynamo.planning.item_sizes import Ids, RowSizer, project_id, view_layout
from feast_chalk_dynamo.writes import WriteLayout

DEFAULT_STRING_BYTES = 16
DEFAULT_LIST_ITEMS = 10
MAP_KEY_BYTES = 8
# An event time with microseconds; timestamps and expiry times are of the same moment.
EVENT_TIME = datetime(2025, 6, 1, 12, 34, 56, 789012, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Assumptions:
    string_bytes: int = DEFAULT_STRING_BYTES
    list_items: int = DEFAULT_LIST_ITEMS


def _text(size: int, index: int) -> str:
    """``size`` characters, distinct for each ``index`` (a set's elements must differ to count)."""
    return ("x" * size + str(index))[-size:]


# Index i gives the i-th of distinct values of a type, for sets.
_PRIMITIVES: dict[PrimitiveFeastType, Callable[[Assumptions, int], Any]] = {
    PrimitiveFeastType.STRING: lambda a, i: _text(a.string_bytes, i),
    PrimitiveFeastType.BYTES: lambda a, i: _text(a.string_bytes, i).encode(),
    PrimitiveFeastType.PDF_BYTES: lambda a, i: _text(a.string_bytes, i).encode(),
    PrimitiveFeastType.IMAGE_BYTES: lambda a, i: _text(a.string_bytes, i).encode(),
    PrimitiveFeastType.INT32: lambda a, i: 100_000 + i,
    PrimitiveFeastType.INT64: lambda a, i: 100_000 + i,
    PrimitiveFeastType.FLOAT64: lambda a, i: 0.12345678901234568 + i,
    PrimitiveFeastType.FLOAT32: lambda a, i: 0.123456789 + i,
    PrimitiveFeastType.BOOL: lambda a, i: i % 2 == 0,
    PrimitiveFeastType.UNIX_TIMESTAMP: lambda a, i: EVENT_TIME + timedelta(seconds=i),
    PrimitiveFeastType.ZONED_TIMESTAMP: lambda a, i: EVENT_TIME + timedelta(seconds=i),
    PrimitiveFeastType.UUID: lambda a, i: str(uuid.UUID(int=i + 1)),
    PrimitiveFeastType.TIME_UUID: lambda a, i: str(uuid.UUID(int=i + 1)),
    PrimitiveFeastType.DECIMAL: lambda a, i: Decimal("12345.678") + i,
    PrimitiveFeastType.MAP: lambda a, i: _mapping(a),
    PrimitiveFeastType.JSON: lambda a, i: json.dumps(_mapping(a)),
    PrimitiveFeastType.SCALAR_MAP: lambda a, i: {n: _text(a.string_bytes, n) for n in range(a.list_items)},
}


def _mapping(assumptions: Assumptions) -> dict[str, str]:
    return {
        _text(MAP_KEY_BYTES, n): _text(assumptions.string_bytes, n) for n in range(assumptions.list_items)
    }


def sample_value(dtype: FeastType, assumptions: Assumptions, index: int = 0) -> Any:
    """A representative Python value of a Feast type (see the module docstring)."""
    if isinstance(dtype, Struct):
        return {name: sample_value(field, assumptions) for name, field in dtype.fields.items()}
    if isinstance(dtype, (Array, Set)):
        return [sample_value(dtype.base_type, assumptions, n) for n in range(assumptions.list_items)]
    sample = _PRIMITIVES.get(dtype) if isinstance(dtype, PrimitiveFeastType) else None
    if sample is None:
        raise ValueError(f"no representative value for the Feast type {dtype}")
    return sample(assumptions, index)


def sample_proto(dtype: FeastType, assumptions: Assumptions) -> ValueProto:
    proto: ValueProto = python_values_to_proto_values(
        [sample_value(dtype, assumptions)], dtype.to_value_type()
    )[0]
    return proto


def join_keys(view: Any) -> tuple[str, ...]:
    """The view's join keys, sorted as the entity key's encoding sorts them (a view without
    entities is keyed by Feast's dummy entity)."""
    return tuple(sorted(column.name for column in view.entity_columns)) or (DUMMY_ENTITY_ID,)


def sample_key(view: Any, assumptions: Assumptions) -> EntityKeyProto:
    columns = sorted(view.entity_columns, key=lambda column: column.name)
    if not columns:
        return EntityKeyProto(
            join_keys=[DUMMY_ENTITY_ID], entity_values=[ValueProto(string_val=DUMMY_ENTITY_VAL)]
        )
    return EntityKeyProto(
        join_keys=[column.name for column in columns],
        entity_values=[sample_proto(column.dtype, assumptions) for column in columns],
    )


@dataclass(frozen=True)
class ViewShape:
    """One view's row: its namespace, estimated bytes, and the attributes it writes (to measure)."""

    namespace: str
    estimated_bytes: int
    ts_attr: str  # on an item exactly when it holds a row of the view
    attributes: frozenset[str]


@dataclass(frozen=True)
class ItemShape:
    """One kind of entity item as the registry defines it."""

    join_keys: tuple[str, ...]
    views: list[ViewShape]
    key_bytes: int
    other_bytes: int  # the expiry attribute, with Chalk-style expiry and a ttl on every view


def estimate_items(
    project: str,
    views: Sequence[Any],
    versioning: bool,
    ids: Ids,
    assumptions: Assumptions,
    chalk_style_expiry: bool,
) -> list[ItemShape]:
    """Each kind of entity item the views make, their rows sized from their features' types."""
    entity_project = project_id(project, ids)
    grouped: dict[tuple[str, ...], list[Any]] = {}
    for view in views:
        grouped.setdefault(join_keys(view), []).append(view)
    shapes = []
    for keys, keyed_alike in grouped.items():
        key = sample_key(keyed_alike[0], assumptions)
        rows, key_bytes = [], 0
        for view in keyed_alike:
            layout = view_layout(project, versioned_view_name(view, versioning), view, ids)
            sizer = RowSizer(entity_project, layout)
            values = {field.name: sample_proto(field.dtype, assumptions) for field in view.features}
            rows.append(
                ViewShape(layout.view, sizer(key, values, EVENT_TIME), layout.ts_attr, _attributes(layout))
            )
            key_bytes = sizer.key_bytes(key)
        expires = chalk_style_expiry and all(getattr(view, "ttl", None) for view in keyed_alike)
        expiry = {EXPIRY_ATTR: {"N": str(int(EVENT_TIME.timestamp()))}}
        shapes.append(ItemShape(keys, rows, key_bytes, item_size(expiry) if expires else 0))
    return shapes


def _attributes(layout: WriteLayout) -> frozenset[str]:
    """Every attribute a row of the view may write: its timestamp, its features, or its values map."""
    features = {slot.attr for slot in layout.features.values() if slot.attr is not None}
    return frozenset({layout.ts_attr, layout.values_attr} | features)
