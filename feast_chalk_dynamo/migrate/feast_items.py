"""Items of Feast's DynamoDB store, read back as the rows Feast wrote.

Feast's item (``feast/infra/online_stores/dynamodb.py``, 0.67):
``{"entity_id": S (hash of the entity key), "event_ts": S (str of the
tz-aware event time), "values": M {feature: B (serialized Value)}}``. The
created time is not stored, and a null feature is a Value with nothing set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as ValueProto

ENTITY_ID = "entity_id"
EVENT_TS = "event_ts"
VALUES = "values"


class NotAFeastItem(ValueError):
    """An item not shaped as Feast's DynamoDB store writes them: the wrong table, most likely."""


@dataclass(frozen=True)
class FeastRow:
    entity_id: str
    values: dict[str, ValueProto]
    event_ts: datetime


def feast_row(item: dict[str, Any]) -> FeastRow:
    """The row in one scanned item (low-level client shape), as Feast's own read would return it."""
    try:
        entity_id = item[ENTITY_ID]["S"]
        event_ts = datetime.fromisoformat(item[EVENT_TS]["S"])
        values = {name: ValueProto.FromString(attr["B"]) for name, attr in item[VALUES]["M"].items()}
    except (KeyError, TypeError, ValueError) as error:
        shown = {name: item[name] for name in list(item)[:3]}
        raise NotAFeastItem(f"not an item of Feast's DynamoDB store ({error!r}): {shown}") from None
    return FeastRow(entity_id, values, event_ts)


def feast_entity_id(item: dict[str, Any]) -> str:
    """The entity id alone, for an item scanned with only its key."""
    return str(item[ENTITY_ID]["S"])
