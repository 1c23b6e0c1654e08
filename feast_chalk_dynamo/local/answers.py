"""What a read can answer without DynamoDB: the namespace caches first, then the Bloom filters.

A read asks about (entity key, view) pairs, but DynamoDB is asked about
entity keys: one item holds every view of an entity. So a key is fetched
only if some requested view could not be answered here, and then with a
projection of only the views that missed; keys missing the same views
share one projection (a ``FetchGroup``).
"""

from __future__ import annotations

import operator
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from feast_chalk_dynamo.errors import UnknownNamespace
from feast_chalk_dynamo.items.layout import PK
from feast_chalk_dynamo.items.names import unversioned_view_name
from feast_chalk_dynamo.local.cache import NamespaceCache
from feast_chalk_dynamo.local.counters import CounterBoard, NamespaceCounters
from feast_chalk_dynamo.settings import DynamoSettings, env_var

Item = dict[str, Any]
# What a windowed view's page cache is known by, after its view's name (counters name it so too).
PAGES = " pages"


class Membership(Protocol):
    """A Bloom filter as the read path sees it (``bloom.KeyFilter``)."""

    def may_contain(self, keys: Iterable[str]) -> list[bool]:
        """For each key: False only if the key was never written (no false negatives)."""


class FilterSource(Protocol):
    """The engine's Bloom filters, by view layout (see bloom.py)."""

    debug: bool

    def filter_for(self, view: str, ts_attr: str) -> Membership | None:
        """The view's filter if it has one and it is loaded, else None (read everything)."""

    def written(self, view: str, ts_attr: str, keys: Sequence[str]) -> None:
        """Add keys about to be written, and publish them to other processes."""

    def forget_all(self) -> None:
        """Drop every filter held (no I/O): each loads afresh on next use."""


class ViewShape(Protocol):
    """What local answers need of a view: its name, where its rows sit, what a cached row is."""

    @property
    def view(self) -> str: ...

    @property
    def ts_attr(self) -> str: ...

    @property
    def row_shape(self) -> Any:
        """What the view's rows are decoded as: a cached row of another shape is a miss; None: not
        decoded as cached rows are."""

    def fetched_attributes(self) -> frozenset[str]: ...


class KeyedView(Protocol):
    @property
    def layout(self) -> ViewShape: ...

    @property
    def keys(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class FetchGroup:
    """Keys that missed the same views, and the attributes of those views."""

    keys: list[str]
    attributes: list[str]


@dataclass
class _ViewState:
    """One requested view's part of a plan."""

    ts_attr: str
    attributes: frozenset[str]
    shape: Any
    counters: NamespaceCounters
    cache: NamespaceCache | None = None
    ticket: int = 0
    # Answered without DynamoDB: a cached row, or None where the row is known absent.
    here: dict[str, Any] = field(default_factory=dict)
    cache_hits: int = 0
    negative_hits: int = 0
    misses: int = 0
    needed: list[str] = field(default_factory=list)  # the keys fetched for this view
    skipped: list[str] = field(default_factory=list)  # the keys its Bloom filter answered absent
    # Bloom predictions for the keys that were read anyway (debug mode, or "maybe"),
    # and which keys DynamoDB had a row of this view for.
    predicted: dict[str, bool] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)


class ReadPlan:
    """One read's local answers, what is left to fetch, and what to cache from the answers."""

    def __init__(self, views: list[_ViewState], needs: dict[str, list[int]]) -> None:
        self._views = views
        self._needs = needs
        self._returned: set[str] = set()
        by_missed: dict[tuple[int, ...], list[str]] = defaultdict(list)
        for key, missed in needs.items():
            by_missed[tuple(missed)].append(key)
        self.groups = [
            FetchGroup(keys, sorted(set().union(*(views[i].attributes for i in missed))))
            for missed, keys in by_missed.items()
        ]

    def note(self, items: list[Item]) -> None:
        """Fetched items: which keys came back, and which of them had each view's row."""
        views, needs, returned = self._views, self._needs, self._returned
        for item in items:
            key = item[PK]["S"]
            returned.add(key)
            for index in needs[key]:
                if views[index].ts_attr in item:
                    views[index].present.add(key)

    def answered_here(self) -> list[dict[str, Any]]:
        """Per view, what was answered without DynamoDB: a cached (whole) row, or None for absent."""
        return [view.here for view in self._views]

    def finish(self, decoded: Mapping[str, list[Any]]) -> None:
        """Cache what was read (absent where no row came back), and count what each view did.

        ``decoded``: each fetched key's rows, one per view, a cached view's whole.
        """
        for index, view in enumerate(self._views):
            false_positives = sum(
                1 for key, maybe in view.predicted.items() if maybe and key not in view.present
            )
            false_negatives = sum(
                1 for key, maybe in view.predicted.items() if not maybe and key in view.present
            )
            saved = sum(1 for key in view.here if key not in self._needs)
            evictions = 0
            if view.cache is not None:
                fills: dict[str, Any] = dict.fromkeys(view.skipped)
                for key in view.needed:
                    rows = decoded.get(key)
                    row = rows[index] if rows is not None else None
                    fills[key] = row if row is not None and row[0] is not None else None
                evictions = view.cache.fill(view.ticket, view.shape, fills)
            view.counters.add(
                cache_hits=view.cache_hits,
                negative_hits=view.negative_hits,
                misses=view.misses,
                evictions=evictions,
                bloom_skips=len(view.skipped),
                bloom_false_positives=false_positives,
                bloom_false_negatives=false_negatives,
                reads_saved=saved,
            )

    def abandon(self) -> None:
        """The read failed: release the cache tickets, cache nothing."""
        for view in self._views:
            if view.cache is not None:
                view.cache.done(view.ticket)


class LocalAnswers:
    """The namespace caches and Bloom filters of one engine.

    The knobs name feature views; each applies to every version of the view
    (``names.versioned_view_name``), and each version has a cache of its own:
    versions have different feature ids, so one cache would only thrash.
    """

    def __init__(
        self,
        settings: DynamoSettings,
        counters: CounterBoard,
        filters: FilterSource | None = None,
    ) -> None:
        self.counters = counters
        self.filters = filters
        self._cached = {entry.namespace: entry for entry in settings.cached_namespaces or ()}
        self._cache_misses = settings.lru_cache_cache_misses
        self._caches: dict[str, NamespaceCache] = {}
        self._caches_lock = threading.Lock()
        self._filtered = {entry.namespace for entry in settings.bloom_filters or ()}
        self._checked_projects: set[str] = set()

    def caches(self, namespace: str) -> bool:
        """True if reads of ``namespace`` (a view, or a version of one) go through a cache."""
        return unversioned_view_name(namespace) in self._cached

    def _cache(self, namespace: str, of: str = "") -> NamespaceCache | None:
        """The namespace's cache of entity rows; ``of=PAGES``: of a windowed view's bucket pages."""
        name = namespace + of
        cache = self._caches.get(name)
        if cache is not None or not self.caches(namespace):
            return cache
        with self._caches_lock:
            cache = self._caches.get(name)
            if cache is None:
                entry = self._cached[unversioned_view_name(namespace)]
                # A row serves only reads of its own shape; pages, any window within those it holds.
                covers = operator.ge if of == PAGES else operator.eq
                cache = self._caches[name] = NamespaceCache(
                    entry.ttl_seconds, entry.max_lru_size, self._cache_misses, covers
                )
        return cache

    def pages(self, namespace: str) -> NamespaceCache | None:
        """A cached windowed view's pages, by entity: each entry the page items a read fetched.

        Entries hold items, not windows: a read merges them for its own time.
        """
        return self._cache(namespace, PAGES)

    def filter_for(self, namespace: str, ts_attr: str) -> Membership | None:
        """The view's Bloom filter, if it has one loaded."""
        return self.filters.filter_for(namespace, ts_attr) if self.filters is not None else None

    def check_namespaces(self, project: str, namespaces: Callable[[], dict[str, str]]) -> None:
        """Fail, naming the knob, if a configured namespace is no view of ``project``; once per project.

        ``namespaces``: namespace (view or view version) -> its timestamp
        attribute, for the project's registered views. Run by ``feast apply`` after it registers
        the views (so a view added in the same apply counts) and before a
        process's first read or write, which also starts loading the
        project's Bloom filters.
        """
        if project in self._checked_projects or not (self._cached or self._filtered):
            return
        known = namespaces()
        views = {unversioned_view_name(namespace) for namespace in known}
        for knob, configured in (("cached_namespaces", self._cached), ("bloom_filters", self._filtered)):
            unknown = sorted(set(configured) - views)
            if unknown:
                raise UnknownNamespace(
                    f"{knob} ({env_var(knob)}) names {unknown}, which project {project!r} has no "
                    f"feature view called; its views are {sorted(views)}"
                )
        if self.filters is not None:
            for namespace, timestamp_attribute in known.items():
                if unversioned_view_name(namespace) in self._filtered:
                    self.filters.filter_for(namespace, timestamp_attribute)
        self._checked_projects.add(project)

    def forget_all(self) -> None:
        """Drop every cached row and Bloom filter: their keys and ids may name other things now.

        A read in flight fills the cache it started with, which is no longer
        consulted. No I/O: the filters load afresh on their next use.
        """
        with self._caches_lock:
            self._caches = {}
        self._checked_projects.clear()
        if self.filters is not None:
            self.filters.forget_all()

    def applies_to(self, requests: Sequence[KeyedView]) -> bool:
        return any(self.caches(r.layout.view) or self._filters(r.layout.view) for r in requests)

    def _filters(self, namespace: str) -> bool:
        return unversioned_view_name(namespace) in self._filtered

    def plan(self, requests: Sequence[KeyedView]) -> ReadPlan:
        views: list[_ViewState] = []
        needs: dict[str, list[int]] = defaultdict(list)
        debug = self.filters.debug if self.filters is not None else False
        for index, request in enumerate(requests):
            layout = request.layout
            state = _ViewState(
                layout.ts_attr, layout.fetched_attributes(), layout.row_shape, self.counters[layout.view]
            )
            views.append(state)
            keys = list(dict.fromkeys(request.keys))
            cache = self._cache(layout.view) if state.shape is not None else None
            if cache is not None:
                state.cache, state.ticket = cache, cache.ticket()
                here = state.here = cache.lookup(keys, state.shape)
                state.negative_hits = sum(1 for row in here.values() if row is None)
                state.cache_hits = len(here) - state.negative_hits
                state.misses = len(keys) - len(here)
                if here:
                    keys = [key for key in keys if key not in here]
            key_filter = self.filters.filter_for(layout.view, layout.ts_attr) if self.filters else None
            if key_filter is not None:
                for key, maybe in zip(keys, key_filter.may_contain(keys), strict=True):
                    if maybe or debug:
                        state.predicted[key] = maybe
                        state.needed.append(key)
                    else:
                        state.skipped.append(key)
                        state.here[key] = None
            else:
                state.needed = keys
            for key in state.needed:
                needs[key].append(index)
        return ReadPlan(views, dict(needs))

    def publishes(self, view: str) -> bool:
        """True if writes of ``view`` must publish their keys first (``before_write``)."""
        return self.filters is not None and self._filters(view)

    def before_write(self, view: str, ts_attr: str, keys: Sequence[str]) -> None:
        """Keys about to be written: the Bloom filter learns (and publishes) them before any lands.

        Blocking I/O: called on the client pool.
        """
        if self.filters is not None and self.publishes(view):
            self.filters.written(view, ts_attr, keys)

    def written(self, view: str, keys: Sequence[str]) -> None:
        """A write through this process ended (landed, or maybe part-way): drop what the cache holds."""
        for name in (view, view + PAGES):
            cache = self._caches.get(name)
            if cache is not None:
                evicted = cache.invalidate(keys)
                if evicted:
                    self.counters[name].add(evictions=evicted)
