"""One namespace's TTL LRU cache of rows (``DYNAMODB_CACHED_NAMESPACES``).

An entry is what DynamoDB returned for one view on one entity item: the
view's raw attributes (decoded at read time like a fetched item, so ttl
expiry and decoding stay in one place), or "absent" when negative caching
is on. It holds every attribute of the view, not just the ones the first
request asked for, so any later subset is served; an entry fetched before
the view gained a feature lacks that attribute and counts as a miss.

Staleness: an entry lives ``ttl_seconds``. A write through this process
drops the rows it touches, and a read that was in flight while a write
landed does not put back what it read before the write (write marks
below). Other processes' writes are seen only when the entry expires.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from feast_chalk_dynamo.local.counters import NamespaceCounters

Slice = dict[str, Any]  # attribute name -> DynamoDB attribute value


@dataclass(frozen=True)
class _Row:
    """A cached answer: the view's attributes, or None for a row DynamoDB did not have."""

    attributes: frozenset[str]
    values: Slice | None


@dataclass(frozen=True)
class _WriteMark:
    """Left where a write dropped a row while reads were in flight: reads older than ``seq`` may not fill."""

    seq: int


class _Entries(TTLCache[Any, Any]):
    """A TTLCache that tells its owner what it drops, to count evictions and keep write marks sound."""

    def __init__(
        self, maxsize: float, ttl: float, timer: Callable[[], float], dropped: Callable[[Any, bool], None]
    ):
        super().__init__(maxsize, ttl, timer=timer)
        self._dropped = dropped

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self._dropped(value, True)
        return key, value

    def expire(self, time: float | None = None) -> list[tuple[Any, Any]]:
        expired = super().expire(time)
        for _, value in expired:
            self._dropped(value, False)
        return expired


class NamespaceCache:
    """Thread-safe TTL LRU of one view's rows by partition key, with an injectable clock."""

    def __init__(
        self,
        ttl_seconds: float,
        max_size: int | None,
        cache_misses: bool,
        counters: NamespaceCounters,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries = _Entries(max_size or math.inf, ttl_seconds, timer, self._on_drop)
        self._cache_misses = cache_misses
        self._counters = counters
        self._lock = threading.Lock()
        self._seq = 0  # write marks so far
        self._open_reads = 0  # reads between ticket() and fill()/done()
        self._lost_mark = 0  # newest write mark dropped from the cache before its reads finished
        self._evictions = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def ticket(self) -> int:
        """Called before a read: the write marks it may ignore. Pair with ``fill`` or ``done``."""
        with self._lock:
            self._open_reads += 1
            return self._seq

    def lookup(self, keys: Iterable[str], attributes: frozenset[str]) -> dict[str, Slice | None]:
        """Cached answers for ``keys``: a row's attributes, or None where the row is known absent."""
        found: dict[str, Slice | None] = {}
        misses = negative = 0
        with self._lock:
            get = self._entries.get
            for key in keys:
                row = get(key)
                if type(row) is not _Row or not (
                    row.attributes is attributes or attributes <= row.attributes
                ):
                    misses += 1
                    continue
                if row.values is None:
                    negative += 1
                found[key] = row.values
        self._counters.add(cache_hits=len(found) - negative, negative_hits=negative, misses=misses)
        return found

    def fill(self, ticket: int, attributes: frozenset[str], rows: Mapping[str, Slice | None]) -> None:
        """Cache what a read found (None: absent), unless a write to the key landed since its ticket."""
        with self._lock:
            self._open_reads -= 1
            if ticket < self._lost_mark:  # a mark that might have covered these keys is gone
                return
            entries = self._entries
            for key, values in rows.items():
                if values is None and not self._cache_misses:
                    continue
                mark = entries.get(key)
                if type(mark) is _WriteMark and mark.seq > ticket:
                    continue
                entries[key] = _Row(attributes, values)
            evicted, self._evictions = self._evictions, 0
        self._counters.add(evictions=evicted)

    def done(self, ticket: int) -> None:
        """A read that ended without filling (it failed)."""
        del ticket
        with self._lock:
            self._open_reads -= 1

    def invalidate(self, keys: Iterable[str]) -> None:
        """Drop rows a write in this process touched; reads already in flight may not put them back."""
        with self._lock:
            entries = self._entries
            if not self._open_reads:
                for key in keys:
                    entries.pop(key, None)
                return
            self._seq += 1
            mark = _WriteMark(self._seq)
            for key in keys:
                entries[key] = mark
            evicted, self._evictions = self._evictions, 0
        self._counters.add(evictions=evicted)

    def _on_drop(self, value: Any, evicted: bool) -> None:
        # Called by the entries, always under self._lock.
        if type(value) is _WriteMark:
            self._lost_mark = max(self._lost_mark, value.seq)
        elif evicted:
            self._evictions += 1
