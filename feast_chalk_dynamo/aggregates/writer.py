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
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
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
from feast_chalk_dynamo.dynamo.tables import PK, SK
from feast_chalk_dynamo.dynamo.transactions import MAX_TRANSACT_ITEMS, cancellation
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
        found = None
        if self._pages is not None:  # off (size 0): every lookup is a miss
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


class _NoTransactions(Exception):
    """The endpoint has no TransactWriteItems (dynalite): pages go one UpdateItem each."""


@dataclass
class _PageChange:
    """What one write does to one page: its buckets' parts, and the request that does it."""

    layout: PageLayout
    key: str
    page: int
    buckets: dict[int, Parts]
    replace: bool

    @property
    def cache_key(self) -> tuple[str, str]:
        return (self.key, self.layout.sort_key(self.page))

    def changes(self) -> list[tuple[str, Part, Any]]:
        found: list[tuple[str, Part, Any]] = []
        for bucket, parts in self.buckets.items():
            wanted = self.layout.spec.parts if self.replace else parts.keys()
            found += [(self.layout.attribute(part, bucket), part, parts.get(part)) for part in wanted]
        return found

    def merges(self) -> bool:
        """True if the page's current values are needed: a minimum, maximum or sketch to merge into.

        A replacement (a backfill) needs none: it sets what it sets whatever the page holds.
        """
        return not self.replace and any(
            part.kind not in ADDITIVE for parts in self.buckets.values() for part in parts
        )

    def safe_twice(self, request: dict[str, Any]) -> bool:
        """Whether the request may be sent once more to another region: a versioned update may (a
        second copy fails its condition), a replacement may (it sets the same values again); an ADD
        of additive parts would add twice."""
        return self.replace or "ConditionExpression" in request

    def request(
        self, table: str, changes: list[tuple[str, Part, Any]], state: PageState | None
    ) -> tuple[dict[str, Any], PageState | None]:
        """The UpdateItem of ``changes``, and the page's state after it (None: the state is unchanged).

        Additions alone, or merges that change nothing (a value above the
        minimum, a rider already in the sketch), go unconditionally; changed
        merges go on condition of the version they were merged against.
        """
        key, expiry = self.layout.key(self.key, self.page), self.layout.expiry(self.page)
        if self.replace:
            # Unconditional, yet counting one more version: a writer holding the values it
            # replaces (in its update cache, in another process) loses its race and reads again.
            replaced = {attr: encode_part(part, value) for attr, part, value in changes if value is not None}
            request = update_request(table, key, {}, replaced, expiry, None, bump=True)
            removes = [attr for attr, _, value in changes if value is None]
            return (_with_removals(request, removes) if removes else request), None
        adds = {attr: value for attr, part, value in changes if part.kind in ADDITIVE}
        merging = [change for change in changes if change[1].kind not in ADDITIVE]
        if not merging or state is None:
            return update_request(table, key, adds, {}, expiry, None), None
        merged = dict(state.merged)
        sets: dict[str, Item] = {}
        for attr, part, value in merging:
            stored = merged.get(attr)
            current = None if stored is None else decode_part(part, stored)
            new = _merged(part, current, value)
            if new is not None and new is not current:
                sets[attr] = merged[attr] = encode_part(part, new)
        if not sets:
            return update_request(table, key, adds, {}, expiry, None), None
        after = PageState(state.version + 1, merged)
        return update_request(table, key, adds, sets, expiry, state.version), after


class AggregateWriter:
    """Bucket updates of every windowed view of an engine, with its update cache.

    A write touching at least ``bulk_write_min_rows`` pages sends them in
    TransactWriteItems of up to 100 updates (a push of 100 events is one or
    two requests, not 100; at twice the write units, as bulk row writes), its
    pages' current values read first in one BatchGetItem where the update
    cache lacks them; fewer pages go one UpdateItem each.
    """

    def __init__(
        self,
        caller: Caller,
        settings: DynamoSettings,
        labels: MetricLabels,
        fetch: Callable[[Sequence[tuple[str, str]]], Awaitable[list[Item]]],
    ) -> None:
        """``fetch``: whole items by (partition key, sort key), read consistently (the engine's reader)."""
        self._caller = caller
        self._fetch = fetch
        self._table = settings.table_name
        self._concurrency = settings.client_threads
        self._bulk_min_pages = settings.bulk_write_min_rows
        self._backoff = ConflictBackoff.from_settings(settings)
        self.transactions: bool | None = None  # None until the endpoint has answered one
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
        await self._each_page(
            [_PageChange(layout, key, page, buckets, False) for (key, page), buckets in pages.items()]
        )
        return len(events) - late

    async def set(self, layout: PageLayout, buckets: Mapping[tuple[str, int], Parts]) -> None:
        """Set whole buckets (key, bucket) to these parts, replacing what they held (a backfill)."""
        spec = layout.spec
        pages: dict[tuple[str, int], dict[int, Parts]] = {}
        for (key, bucket), parts in buckets.items():
            pages.setdefault((key, spec.page_of(bucket)), {})[bucket] = parts
        await self._each_page(
            [_PageChange(layout, key, page, buckets, True) for (key, page), buckets in pages.items()]
        )

    async def _each_page(self, changes: list[_PageChange]) -> None:
        if not changes:
            return
        view = changes[0].layout.spec.view
        single = changes
        if len(changes) >= self._bulk_min_pages and self.transactions is not False:
            try:
                single = await self._transacted(changes)
            except _NoTransactions:
                single = changes  # none was applied: every page goes on its own
        limit = asyncio.Semaphore(self._concurrency)

        async def one(change: _PageChange) -> None:
            async with limit:
                await self._page(change)

        await asyncio.gather(*(one(change) for change in single))
        self.counts.add(view, buckets_updated=sum(len(change.buckets) for change in changes))

    # -- a page at a time --------------------------------------------------------------------

    async def _page(self, change: _PageChange) -> None:
        """One page's updates, as many as DynamoDB's action limit needs, each retried on a lost race."""
        changes = change.changes()
        for start in range(0, len(changes), ATTRIBUTES_PER_UPDATE):
            await self._update(change, changes[start : start + ATTRIBUTES_PER_UPDATE])

    async def _update(self, change: _PageChange, changes: list[tuple[str, Part, Any]]) -> None:
        delays = self._backoff.delays()
        while True:
            state = (await self._states([change]))[change.cache_key] if change.merges() else None
            request, after = change.request(self._table, changes, state)
            try:
                await self._caller.call("UpdateItem", request, failover=change.safe_twice(request))
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                self._lost(change)
                await self._caller.sleep(self._delay(change, delays, error))
                continue
            self._committed(change, after)
            return

    # -- many pages in transactions ---------------------------------------------------------

    async def _transacted(self, changes: list[_PageChange]) -> list[_PageChange]:
        """Apply ``changes`` in transactions of up to 100 pages; those too big for one (left to go
        one by one) are returned. Raises ``_NoTransactions`` before applying any if the endpoint
        has none."""
        small = [change for change in changes if len(change.changes()) <= ATTRIBUTES_PER_UPDATE]
        pending = small
        conflicts = self._backoff.delays()
        throttles = self._caller.retry.delays()
        while pending:
            states = await self._states([change for change in pending if change.merges()])
            built = [(change, *change.request(self._table, change.changes(), states.get(change.cache_key)))
                     for change in pending]  # fmt: skip
            chunks = [
                built[start : start + MAX_TRANSACT_ITEMS]
                for start in range(0, len(built), MAX_TRANSACT_ITEMS)
            ]
            outcomes = await asyncio.gather(*(self._transact(chunk) for chunk in chunks))
            pending = [change for retry, _ in outcomes for change in retry]
            if any(wait for _, wait in outcomes):
                delay = next(conflicts if any(w == "conflict" for _, w in outcomes) else throttles, None)
                if delay is None:
                    raise AggregateConflicts(
                        f"buckets of view {pending[0].layout.spec.view!r}: transactions of their pages kept "
                        "conflicting with other writers or being throttled past the retries; not applied"
                    )
                await self._caller.sleep(delay)
        return [change for change in changes if change not in small]

    async def _transact(
        self, chunk: list[tuple[_PageChange, dict[str, Any], PageState | None]]
    ) -> tuple[list[_PageChange], str | None]:
        """One transaction: the pages to send again (all of them if it was cancelled), and why to wait."""
        try:
            await self._caller.call(
                "TransactWriteItems", {"TransactItems": [{"Update": request} for _, request, _ in chunk]},
                failover=all(change.safe_twice(request) for change, request, _ in chunk),
            )  # fmt: skip
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "UnknownOperationException":
                self.transactions = False
                raise _NoTransactions from error
            cancelled = cancellation(error, len(chunk))
            if cancelled is None:
                raise
            if cancelled.invalid:
                raise
            for index in cancelled.stale:  # merged against a version another writer moved on
                self._lost(chunk[index][0])
            wait = "conflict" if cancelled.conflicted else "throttled" if cancelled.throttled else None
            return [change for change, _, _ in chunk], wait
        self.transactions = True
        for change, _, after in chunk:
            self._committed(change, after)
        return [], None

    def _committed(self, change: _PageChange, after: PageState | None) -> None:
        """A page's update landed: the update cache learns the page's state after it, or forgets a
        page replaced (whose other buckets' values it does not know)."""
        if change.replace:
            self.cache.drop(change.cache_key)
        elif after is not None:
            self.cache.put(change.cache_key, after, change.layout.spec.view)

    # -- the pages' current values ----------------------------------------------------------

    async def _states(self, changes: Sequence[_PageChange]) -> dict[tuple[str, str], PageState]:
        """Each page's merged values and version: from the update cache, else read (consistently,
        one BatchGetItem for them all)."""
        states: dict[tuple[str, str], PageState] = {}
        missing: dict[tuple[str, str], _PageChange] = {}
        for change in changes:
            cached = self.cache.get(change.cache_key, change.layout.spec.view)
            if cached is not None:
                states[change.cache_key] = cached
            else:
                missing[change.cache_key] = change
        if missing:
            items = {(item[PK]["S"], item[SK]["S"]): item for item in await self._fetch(list(missing))}
            for cache_key, change in missing.items():
                item = items.get(cache_key, {})
                state = PageState(
                    int(item.get(VERSION_ATTR, {}).get("N", "0")), _non_additive(change.layout, item)
                )
                states[cache_key] = state
                self.cache.put(cache_key, state, change.layout.spec.view)
        return states

    def _lost(self, change: _PageChange) -> None:
        """The page's version moved on (another writer merged first): forget what was cached of it."""
        self.cache.drop(change.cache_key)
        self.counts.add(change.layout.spec.view, version_conflicts=1)

    def _delay(self, change: _PageChange, delays: Iterator[float], error: ClientError) -> float:
        delay = next(delays, None)
        if delay is None:
            raise AggregateConflicts(
                f"buckets of view {change.layout.spec.view!r} for entity {change.key!r}: other writers kept "
                f"merging into the same page first, {self._backoff.max_retries} retries; not applied"
            ) from error
        return delay


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
