"""Events into buckets: one update per page an event batch touches, none lost between processes.

Each push's events are folded, per entity and page, into the parts of their
buckets (``partials.fold``), then sent as one UpdateItem of the page:

- counts, sums and sums of squares by DynamoDB's ``ADD``: atomic, so
  writers in any number of processes add up without reading;
- minima, maxima and sketches by merging into the page's values: read (or
  found in the update cache), merged, and written on condition that the
  page's version ``_n`` is still the one merged from. A writer that loses
  that race (another process merged first) reads the page again and
  retries, so no update is lost; one whose merge changes nothing (a value
  above the minimum, a rider already in the sketch) sends its additions
  alone, unconditionally.

The update cache (``aggregate_update_cache_size`` pages, LRU) keeps the
merged values and version of recently written pages, so a hot page's next
merge costs one UpdateItem instead of a GetItem and an UpdateItem. Events
older than the view's longest window are counted (``late_events``) and
dropped: no read would ever see them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from cachetools import LRUCache

from feast_chalk_dynamo.aggregates.pages import (
    VERSION_ATTR,
    Item,
    PageLayout,
    decode_part,
    encode_part,
    update_request,
)
from feast_chalk_dynamo.aggregates.partials import Parts, fold, sketch_bytes, union
from feast_chalk_dynamo.aggregates.spec import ADDITIVE, Part
from feast_chalk_dynamo.dynamo.caller import Caller
from feast_chalk_dynamo.dynamo.client import ConflictBackoff
from feast_chalk_dynamo.dynamo.expressions import MAX_UPDATE_ACTIONS
from feast_chalk_dynamo.dynamo.metrics import AGGREGATES, MetricLabels, ViewCounters
from feast_chalk_dynamo.errors import AggregateConflicts
from feast_chalk_dynamo.settings import DynamoSettings

# Attributes one UpdateItem of a page sets or adds at most (the expiry and version take two more).
ATTRIBUTES_PER_UPDATE = MAX_UPDATE_ACTIONS - 10


@dataclass(frozen=True)
class Event:
    """One raw event: its entity's partition key, its time (µs) and its raw columns' plain values."""

    key: str
    micros: int
    values: Mapping[str, Any]


@dataclass
class AggregateCounts:
    """What bucket writes did, for tests; each increment also goes, by view, to ``metrics.AGGREGATES``."""

    cache_hits: int = 0
    cache_misses: int = 0
    cache_evictions: int = 0
    buckets_updated: int = 0
    late_events: int = 0
    version_conflicts: int = 0
    exported: ViewCounters | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, view: str, **increments: int) -> None:
        with self._lock:
            for name, amount in increments.items():
                setattr(self, name, getattr(self, name) + amount)
        if self.exported is not None:
            self.exported.add(view, increments)


@dataclass(frozen=True)
class PageState:
    """A page's merged (non-additive) values as of its version ``_n``, as stored (attribute values).

    Kept encoded, not decoded: a DataSketches sketch kept in a cache that
    lives as long as the process is still alive when the interpreter exits,
    and nanobind then reports every one as leaked (a line each, on stderr).
    """

    version: int
    merged: Mapping[str, Item]


class UpdateCache:
    """The pages most recently merged into, LRU, by (partition key, sort key); size 0 keeps none.

    Counts its hits, misses and evictions by the view whose lookup or entry it was.
    """

    def __init__(self, size: int, counts: AggregateCounts) -> None:
        self._pages: LRUCache[tuple[str, str], PageState] | None = LRUCache(size) if size else None
        self._counts = counts
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], view: str) -> PageState | None:
        if self._pages is None:
            return None
        with self._lock:
            found = self._pages.get(key)
        self._counts.add(view, **({"cache_hits": 1} if found is not None else {"cache_misses": 1}))
        return found

    def put(self, key: tuple[str, str], state: PageState, view: str) -> None:
        if self._pages is None:
            return
        with self._lock:
            full = key not in self._pages and len(self._pages) >= self._pages.maxsize
            self._pages[key] = state
        if full:
            self._counts.add(view, cache_evictions=1)

    def drop(self, key: tuple[str, str]) -> None:
        if self._pages is not None:
            with self._lock:
                self._pages.pop(key, None)


class AggregateWriter:
    """Bucket updates of every windowed view of an engine, with its update cache."""

    def __init__(self, caller: Caller, settings: DynamoSettings, labels: MetricLabels) -> None:
        self._caller = caller
        self._table = settings.table_name
        self._concurrency = settings.client_threads
        self._backoff = ConflictBackoff.from_settings(settings)
        self.counts = AggregateCounts(exported=ViewCounters(AGGREGATES, labels))
        self.cache = UpdateCache(settings.aggregate_update_cache_size, self.counts)

    async def add(self, layout: PageLayout, events: Sequence[Event], now_micros: int) -> int:
        """Fold ``events`` into their buckets; the number applied (the rest were late)."""
        spec = layout.spec
        oldest = spec.bucket_of(now_micros) - spec.longest_buckets + 1
        pages: dict[tuple[str, int], dict[int, Parts]] = {}
        parts = spec.parts
        late = 0
        for event in events:
            bucket = spec.bucket_of(event.micros)
            if bucket < oldest:
                late += 1
                continue
            page = pages.setdefault((event.key, spec.page_of(bucket)), {})
            fold(page.setdefault(bucket, {}), parts, event.values)
        if late:
            self.counts.add(spec.view, late_events=late)
        await self._each_page(layout, pages, replace=False)
        return len(events) - late

    async def set(self, layout: PageLayout, buckets: Mapping[tuple[str, int], Parts]) -> None:
        """Set whole buckets (key, bucket) to these parts, replacing what they held (a backfill)."""
        spec = layout.spec
        pages: dict[tuple[str, int], dict[int, Parts]] = {}
        for (key, bucket), parts in buckets.items():
            pages.setdefault((key, spec.page_of(bucket)), {})[bucket] = parts
        await self._each_page(layout, pages, replace=True)

    async def _each_page(
        self, layout: PageLayout, pages: Mapping[tuple[str, int], dict[int, Parts]], replace: bool
    ) -> None:
        limit = asyncio.Semaphore(self._concurrency)

        async def one(key: str, page: int, buckets: dict[int, Parts]) -> None:
            async with limit:
                await self._page(layout, key, page, buckets, replace)

        await asyncio.gather(*(one(key, page, buckets) for (key, page), buckets in pages.items()))

    async def _page(
        self, layout: PageLayout, key: str, page: int, buckets: dict[int, Parts], replace: bool
    ) -> None:
        """Apply one page's bucket parts, in as many updates as DynamoDB's action limit needs."""
        changes: list[tuple[str, Part, Any]] = []
        for bucket, parts in buckets.items():
            wanted = layout.spec.parts if replace else parts.keys()
            changes += [(layout.attribute(part, bucket), part, parts.get(part)) for part in wanted]
        for start in range(0, len(changes), ATTRIBUTES_PER_UPDATE):
            await self._update(layout, key, page, changes[start : start + ATTRIBUTES_PER_UPDATE], replace)
        self.counts.add(layout.spec.view, buckets_updated=len(buckets))

    async def _update(
        self, layout: PageLayout, key: str, page: int, changes: list[tuple[str, Part, Any]], replace: bool
    ) -> None:
        """One UpdateItem of a page, merged against its current values when needed; retried on a lost race."""
        item_key = layout.key(key, page)
        cache_key = (key, layout.sort_key(page))
        expiry = layout.expiry(page)
        view = layout.spec.view
        adds = {attr: value for attr, part, value in changes if part.kind in ADDITIVE and not replace}
        merging = [
            (attr, part, value) for attr, part, value in changes if replace or part.kind not in ADDITIVE
        ]
        if not merging:
            await self._send(update_request(self._table, item_key, adds, {}, expiry, None))
            return
        delays = self._backoff.delays()
        while True:
            state = await self._state(layout, item_key, cache_key, view)
            merged = dict(state.merged)
            sets: dict[str, Item] = {}
            removes: list[str] = []
            for attr, part, value in merging:
                stored = merged.get(attr)
                current = None if replace or stored is None else decode_part(part, stored)
                new = value if replace else _merged(part, current, value)
                if new is None:
                    removes.append(attr)
                    merged.pop(attr, None)
                elif replace or new is not current:
                    sets[attr] = merged[attr] = encode_part(part, new)
            if not sets and not removes:
                await self._send(update_request(self._table, item_key, adds, {}, expiry, None))
                return
            request = update_request(self._table, item_key, adds, sets, expiry, state.version)
            if removes:
                request = _with_removals(request, removes)
            try:
                await self._send(request)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                self.cache.drop(cache_key)
                self.counts.add(view, version_conflicts=1)
                delay = next(delays, None)
                if delay is None:
                    raise AggregateConflicts(
                        f"buckets of view {view!r} for entity {key!r}: other writers kept merging into the "
                        f"same page first, {self._backoff.max_retries} retries; the events were not applied"
                    ) from error
                await self._caller.sleep(delay)
                continue
            self.cache.put(cache_key, PageState(state.version + 1, merged), view)
            return

    async def _state(
        self, layout: PageLayout, item_key: Item, cache_key: tuple[str, str], view: str
    ) -> PageState:
        """The page's merged values and version: from the update cache, else read (consistently)."""
        cached = self.cache.get(cache_key, view)
        if cached is not None:
            return cached
        response = await self._caller.call(
            "GetItem", {"TableName": self._table, "Key": item_key, "ConsistentRead": True}
        )
        item = response.get("Item") or {}
        state = PageState(int(item.get(VERSION_ATTR, {}).get("N", "0")), _non_additive(layout, item))
        self.cache.put(cache_key, state, view)
        return state

    async def _send(self, request: dict[str, Any]) -> None:
        # Sent once more to another region only if the request is safe twice: a versioned update
        # is (its condition fails the second time), an ADD alone is not.
        await self._caller.call("UpdateItem", request, failover="ConditionExpression" in request)


def _merged(part: Part, current: Any, value: Any) -> Any:
    """``value`` merged into ``current``: the same object as ``current`` when that changes nothing."""
    if value is None:
        return current
    if current is None:
        return value
    if part.kind == "lo":
        return value if value < current else current
    if part.kind == "hi":
        return value if value > current else current
    merged = union([current, value])
    return current if sketch_bytes(merged) == sketch_bytes(current) else merged


def _non_additive(layout: PageLayout, item: Item) -> dict[str, Item]:
    """The page's merged attributes (the additive ones are never read back by writers)."""
    by_attribute = {part_id: part for part, part_id in layout.part_ids.items()}
    found: dict[str, Item] = {}
    for name, stored in item.items():
        part_id, dot, _ = name.rpartition(".")
        part = by_attribute.get(part_id) if dot else None
        if part is not None and part.kind not in ADDITIVE:
            found[name] = stored
    return found


def _with_removals(request: dict[str, Any], removes: Iterable[str]) -> dict[str, Any]:
    names = request["ExpressionAttributeNames"]
    placeholders = []
    for attr in removes:
        placeholder = f"#r{len(names)}"
        names[placeholder] = attr
        placeholders.append(placeholder)
    request["UpdateExpression"] += " REMOVE " + ", ".join(placeholders)
    return request
