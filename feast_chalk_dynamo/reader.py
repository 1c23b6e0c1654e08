"""The read path: one set of parallel BatchGetItem calls for many views at once.

Every view keyed by the same entity lives on the same item, so a
``get_online_features`` over five views of 100 entities costs 100 keys, not
500. Only the requested features (and their views' timestamps) are asked for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feast_chalk_dynamo.batching import split, sub_batch_sizes
from feast_chalk_dynamo.caller import Caller
from feast_chalk_dynamo.codec import decode_value
from feast_chalk_dynamo.errors import ThroughputExceeded
from feast_chalk_dynamo.layout import ENTITY_SK, PK, SK
from feast_chalk_dynamo.settings import DynamoSettings

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

Row = tuple[datetime | None, dict[str, ValueProto] | None]
Item = dict[str, Any]


@dataclass(frozen=True)
class FeatureSlot:
    """A requested feature: its name, its attribute (None if never registered), its proto field."""

    name: str
    attr: str | None
    field: str


@dataclass(frozen=True)
class ViewLayout:
    """Where one view's data sits on an entity item."""

    ts_attr: str
    ttl_seconds: int
    features: tuple[FeatureSlot, ...]

    def attributes(self) -> list[str]:
        return [self.ts_attr] + [slot.attr for slot in self.features if slot.attr]


@dataclass(frozen=True)
class ViewRead:
    """One view's part of a read: its layout and the entity partition keys, in request order."""

    layout: ViewLayout
    keys: Sequence[str]


def micros_to_datetime(micros: int) -> datetime:
    # timedelta arithmetic is exact; fromtimestamp(float) is not past ~2**53 µs.
    return EPOCH + timedelta(microseconds=micros)


def datetime_to_micros(moment: datetime) -> int:
    if moment.tzinfo is None:  # Feast's convention: naive means UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // timedelta(microseconds=1)


class Reader:
    """Fetches items by partition key in parallel sub-batches, never dropping a key."""

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

    async def read(self, requests: Sequence[ViewRead]) -> list[list[Row]]:
        """Rows for each view, in each view's key order; ``(None, None)`` where absent or expired."""
        keys = list(dict.fromkeys(key for request in requests for key in request.keys))
        attributes = list(dict.fromkeys(a for request in requests for a in request.layout.attributes()))
        items = await self.fetch(keys, attributes)
        # Decoding is CPU work: on the serde pool it holds neither the I/O
        # threads nor the loop that other reads' requests are waiting on.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._serde_pool, _decode_rows, requests, items, self._clock())

    async def fetch(self, keys: Sequence[str], attributes: Sequence[str]) -> dict[str, Item]:
        """Items by partition key; a key missing from the result does not exist."""
        if not keys:
            return {}
        names = {f"#{i}": attr for i, attr in enumerate(attributes)}
        template = {
            "ProjectionExpression": ",".join(["#pk", *names]),
            "ExpressionAttributeNames": {"#pk": PK, **names},
            "ConsistentRead": self._settings.consistent_reads,
        }
        sizes = sub_batch_sizes(
            len(keys), self._settings.getitem_min_batch_size, self._settings.batch_concurrency
        )
        in_flight = asyncio.Semaphore(self._settings.batch_concurrency)
        found: dict[str, Item] = {}
        for result in await asyncio.gather(
            *(self._fetch_batch(batch, template, in_flight) for batch in split(keys, sizes))
        ):
            found.update(result)
        return found

    async def _fetch_batch(
        self, keys: Sequence[str], template: dict[str, Any], in_flight: asyncio.Semaphore
    ) -> dict[str, Item]:
        table = self._settings.table_name
        request_keys: list[Item] = [{PK: {"S": key}, SK: {"S": ENTITY_SK}} for key in keys]
        found: dict[str, Item] = {}
        delays = self._caller.retry.delays()
        async with in_flight:
            while True:
                response = await self._caller.call(
                    "BatchGetItem", {"RequestItems": {table: {"Keys": request_keys, **template}}}, race=True
                )
                for item in response["Responses"].get(table, []):
                    found[item[PK]["S"]] = item
                request_keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                if not request_keys:
                    return found
                delay = next(delays, None)
                if delay is None:
                    raise ThroughputExceeded(
                        table,
                        "BatchGetItem",
                        f"{len(request_keys)} keys still unprocessed (throttled) after "
                        f"{self._caller.retry.max_retries} retries",
                    )
                self._caller.stats.retries["unprocessed keys"] += 1
                await self._caller.sleep(delay)


def _decode_rows(requests: Sequence[ViewRead], items: dict[str, Item], now: float) -> list[list[Row]]:
    return [
        [_decode_row(items.get(key), request.layout, now) for key in request.keys] for request in requests
    ]


def _decode_row(item: Item | None, layout: ViewLayout, now: float) -> Row:
    if item is None or layout.ts_attr not in item:
        return None, None
    micros = int(item[layout.ts_attr]["N"])
    if layout.ttl_seconds and micros < (now - layout.ttl_seconds) * 1_000_000:
        return None, None
    features = {
        slot.name: decode_value(item[slot.attr], slot.field)
        if slot.attr and slot.attr in item
        else ValueProto()
        for slot in layout.features
    }
    return micros_to_datetime(micros), features
