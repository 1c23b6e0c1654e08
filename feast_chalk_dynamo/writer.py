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
from feast_chalk_dynamo.expressions import placeholder_suffix, update_fits
from feast_chalk_dynamo.layout import (
    ENTITY_SK,
    EXPIRY_ATTR,
    MAX_ITEM_BYTES,
    PK,
    SK,
    TS_PREFIX,
    describe_entity,
)
from feast_chalk_dynamo.reader import FeatureSlot, datetime_to_micros
from feast_chalk_dynamo.settings import DynamoSettings

Item = dict[str, Any]


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
        """One UpdateItem that writes the whole row, or nothing: never half a row.

        The view's features are SET attribute by attribute (and the values map
        removed) when the expression fits DynamoDB's 4 KB; a row of a view too
        wide for that goes in as one map attribute instead. Either way the
        timestamp, the values and the guard are one request.
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
            seconds = math.ceil(max(self._clock(), micros / 1e6) + layout.item_ttl_seconds)
            expiry[EXPIRY_ATTR] = {"N": str(seconds)}
        # The timestamp is placeholder 0 (the guard refers to it), always.
        request = _update(
            {layout.ts_attr: stamp, **features, **expiry},
            [*nulls, layout.values_attr, *([] if expiry else [EXPIRY_ATTR])],
        )
        if not update_fits(request["UpdateExpression"], request["ExpressionAttributeNames"]):
            packed = {layout.values_attr: {"M": features}}
            request = _update({layout.ts_attr: stamp, **packed, **expiry}, [] if expiry else [EXPIRY_ATTR])
        size = item_size({PK: {"S": row.key}, SK: {"S": ENTITY_SK}, **{layout.ts_attr: stamp}, **features})
        if size > MAX_ITEM_BYTES:
            raise ItemTooLarge(
                f"row of view {layout.view!r} for entity {describe_entity(row.key)} is {size} bytes on its "
                f"own; a DynamoDB item holds at most {MAX_ITEM_BYTES}; nothing was written"
            )
        request["TableName"] = self._settings.table_name
        request["Key"] = {PK: {"S": row.key}, SK: {"S": ENTITY_SK}}
        if self._settings.only_write_newer_values:
            request["ConditionExpression"] = "attribute_not_exists(#0) OR #0 <= :0"
        return request

    async def _too_large(self, layout: WriteLayout, row: EntityRow, reason: str) -> ItemTooLarge:
        """Explain which views fill an item that DynamoDB refused as too large."""
        response = await self._caller.call(
            "GetItem",
            {"TableName": self._settings.table_name, "Key": {PK: {"S": row.key}, SK: {"S": ENTITY_SK}}},
        )
        item = response.get("Item", {})
        views = sorted(
            layout.view_names.get(name, f"a removed view ({name})")
            for name in item
            if name.startswith(TS_PREFIX)
        )
        return ItemTooLarge(
            f"writing view {layout.view!r} would push the item of entity {describe_entity(row.key)} past "
            f"DynamoDB's {MAX_ITEM_BYTES}-byte limit; it already holds {item_size(item)} bytes "
            f"from views {views}; nothing was written ({reason})"
        )


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


def _newest_per_key(rows: Sequence[EntityRow]) -> list[EntityRow]:
    """Keep one row per entity, the newest (the later one on a tie), as a guarded write would."""
    newest: dict[str, EntityRow] = {}
    for row in rows:
        current = newest.get(row.key)
        if current is None or datetime_to_micros(row.event_ts) >= datetime_to_micros(current.event_ts):
            newest[row.key] = row
    return list(newest.values())
