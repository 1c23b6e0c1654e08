"""The write path: one guarded UpdateItem per entity row.

An UpdateItem touches only the attributes of the view being written, so the
other views sharing the entity's item are left alone. With
``only_write_newer_values`` the update is conditional on the stored
observed-at time not being newer, so a late or replayed batch can never
overwrite fresher data; such a skipped row is counted, not raised.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feast_chalk_dynamo.caller import Caller
from feast_chalk_dynamo.codec import encode_value, item_size
from feast_chalk_dynamo.errors import ItemTooLarge
from feast_chalk_dynamo.layout import ENTITY_SK, EXPIRY_ATTR, MAX_ITEM_BYTES, PK, SK, TS_PREFIX
from feast_chalk_dynamo.reader import FeatureSlot, datetime_to_micros
from feast_chalk_dynamo.settings import DynamoSettings

Item = dict[str, Any]


@dataclass(frozen=True)
class WriteLayout:
    """Where one view's row goes, and how long the entity item may live.

    ``item_ttl_seconds`` is None when some view on the same entity has no
    ttl: then the item must never expire as a whole.
    """

    view: str
    ts_attr: str
    features: dict[str, FeatureSlot]
    item_ttl_seconds: int | None


@dataclass(frozen=True)
class EntityRow:
    key: str
    values: dict[str, ValueProto]
    event_ts: datetime


@dataclass
class WriteStats:
    """What writes did, for tests and metrics: rows written, rows skipped as stale."""

    written: int = 0
    stale_skipped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, written: int = 0, stale_skipped: int = 0) -> None:
        with self._lock:
            self.written += written
            self.stale_skipped += stale_skipped


class Writer:
    def __init__(
        self,
        caller: Caller,
        settings: DynamoSettings,
        serde_pool: ThreadPoolExecutor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._caller = caller
        self._settings = settings
        self._serde_pool = serde_pool
        self._clock = clock
        self.stats = WriteStats()

    async def write(
        self,
        layout: WriteLayout,
        rows: Sequence[EntityRow],
        progress: Callable[[int], Any] | None = None,
    ) -> None:
        """Write rows, a few per client thread in flight, reporting progress as each lands.

        Every row is encoded (on the serde pool) before any is sent, so a row
        that cannot be stored fails the batch before anything is written. The
        first write failure is raised after the rows already in flight finish:
        a failed write is never reported as done.
        """
        newest = _newest_per_key(rows)
        loop = asyncio.get_running_loop()
        requests = await loop.run_in_executor(
            self._serde_pool, lambda: [(row, self._update_request(layout, row)) for row in newest]
        )
        if progress and len(newest) < len(rows):
            progress(len(rows) - len(newest))  # superseded rows are done already
        in_flight = asyncio.Semaphore(4 * self._settings.client_threads)

        async def write_one(row: EntityRow, request: dict[str, Any]) -> None:
            async with in_flight:
                await self._send(layout, row, request)
            if progress:
                progress(1)

        results = await asyncio.gather(*(write_one(*pair) for pair in requests), return_exceptions=True)
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            raise failures[0]

    async def _send(self, layout: WriteLayout, row: EntityRow, request: dict[str, Any]) -> None:
        try:
            await self._caller.call("UpdateItem", request)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "ConditionalCheckFailedException":
                self.stats.add(stale_skipped=1)
                return
            if code == "ValidationException" and "size" in str(error).lower():
                raise await self._too_large(layout, row, str(error)) from error
            raise
        self.stats.add(written=1)

    def _update_request(self, layout: WriteLayout, row: EntityRow) -> dict[str, Any]:
        micros = datetime_to_micros(row.event_ts)
        assigned: dict[str, Any] = {layout.ts_attr: {"N": str(micros)}}
        removed: list[str] = []
        for name, value in row.values.items():
            slot = layout.features.get(name)
            if slot is None or slot.attr is None:
                continue  # not a feature of this view's schema
            encoded = encode_value(value, slot.field)
            if encoded is None:  # null: drop any older value rather than keep it
                removed.append(slot.attr)
            else:
                assigned[slot.attr] = encoded
        if layout.item_ttl_seconds is None:
            removed.append(EXPIRY_ATTR)
        else:
            expiry = math.ceil(max(self._clock(), micros / 1e6) + layout.item_ttl_seconds)
            assigned[EXPIRY_ATTR] = {"N": str(expiry)}
        size = item_size({PK: {"S": row.key}, SK: {"S": ENTITY_SK}, **assigned})
        if size > MAX_ITEM_BYTES:
            raise ItemTooLarge(
                f"row of view {layout.view!r} for entity {row.key!r} is {size} bytes on its own; "
                f"a DynamoDB item holds at most {MAX_ITEM_BYTES}; nothing was written"
            )
        # Placeholders for every name: short ids can collide with reserved words.
        names = {f"#a{i}": attr for i, attr in enumerate([*assigned, *removed])}
        values = {f":a{i}": value for i, value in enumerate(assigned.values())}
        placeholders = list(names)
        expression = "SET " + ", ".join(f"{placeholders[i]} = :a{i}" for i in range(len(assigned)))
        if removed:
            expression += " REMOVE " + ", ".join(placeholders[len(assigned) :])
        request: dict[str, Any] = {
            "TableName": self._settings.table_name,
            "Key": {PK: {"S": row.key}, SK: {"S": ENTITY_SK}},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if self._settings.only_write_newer_values:
            # #a0/:a0 are the view's timestamp: assigned first, above.
            request["ConditionExpression"] = "attribute_not_exists(#a0) OR #a0 <= :a0"
        return request

    async def _too_large(self, layout: WriteLayout, row: EntityRow, reason: str) -> ItemTooLarge:
        """Explain which views fill an item that DynamoDB refused as too large."""
        response = await self._caller.call(
            "GetItem",
            {"TableName": self._settings.table_name, "Key": {PK: {"S": row.key}, SK: {"S": ENTITY_SK}}},
        )
        item = response.get("Item", {})
        views = sorted(name for name in item if name.startswith(TS_PREFIX))
        return ItemTooLarge(
            f"writing view {layout.view!r} would push the item of entity {row.key!r} past "
            f"DynamoDB's {MAX_ITEM_BYTES}-byte limit; it already holds {item_size(item)} bytes "
            f"from views with timestamp attributes {views}; nothing was written ({reason})"
        )


def _newest_per_key(rows: Sequence[EntityRow]) -> list[EntityRow]:
    """Keep one row per entity, the newest (the later one on a tie), as a guarded write would."""
    newest: dict[str, EntityRow] = {}
    for row in rows:
        current = newest.get(row.key)
        if current is None or datetime_to_micros(row.event_ts) >= datetime_to_micros(current.event_ts):
            newest[row.key] = row
    return list(newest.values())
