"""The bytes a row adds to this store's entity item, as a write would encode it.

Each row is encoded by the write path's own ``RowEncoder`` (native types,
short attribute ids, the view's timestamp) and measured by DynamoDB's size
rules (``codec.item_size``). Ids are the ones ``feast apply`` allocated where
there are some; elsewhere made up at 3 characters (the table's first 46,656
ids have at most 3), which overstates by a byte or two per feature. Used by
the capacity planner's estimates and by ``migrate --dry-run``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import datetime

from feast import FeatureView
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feast_chalk_dynamo.items.codec import AttributeValue, item_size, value_field_for
from feast_chalk_dynamo.items.layout import (
    ENTITY_SK,
    PK,
    SK,
    encode_entity_key,
    short_id,
    ts_attr,
    values_attr,
)
from feast_chalk_dynamo.items.names import dtype_name, feature_name, namespace_name, project_name
from feast_chalk_dynamo.items.slots import FeatureSlot
from feast_chalk_dynamo.writes import EntityRow, WriteLayout
from feast_chalk_dynamo.writes.rows import RowEncoder

# DynamoDB bills storage as the items' bytes plus 100 bytes per item ("Item sizes and formats").
STORAGE_OVERHEAD_BYTES = 100

# A name of this store's mapping -> its allocated id, or None.
IdLookup = Callable[[str], "str | None"]


class Ids:
    """Allocated ids where there are some; made-up ids of 3 characters where not, one per name (the
    definitions that read one table share the ids of the features they share)."""

    def __init__(self, lookup: IdLookup) -> None:
        self._lookup = lookup
        self._made_up = (short_id(n) for n in itertools.count(36**2))
        self._given: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        found = self._lookup(name)
        if found is not None:
            return found
        if name not in self._given:
            self._given[name] = next(self._made_up)
        return self._given[name]


def view_layout(project: str, namespace: str, view: FeatureView, ids: Ids) -> WriteLayout:
    """The view's write layout as a write would build it, with ids that are allocated or made up."""
    slots = {
        field.name: FeatureSlot(
            field.name,
            ids(feature_name(project, namespace, field.name, dtype_name(field))),
            value_field_for(field.dtype.to_value_type()),
        )
        for field in view.features
    }
    namespace_id = ids(namespace_name(project, namespace))
    return WriteLayout(
        view=namespace,
        ts_attr=ts_attr(namespace_id),
        values_attr=values_attr(namespace_id),
        features=slots,
        item_ttl_seconds=None,
    )


class RowSizer:
    """Bytes one view's row adds to this store's entity item (the attributes its update would SET),
    and the bytes of the item's key."""

    def __init__(self, project_id: str, layout: WriteLayout) -> None:
        self._project_id = project_id
        self._encode = RowEncoder(layout, "dry-run", guarded=False, now=time.time())

    def __call__(self, key: EntityKeyProto, values: dict[str, ValueProto], event_ts: datetime) -> int:
        pk = encode_entity_key(self._project_id, key)
        request = self._encode(EntityRow(pk, values, event_ts)).request
        return item_size(assigned_attributes(request))

    def key_bytes(self, key: EntityKeyProto) -> int:
        pk = encode_entity_key(self._project_id, key)
        return item_size({PK: {"S": pk}, SK: {"S": ENTITY_SK}})


def project_id(project: str, ids: Ids) -> str:
    return ids(project_name(project))


def assigned_attributes(request: dict[str, object]) -> dict[str, AttributeValue]:
    """The attributes an UpdateItem request SETs: ``RowEncoder`` writes ``SET #k = :k`` for each."""
    names = request["ExpressionAttributeNames"]
    values = request["ExpressionAttributeValues"]
    assert isinstance(names, dict) and isinstance(values, dict)
    return {names["#" + placeholder[1:]]: value for placeholder, value in values.items()}
