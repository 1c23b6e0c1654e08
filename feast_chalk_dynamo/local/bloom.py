"""Per-namespace Bloom filters of written entity keys, shared between processes through the table.

A key the filter has never seen is answered as absent without a read.
The filter must therefore never miss a key that was written, in any
process. Every write through the store publishes its keys *before* any of
its rows lands, so a key whose row a reader can find was published first.
Each filtered view has a worker thread of its own, so a long Scan of one
never delays another's refresh. A refresh pass begins every
``bloom_filter_refresh_seconds`` (at once when the last one took longer)
and reads what other processes published with one Query, so a key written
before a pass began is in the filter once that pass ends (false positives
are possible, as in any Bloom filter; false negatives are not). Writers
must have the view in ``bloom_filters`` too: only they know to publish.

The items are described in ``bloom_table``. A process loads the head's
snapshot, or, when there is none or it cannot be read whole, builds the
filter with a parallel Scan and saves it; then it applies the log from
``covered`` minus ``CLOCK_MARGIN_MS``, the allowance for clocks and
requests in flight. A process that has applied many batches since the
snapshot saves a newer one; the winner deletes the snapshot it replaced and
the log entries every snapshot from then on covers. While a load runs, this
process's writes go into the filter being loaded as soon as it has its base
(what was published before is in the log the load reads next), so nothing
is held aside however long a load takes or keeps failing.

A compaction deletes only after its head is in place, and only entries
older than its ``covered`` less twice the margin. So every load and refresh
reads the head *after* the log: when that head may have deleted entries the
read needed, the filter is loaded again from that head's snapshot (the
filter in use serves meanwhile), never pieced together from a cut log.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from pybloom_live import ScalableBloomFilter
from tqdm import tqdm

from feast_chalk_dynamo.dynamo.client import RetryPolicy
from feast_chalk_dynamo.items.layout import TS_PREFIX
from feast_chalk_dynamo.items.names import unversioned_view_name
from feast_chalk_dynamo.local.bloom_table import BloomTable, Head, LogCut, UnreadableSnapshot, now_ms
from feast_chalk_dynamo.settings import BloomNamespace, DynamoSettings

log = logging.getLogger(__name__)

# How far a published batch's time may lag the moment its log entry became
# readable (clock skew between hosts, a slow put): log entries this much
# older than a refresh's start are read again by the next refresh.
CLOCK_MARGIN_MS = 60_000
# A process that applied this many published batches since its snapshot saves a new one.
COMPACT_AFTER_BATCHES = 200
# Loads in one pass that find the head moved under them before the pass gives up until the next.
LOAD_ATTEMPTS = 3
# BatchGetItems of a refresh's key chunks in flight at once.
FETCH_THREADS = 4

# Each stage of a grown filter gets this share of the previous stage's error rate.
ERROR_RATIO = 0.5


class KeyFilter:
    """A thread-safe scalable Bloom filter of partition keys."""

    def __init__(self, bloom: ScalableBloomFilter) -> None:
        self._bloom = bloom
        self._lock = threading.Lock()

    @classmethod
    def empty(cls, config: BloomNamespace) -> KeyFilter:
        """A filter that stays within ``error_rate`` however far past ``expected_keys`` it grows.

        pybloom-live gives stage k the error ``error_rate * 0.9 ** (k + 1)``,
        which sums to up to 9 times ``error_rate`` once the filter has grown
        (measured: 2.5 times at 10 times the expected keys). With the ratio
        at 0.5 the stages sum to at most ``error_rate``, for 1.4 more bits a
        key; the ratio is kept in the serialized filter.
        """
        mode = ScalableBloomFilter.LARGE_SET_GROWTH
        bloom = ScalableBloomFilter(config.expected_keys, config.error_rate, mode)
        bloom._setup(mode, ERROR_RATIO, config.expected_keys, config.error_rate)
        return cls(bloom)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyFilter:
        return cls(ScalableBloomFilter.fromfile(io.BytesIO(data)))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with self._lock:
            self._bloom.tofile(buffer)
        return buffer.getvalue()

    def may_contain(self, keys: Iterable[str]) -> list[bool]:
        with self._lock:
            bloom = self._bloom
            return [key in bloom for key in keys]

    def add(self, keys: Iterable[str]) -> None:
        with self._lock:
            add = self._bloom.add
            for key in keys:
                add(key)


class KeyScan(Protocol):
    """What a build needs of the table (``items.lifecycle.TableAdmin``): every key of a view, by Scan."""

    def keys_with(self, attribute: str, handle: Callable[[str], None]) -> None: ...


@dataclass
class _Namespace:
    """One filtered view's filter and where it stands against the table."""

    config: BloomNamespace
    namespace_id: str
    filter: KeyFilter | None = None  # in use
    head: Head | None = None  # as the last pass found it: what a compaction replaces
    since_ms: int = 0  # the next refresh reads log entries from here
    batches_since_snapshot: int = 0
    applied: dict[str, int] = field(default_factory=dict)  # log entry -> its ms, within the margin
    loaded: threading.Event = field(default_factory=threading.Event)  # in use (and, if built, saved)
    # The filter a load is filling, once it has a base: this process's writes go in it too.
    loading: KeyFilter | None = None
    swap: threading.Lock = field(default_factory=threading.Lock)  # guards filter and loading
    last_read_from: float = float("-inf")  # when (clock) the last finished load or refresh began
    error: BaseException | None = None
    wake: threading.Event = field(default_factory=threading.Event)  # stop waiting: closing or forgotten
    retired: threading.Event = field(default_factory=threading.Event)  # forgotten: put nothing in place


@dataclass(frozen=True)
class _Base:
    """Where a load starts: a filter, and the log it still needs."""

    bloom: KeyFilter
    head: Head | None  # loaded from; for a built filter, the head its save replaces
    needed_from: int  # entries from here on may be missing from ``bloom``
    read_from: int  # where its log read starts: a built filter reads the whole log
    built: bool


class _Restart(Exception):
    """The head moved under a load: load again, from the new head."""


class _Retired(Exception):
    """The namespace was forgotten while its worker ran: the worker stops."""


class BloomFilters:
    """The engine's Bloom filters: loaded or built in the background, refreshed, published to.

    Until a namespace's filter is loaded, its reads go to DynamoDB as if it
    had none: slower, never wrong.
    """

    def __init__(
        self,
        client: Any,
        admin: KeyScan,
        settings: DynamoSettings,
        retry: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.debug = settings.bloom_filter_debug_mode
        self._pool = ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="dynamodb-bloom-fetch")
        self._table = BloomTable(client, settings.table_name, retry, self._pool)
        self._admin = admin
        self._refresh_seconds = settings.bloom_filter_refresh_seconds
        self._clock = clock
        self._configs = {entry.namespace: entry for entry in settings.bloom_filters or ()}
        self._namespaces: dict[str, _Namespace] = {}
        self._threads: list[threading.Thread] = []
        self._passes = 0
        self._lock = threading.Lock()
        # Set after every pass of a worker: lets tests wait for a refresh without sleeping.
        self.refreshed = threading.Event()
        self._stopping = threading.Event()

    # -- the read and write paths ------------------------------------------

    def filter_for(self, view: str, ts_attr: str) -> KeyFilter | None:
        state = self._namespace(view, ts_attr)
        return state.filter if state is not None else None

    def written(self, view: str, ts_attr: str, keys: Sequence[str]) -> None:
        """Publish keys about to be written (raises if it cannot: the write must not go ahead)."""
        state = self._namespace(view, ts_attr)
        if state is None or not keys:
            return
        self._table.publish(state.namespace_id, keys)
        while state is not None:
            with state.swap:
                for bloom in (state.filter, state.loading):
                    if bloom is not None:
                        bloom.add(keys)
            if not state.retired.is_set():
                return
            state = self._namespace(view, ts_attr)  # forgotten meanwhile: its successor holds them too

    # -- for tests and operators ---------------------------------------------

    def wait_loaded(self, timeout: float) -> bool:
        """Block until every filter this engine started on is loaded (tests, warm-up); False on timeout."""
        deadline = self._clock() + timeout
        with self._lock:
            states = list(self._namespaces.values())
        return all(state.loaded.wait(max(0.0, deadline - self._clock())) for state in states)

    def refreshed_since(self, moment: float) -> bool:
        """True once every filter has been loaded or refreshed by a pass that began after ``moment``."""
        with self._lock:
            return all(state.last_read_from > moment for state in self._namespaces.values())

    @property
    def passes(self) -> int:
        """Loads and refreshes the workers have made, failed ones included."""
        with self._lock:
            return self._passes

    def forget_all(self) -> None:
        """Drop every namespace's filter: each is loaded afresh from the table on its next use.

        For a table dropped and created again, whose namespace ids start over
        (a filter kept for an id may be another view's now). Safe from any
        thread: no I/O, no wait but for the registry's lock. A worker in the
        middle of a request finishes it and stops, putting nothing in place.
        """
        with self._lock:
            states = list(self._namespaces.values())
            self._namespaces.clear()
        for state in states:
            state.retired.set()
            state.wake.set()

    def close(self) -> None:
        self._stopping.set()
        with self._lock:
            states = list(self._namespaces.values())
            threads = list(self._threads)
        for state in states:
            state.wake.set()
        deadline = time.monotonic() + 30
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _namespace(self, view: str, ts_attr: str) -> _Namespace | None:
        config = self._configs.get(unversioned_view_name(view))  # every version has a filter of its own
        if config is None:
            return None
        namespace_id = ts_attr[len(TS_PREFIX) :]
        state = self._namespaces.get(namespace_id)
        if state is None:
            with self._lock:
                state = self._namespaces.get(namespace_id)
                if state is None:
                    state = self._namespaces[namespace_id] = _Namespace(config, namespace_id)
                    if not self._stopping.is_set():
                        self._start_worker(state)
        return state

    def _start_worker(self, state: _Namespace) -> None:
        """Under ``_lock``: a thread that loads and refreshes this one namespace."""
        thread = threading.Thread(
            target=self._work, args=(state,), name=f"dynamodb-bloom-{state.namespace_id}", daemon=True
        )
        self._threads = [each for each in self._threads if each.is_alive()] + [thread]
        thread.start()

    # -- the background workers ----------------------------------------------

    def _work(self, state: _Namespace) -> None:
        while not (self._stopping.is_set() or state.retired.is_set()):
            began = self._clock()
            try:
                if state.filter is None:
                    self._load(state)
                else:
                    self._refresh(state)
            except _Retired:
                return
            except Exception as error:  # noqa: BLE001 - logged; the namespace reads DynamoDB meanwhile
                state.error = error
                log.warning("Bloom filter of namespace %s: %s; retrying", state.namespace_id, error)
            else:
                state.error = None
                state.last_read_from = began
            with self._lock:
                self._passes += 1
            self.refreshed.set()
            # Passes begin every refresh interval, not an interval after the last ended.
            state.wake.wait(max(0.0, began + self._refresh_seconds - self._clock()))

    def _load(self, state: _Namespace) -> None:
        """Load or build a filter and put it in place; the filter in use, if any, serves until then."""
        for _ in range(LOAD_ATTEMPTS):
            started = now_ms()
            try:
                base = self._attempt(state, started)
            except (_Restart, LogCut) as why:
                log.info("Bloom filter of namespace %s: %s; loading again", state.namespace_id, why)
                continue
            finally:
                with state.swap:
                    state.loading = None
            try:
                if base.built:
                    self._save(state, base.bloom, covered=started, replacing=base.head)
            finally:  # in use either way; saved, for other processes, if it could be
                state.loaded.set()
            return
        raise RuntimeError(f"the head moved under {LOAD_ATTEMPTS} loads in a row")

    def _attempt(self, state: _Namespace, started: int) -> _Base:
        """One load: a base, the log since, the head after it; then the filter is put in place."""
        base = self._base(state, started)
        with state.swap:
            # What this process publishes from now on goes in; what it published before is in the log.
            state.loading = base.bloom
        applied: dict[str, int] = {}
        batches = self._apply_log(state.namespace_id, base.bloom, base.read_from, applied)
        head = self._table.head(state.namespace_id)
        if _may_have_cut(head, base.needed_from):
            raise _Restart("a newer snapshot's compaction may have deleted log entries the load needed")
        with state.swap:
            if state.retired.is_set():
                raise _Retired
            state.filter = base.bloom
        state.head = head
        state.applied = applied
        state.batches_since_snapshot = batches
        state.since_ms = started - CLOCK_MARGIN_MS
        return base

    def _base(self, state: _Namespace, started: int) -> _Base:
        """The head's snapshot; or a filter built by Scan when there is none or it cannot be read."""
        head = self._table.head(state.namespace_id)
        if head is not None:
            try:
                bloom = KeyFilter.from_bytes(self._table.read_snapshot(state.namespace_id, head))
                from_ms = head.covered - CLOCK_MARGIN_MS
                return _Base(bloom, head, needed_from=from_ms, read_from=from_ms, built=False)
            except UnreadableSnapshot as error:
                if self._table.head(state.namespace_id) != head:
                    raise _Restart(f"{error}: replaced meanwhile") from error
                log.warning(
                    "Bloom filter of namespace %s: %s; building it by a Scan", state.namespace_id, error
                )
        return _Base(self._build(state), head, needed_from=started - CLOCK_MARGIN_MS, read_from=0, built=True)

    def _refresh(self, state: _Namespace) -> None:
        assert state.filter is not None
        started = now_ms()
        try:
            batches = self._apply_log(state.namespace_id, state.filter, state.since_ms, state.applied)
            head = self._table.head(state.namespace_id)
            if _may_have_cut(head, state.since_ms):
                raise LogCut("a newer snapshot's compaction may have deleted log entries not read yet")
        except LogCut as why:
            log.info("Bloom filter of namespace %s: %s; loading it again", state.namespace_id, why)
            self._load(state)
            return
        if head != state.head:
            state.head = head
            state.batches_since_snapshot = 0
        state.batches_since_snapshot += batches
        state.since_ms = started - CLOCK_MARGIN_MS
        state.applied = {entry: ms for entry, ms in state.applied.items() if ms >= state.since_ms}
        # A snapshot replaces only an older one: the log a newer one's saver cut is not in this filter.
        due = state.batches_since_snapshot >= COMPACT_AFTER_BATCHES
        if due and head is not None and started > head.covered:
            self._save(state, state.filter, covered=started, replacing=head)

    def _apply_log(self, namespace_id: str, bloom: KeyFilter, since_ms: int, applied: dict[str, int]) -> int:
        """Add the keys of every batch published since ``since_ms`` not in ``applied``; how many batches."""
        entries = self._table.read_log(namespace_id, since_ms, applied)
        for entry in entries:
            bloom.add(entry.keys)
            applied[entry.name] = entry.ms
        return len(entries)

    def _save(self, state: _Namespace, bloom: KeyFilter, covered: int, replacing: Head | None) -> None:
        """Save ``bloom`` as the snapshot after ``replacing``; the winner deletes what it replaced."""
        if state.retired.is_set():
            return  # forgotten: the table may hold another view under this id now
        saved = self._table.save_snapshot(state.namespace_id, bloom.to_bytes(), covered, replacing)
        if saved is None:
            return  # another process saved this version first; the next pass reads its head
        state.head = saved
        state.batches_since_snapshot = 0
        if replacing is not None:
            self._table.delete_snapshot(state.namespace_id, replacing)
            self._table.delete_log_before(state.namespace_id, covered - 2 * CLOCK_MARGIN_MS)

    def _build(self, state: _Namespace) -> KeyFilter:
        """A filter of every key that has the view's row, from a parallel Scan (with a progress bar)."""
        bloom = KeyFilter.empty(state.config)
        # Shown on a terminal only (disable=None), and cleared when done.
        with tqdm(
            desc=f"Bloom filter {state.config.namespace}",
            unit=" keys",
            mininterval=1,
            leave=False,
            disable=None,
        ) as bar:

            def found(key: str) -> None:
                bloom.add((key,))
                bar.update()

            self._admin.keys_with(TS_PREFIX + state.namespace_id, found)
        return bloom


def _may_have_cut(head: Head | None, needed_from: int) -> bool:
    """True if ``head``'s saver may have deleted log entries from ``needed_from`` on."""
    return head is not None and head.covered - 2 * CLOCK_MARGIN_MS > needed_from
