"""The read path: one set of parallel BatchGetItem calls for many views at once.

What the namespace caches and Bloom filters can answer is answered first
(``local.answers``); only the rest goes to DynamoDB.

Every view keyed by the same entity lives on the same item, so a
``get_online_features`` over five views of 100 entities costs 100 keys, not
500. Only the requested features (and their views' timestamps) are asked for.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from feast_chalk_dynamo.dynamo.caller import Caller, Siblings, Then
from feast_chalk_dynamo.dynamo.expressions import projection
from feast_chalk_dynamo.errors import ThroughputExceeded
from feast_chalk_dynamo.items.layout import ENTITY_SK, PK, SK
from feast_chalk_dynamo.items.slots import FeatureSlot
from feast_chalk_dynamo.local.answers import FetchGroup, LocalAnswers
from feast_chalk_dynamo.reads.batching import split, sub_batch_sizes
from feast_chalk_dynamo.reads.decoders import Projection, ValuesDecoder, row_projection, values_decoder
from feast_chalk_dynamo.settings import DynamoSettings

Item = dict[str, Any]
# What a fetch does with each BatchGetItem answer, on the loop, after ``Then`` in the receiving thread.
Consume = Callable[[dict[str, Any]], None]
# Where ``read`` leaves an answer's decoded rows in the answer (a key DynamoDB never sends).
DECODED = "decoded rows"
# Set by ``Engine.read_async``: the read runs on a caller's loop that serves others (``feast
# serve``'s), so it is not private to one synchronous caller: nothing blocks it.
ON_SHARED_LOOP: contextvars.ContextVar[bool] = contextvars.ContextVar("on_shared_loop", default=False)


class ItemDecoder(Protocol):
    """``reads.decoders.ValueRows`` or ``ProtoRows``: fetched items to rows, then the read's answer."""

    converts: bool

    def decode(self, items: list[Item]) -> dict[str, list[Any]]:
        """Partition key -> one row per requested view, in request order."""

    def answer(
        self, decoded: Mapping[str, list[Any]], local: Sequence[Mapping[str, Any]] | None = None
    ) -> list[list[Any]]:
        """Each view's rows in its keys' order, from what was decoded and what was answered locally."""


# Builds a read's decoder from its views and the time now (for ttl).
RowsFactory = Callable[[Sequence["ViewRead"], float], ItemDecoder]


@dataclass(frozen=True)
class ViewLayout:
    """Where one view's data sits on an entity item, and how it is decoded.

    Layouts are memoised (``store._layout``), so what is derived here is
    worked out once per layout, not once per read.
    """

    ts_attr: str
    values_attr: str
    ttl_seconds: int
    features: tuple[FeatureSlot, ...]
    # The feature view's name: the namespace caches and Bloom filters are configured by it.
    view: str = ""
    # Set for a cached view: every registered feature of the view, which its
    # cached rows hold, so that they serve any later request, not only this one's features.
    every_feature: tuple[FeatureSlot, ...] | None = None

    def attributes(self) -> list[str]:
        return [self.ts_attr, self.values_attr] + [slot.attr for slot in self.features if slot.attr]

    def fetched_attributes(self) -> frozenset[str]:
        """What a read of this view asks DynamoDB for."""
        return self._fetched

    @cached_property
    def _fetched(self) -> frozenset[str]:
        return frozenset(self.attributes()).union(slot.attr for slot in self.every_feature or () if slot.attr)

    @cached_property
    def row_shape(self) -> tuple[str, str, tuple[FeatureSlot, ...]] | None:
        """What a cached row of this view was decoded as (a row of another shape is a miss); None:
        this layout's rows are not decoded whole, so no cache may hold or serve them.

        One object per layout, so the cache's test usually finds the very same one.
        """
        if self.every_feature is None:
            return None
        return self.ts_attr, self.values_attr, self.every_feature

    @cached_property
    def decode_features(self) -> ValuesDecoder:
        return values_decoder(self.features)

    @cached_property
    def decode_every_feature(self) -> ValuesDecoder:
        return values_decoder(self.every_feature or (), whole=True)

    @cached_property
    def from_whole_row(self) -> Projection | None:
        """A whole row's values to this layout's features (None: the same)."""
        return row_projection(self.every_feature or (), self.features)


@dataclass(frozen=True)
class ViewRead:
    """One view's part of a read: its layout and the entity partition keys, in request order."""

    layout: ViewLayout
    keys: Sequence[str]


class Reader:
    """Fetches items by partition key in parallel sub-batches, never dropping a key."""

    def __init__(
        self,
        caller: Caller,
        settings: DynamoSettings,
        serde_pool: ThreadPoolExecutor,
        shared_loop: asyncio.AbstractEventLoop | None = None,
        clock: Callable[[], float] = time.time,
        local: LocalAnswers | None = None,
    ) -> None:
        self._caller = caller
        self._local = local
        self._settings = settings
        self._serde_pool = serde_pool
        self._shared_loop = shared_loop
        self._clock = clock

    async def read(self, requests: Sequence[ViewRead], rows: RowsFactory) -> list[list[Any]]:
        """Rows for each view, in each view's key order; ``(None, None)`` where absent or expired.

        ``rows`` builds the decoder of fetched items (``reads.decoders``), which
        decides the rows' shape.

        Each sub-batch is decoded as soon as it arrives, in the thread that
        received it, so decoding the first answers overlaps waiting for the
        rest and costs no thread hand-off; no loop that other reads wait on
        does CPU work. On a synchronous caller's private loop a read of one
        sub-batch is even sent from there: no thread hand-offs at all.
        """
        keys = list(dict.fromkeys(key for request in requests for key in request.keys))
        if not keys:
            return [[] for _ in requests]
        local = self._local
        plan = local.plan(requests) if local is not None and local.applies_to(requests) else None
        if plan is None:
            attributes = list(dict.fromkeys(a for request in requests for a in request.layout.attributes()))
            groups = [FetchGroup(keys, attributes)]
        else:
            groups = plan.groups
        decoder = rows(requests, self._clock())
        loop = asyncio.get_running_loop()
        private = loop is not self._shared_loop and not ON_SHARED_LOOP.get()
        decoded: dict[str, list[Any]] = {}
        table = self._settings.table_name

        def decode(response: dict[str, Any]) -> None:
            response[DECODED] = decoder.decode(response["Responses"].get(table, []))

        def keep(response: dict[str, Any]) -> None:
            if plan is not None:
                plan.note(response["Responses"].get(table, []))
            decoded.update(response[DECODED])

        if groups:
            try:
                await self._fetch(groups, keep, private, decode)
            except BaseException:
                if plan is not None:
                    plan.abandon()
                raise
        answered_here = None
        if plan is not None:
            plan.finish(decoded)
            answered_here = plan.answered_here()
        if private or not decoder.converts:
            return decoder.answer(decoded, answered_here)
        return await loop.run_in_executor(self._serde_pool, decoder.answer, decoded, answered_here)

    async def fetch_items(
        self, keys: Sequence[tuple[str, str]], consistent: bool | None = None
    ) -> list[Item]:
        """Whole items by (partition key, sort key), in parallel sub-batches, never dropping a key.

        For items other than entity items (a windowed view's bucket pages):
        no projection, no local answers; answers in no particular order.
        ``consistent``: strongly consistent reads (a writer merging into what
        it reads); else as ``consistent_reads`` says.
        """
        found: list[Item] = []

        table = self._settings.table_name

        def keep(response: dict[str, Any]) -> None:
            found.extend(response["Responses"].get(table, []))

        settings = self._settings
        request_keys = [{PK: {"S": pk}, SK: {"S": sk}} for pk, sk in dict.fromkeys(keys)]
        sizes = sub_batch_sizes(
            len(request_keys), settings.getitem_min_batch_size, settings.batch_concurrency
        )
        template = {"ConsistentRead": settings.consistent_reads if consistent is None else consistent}
        await self._fetch_all([(batch, template) for batch in split(request_keys, sizes)], keep, False, None)
        return found

    async def _fetch(self, groups: Sequence[FetchGroup], consume: Consume, private: bool, then: Then) -> None:
        """Fetch each group's entity items in parallel sub-batches, handing each answer to ``consume``.

        ``then``: work on each answer in the thread that received it, before ``consume`` (``Caller.call``).
        """
        settings = self._settings
        batches: list[tuple[Sequence[Item], dict[str, Any]]] = []
        for group in groups:
            # The partition key comes back too: answers are matched to requests by it.
            projected = projection([PK, *group.attributes])
            template: dict[str, Any] = {"ConsistentRead": settings.consistent_reads}
            if projected is not None:  # else the whole item: same read units, more bytes
                template["ProjectionExpression"], template["ExpressionAttributeNames"] = projected
            sizes = sub_batch_sizes(
                len(group.keys), settings.getitem_min_batch_size, settings.batch_concurrency
            )
            request_keys = [{PK: {"S": key}, SK: {"S": ENTITY_SK}} for key in group.keys]
            batches.extend((batch, template) for batch in split(request_keys, sizes))
        await self._fetch_all(batches, consume, private, then)

    async def _fetch_all(
        self,
        batches: Sequence[tuple[Sequence[Item], dict[str, Any]]],
        consume: Consume,
        private: bool,
        then: Then,
    ) -> None:
        settings = self._settings
        in_flight = asyncio.Semaphore(settings.batch_concurrency)
        inline = private and len(batches) == 1
        siblings = Siblings(len(batches))
        await asyncio.gather(
            *(
                self._fetch_batch(batch, template, in_flight, consume, then, inline, siblings)
                for batch, template in batches
            )
        )

    async def _fetch_batch(
        self,
        keys: Sequence[Item],
        template: dict[str, Any],
        in_flight: asyncio.Semaphore,
        consume: Consume,
        then: Then,
        inline: bool,
        siblings: Siblings,
    ) -> None:
        table = self._settings.table_name
        request_keys = list(keys)
        delays = self._caller.retry.delays()
        async with in_flight:
            while True:
                response = await self._caller.call(
                    "BatchGetItem",
                    {"RequestItems": {table: {"Keys": request_keys, **template}}},
                    race=True,
                    inline=inline,
                    siblings=siblings,
                    then=then,
                )
                consume(response)
                request_keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                if not request_keys:
                    siblings.answered()
                    return
                delay = next(delays, None)
                if delay is None:
                    raise ThroughputExceeded(
                        table,
                        "BatchGetItem",
                        f"{len(request_keys)} keys still unprocessed (throttled) after "
                        f"{self._caller.retry.max_retries} retries",
                    )
                self._caller.retried("BatchGetItem", "unprocessed keys")
                await self._caller.sleep(delay)
