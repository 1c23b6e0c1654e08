"""One namespace's TTL LRU cache of what reads found (``DYNAMODB_CACHED_NAMESPACES``).

An entry is what a read found for one key, filed under the shape it was read
in: for a view's entity rows, the view's decoded row (``reads.decoders``,
every feature of the view, so any later subset is served) or None where
DynamoDB had no row (negative caching); for a windowed view, its page items.
A lookup hits only where the entry's shape covers the one asked for
(``covers``): a row decoded before the view gained a feature is a miss.

Staleness: an entry lives ``ttl_seconds``. A write through this process
drops the rows it touches, and a read that was in flight while a write
landed does not put back what it read before the write (write marks
below). Other processes' writes are seen only when the entry expires.

Not ``cachetools``' TTLCache: its lookup is a few Python calls per key (a
quarter of a wholly cached 10 x 5 read, profiled); here a hit is a dict
lookup, a comparison and ``move_to_end``, all in C. The cache counts
nothing itself: lookups and fills report, and the caller adds one set of
counters per view and read.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# held shape, wanted shape -> True if an entry of the held shape answers the wanted one.
Covers = Callable[[Any, Any], bool]


class _WriteMark:
    """Left where a write dropped a row while reads were in flight: reads older than ``seq`` may not fill."""

    __slots__ = ("seq",)

    def __init__(self, seq: int) -> None:
        self.seq = seq


# An entry: (shape, value, expiry time), or a write mark. A plain tuple: its test is one `type() is`.
_Entry = tuple


class NamespaceCache:
    """Thread-safe TTL LRU of one view's rows (or pages) by partition key, with an injectable clock."""

    def __init__(
        self,
        ttl_seconds: float,
        max_size: int | None,
        cache_misses: bool,
        covers: Covers,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_size = max_size or math.inf
        self._cache_misses = cache_misses
        self._covers = covers
        self._timer = timer
        # Most recently used last; and every key by expiry, soonest first (ttl is fixed: fill order).
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._expiries: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._seq = 0  # write marks so far
        self._open_reads = 0  # reads between ticket() and fill()/done()
        self._lost_mark = 0  # newest write mark dropped from the cache before its reads finished

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._timer())
            return len(self._entries)

    def ticket(self) -> int:
        """Called before a read: the write marks it may ignore. Pair with ``fill`` or ``done``."""
        with self._lock:
            self._open_reads += 1
            return self._seq

    def lookup(self, keys: Iterable[str], shape: Any) -> dict[str, Any]:
        """Cached answers for ``keys`` whose shape covers ``shape``: the value, None where known absent."""
        found: dict[str, Any] = {}
        covers = self._covers
        with self._lock:
            now = self._timer()
            entries = self._entries
            get = entries.get
            touch = entries.move_to_end
            for key in keys:
                entry = get(key)
                if type(entry) is not _Entry or entry[2] <= now:
                    continue
                if entry[0] is not shape:
                    if not covers(entry[0], shape):
                        continue
                    if entry[0] == shape:
                        # Two layouts' equal shapes (Feast's registry makes new view objects when it
                        # refreshes): the entry takes the asker's, to be matched by identity next time.
                        entries[key] = (shape, *entry[1:])
                touch(key)
                found[key] = entry[1]
        return found

    def fill(self, ticket: int, shape: Any, values: Mapping[str, Any]) -> int:
        """Cache what a read found (None: absent), unless a write to the key landed since its ticket.

        Returns the entries evicted to make room.
        """
        with self._lock:
            self._open_reads -= 1
            if ticket < self._lost_mark or not values:  # a mark that might have covered these is gone
                return 0
            now = self._timer()
            self._expire(now)
            expires = now + self._ttl
            entries = self._entries
            evicted = 0
            for key, value in values.items():
                if value is None and not self._cache_misses:
                    continue
                mark = entries.get(key)
                if type(mark) is _WriteMark and mark.seq > ticket:
                    continue
                evicted += self._put(key, (shape, value, expires), expires)
            return evicted

    def done(self, ticket: int) -> None:
        """A read that ended without filling (it failed)."""
        del ticket
        with self._lock:
            self._open_reads -= 1

    def invalidate(self, keys: Iterable[str]) -> int:
        """Drop rows a write in this process touched; reads already in flight may not put them back.

        Returns the entries evicted to make room for the marks.
        """
        with self._lock:
            entries, expiries = self._entries, self._expiries
            if not self._open_reads:
                for key in keys:
                    if entries.pop(key, None) is not None:
                        del expiries[key]
                return 0
            now = self._timer()
            self._expire(now)
            self._seq += 1
            mark = _WriteMark(self._seq)
            evicted = 0
            for key in keys:
                evicted += self._put(key, mark, now + self._ttl)
            return evicted

    def _put(self, key: str, entry: Any, expires: float) -> int:
        """File ``entry`` as the most recently used and the last to expire; evict past the bound."""
        entries, expiries = self._entries, self._expiries
        entries[key] = entry
        entries.move_to_end(key)
        expiries[key] = expires
        expiries.move_to_end(key)
        evicted = 0
        while len(entries) > self._max_size:
            old_key, old = entries.popitem(last=False)
            del expiries[old_key]
            evicted += self._dropped(old)
        return evicted

    def _expire(self, now: float) -> None:
        """Drop every entry past its time (no eviction)."""
        entries, expiries = self._entries, self._expiries
        while expiries:
            key, expires = next(iter(expiries.items()))
            if expires > now:
                break
            del expiries[key]
            self._dropped(entries.pop(key))

    def _dropped(self, entry: Any) -> int:
        """1 if a row was dropped (an eviction when pushed out); a mark dropped is remembered instead."""
        if type(entry) is _WriteMark:
            self._lost_mark = max(self._lost_mark, entry.seq)
            return 0
        return 1
