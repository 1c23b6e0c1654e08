"""Everything one configuration holds: transports, pools, loop, names, reader, writer, admin.

Built once per configuration and shared by every store instance in the
process that uses it, because the connection pool, the thread pools and the
warmed name mapping are what make reads fast — and because Feast builds a new
store for every ``FeatureStore``: per-store pools would leak threads and
sockets when applications create many of them.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cachetools import LRUCache

from feast_chalk_dynamo.aggregates.writer import AggregateWriter
from feast_chalk_dynamo.dynamo.caller import Caller, Sleep
from feast_chalk_dynamo.dynamo.client import RetryPolicy, make_client, make_transport
from feast_chalk_dynamo.dynamo.metrics import MetricLabels
from feast_chalk_dynamo.dynamo.regions import FailoverClient, RegionHealth
from feast_chalk_dynamo.dynamo.tables import report_missing_table
from feast_chalk_dynamo.items.expiry import ExpiryFollower
from feast_chalk_dynamo.items.lifecycle import TableAdmin
from feast_chalk_dynamo.items.names import NameRegistry
from feast_chalk_dynamo.local.answers import LocalAnswers
from feast_chalk_dynamo.local.bloom import BloomFilters
from feast_chalk_dynamo.local.counters import CounterBoard
from feast_chalk_dynamo.reads.reader import ON_SHARED_LOOP, Reader
from feast_chalk_dynamo.settings import DynamoSettings
from feast_chalk_dynamo.writes import Writer

T = TypeVar("T")

# One event loop per thread that calls an engine synchronously, shared by every
# engine: loops are not tied to an engine, and one per thread bounds them.
_THREAD_LOOPS = threading.local()


class RequestCounter:
    """Counts the control plane's attempts (tables, names); reads and writes count in their Caller."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        with self._lock:
            self._counts[model.name] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)


class LockedLRU:
    """A bounded, thread-safe memo (for resolved read layouts): cachetools' LRUCache behind a lock."""

    def __init__(self, maxsize: int) -> None:
        self._entries: LRUCache[Any, Any] = LRUCache(maxsize)
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._entries[key] = value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Engine:
    def __init__(
        self,
        settings: DynamoSettings,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``sleep`` (retry backoff) and ``clock`` (region probes) are injected so tests need not wait."""
        self.settings = settings
        self.pool = ThreadPoolExecutor(settings.client_threads, thread_name_prefix="dynamodb-client")
        self.serde_pool = ThreadPoolExecutor(settings.serde_threads, thread_name_prefix="dynamodb-serde")
        self.loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self.loop.run_forever, name="dynamodb-loop", daemon=True)
        self._loop_thread.start()
        retry = RetryPolicy.from_settings(settings)
        table = settings.table_name
        read_wait = settings.request_racing_wait_time if settings.enable_request_racing else None
        # One health record for reads, writes and the control plane: a region's outage is everyone's.
        regional = [settings.for_region(endpoint) for endpoint in settings.region_endpoints]
        names = [each.region for each in regional]
        self.health = RegionHealth(
            names, settings.region_failures_to_unhealthy, settings.region_probe_seconds, clock
        )
        self.read_transports = [make_transport(each) for each in regional]
        self.write_transports = [make_transport(each) for each in regional]
        reading = list(zip(names, self.read_transports, strict=True))
        writing = list(zip(names, self.write_transports, strict=True))
        self.reads = Caller(reading, table, names[0], self.pool, retry, read_wait, sleep, self.health)
        self.writes = Caller(writing, table, names[0], self.pool, retry, None, sleep, self.health)
        # The control plane (names, tables, Bloom filters): single-attempt botocore clients, retried by
        # FailoverClient on the same policy and health as reads and writes.
        self.requests = RequestCounter()
        clients = [make_client(each, retries=False) for each in regional]
        for client in clients:
            client.meta.events.register("before-call.dynamodb", self.requests)
            report_missing_table(client, table)
        self.client = FailoverClient(clients, retry, self.health)
        self.names = NameRegistry(
            self.client,
            table,
            warm=settings.warmup_fqn_mapping,
            refresh_seconds=settings.mapping_refresh_seconds,
            retry=retry,
            pool=self.pool,
        )
        self.admin = TableAdmin(self.client, settings, self.pool)
        self.blooms = (
            BloomFilters(self.client, self.admin, settings, retry) if settings.bloom_filters else None
        )
        self.local = LocalAnswers(settings, CounterBoard(MetricLabels(table, names[0])), self.blooms)
        self.layouts = LockedLRU(4096)
        self.reader = Reader(self.reads, settings, self.serde_pool, self.loop, local=self.local)
        self.writer = Writer(self.writes, settings, self.serde_pool)
        self.aggregates = AggregateWriter(
            self.writes, settings, MetricLabels(table, names[0]),
            fetch=lambda keys: self.reader.fetch_items(keys, consistent=True),
        )  # fmt: skip
        # The time windows end at and events are late by (epoch s); a test sets a fake one.
        self.now: Callable[[], float] = time.time
        self.expiry = ExpiryFollower(self.admin, self.client, table)
        self.names.on_new_table.append(self._forget_table)

    def _forget_table(self) -> None:
        """The table is another, or its ids were handed out again: drop all that was derived from them."""
        self.layouts.clear()
        self.local.forget_all()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run to completion for a synchronous caller, on a loop of the caller's own thread.

        A private loop lets the read decode and, for a single request, send
        without handing work between threads: each hand-off costs 0.1-1 ms on a
        busy machine, as much as decoding 100 items. A thread already running a
        loop (sync code called from async code) uses the engine's shared loop.
        """
        if _loop_running_here():
            return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()
        loop = getattr(_THREAD_LOOPS, "loop", None)
        if loop is None:
            loop = _THREAD_LOOPS.loop = asyncio.new_event_loop()
        return loop.run_until_complete(coroutine)

    async def read_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a read (``Reader.read``) on the caller's loop, without blocking it (``feast serve``).

        Unlike ``run_async`` it does not hop to the engine's loop and back: a
        read's CPU work is done in the threads that receive its answers, so
        it can share the caller's loop, and two thread hand-offs fewer cut
        a ``feast serve`` request's CPU by about 6 %.
        """
        token = ON_SHARED_LOOP.set(True)
        try:
            return await coroutine
        finally:
            ON_SHARED_LOOP.reset(token)

    async def run_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on the engine's loop without blocking the caller's loop (``feast serve``)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def ready(self, fresh: bool = False) -> None:
        """The name mapping loaded (if configured to warm up) and not staler than its refresh interval;
        ``fresh``: checked against the table now (before changing the mapping: an apply, a teardown)."""
        self.names.ensure_fresh(force=fresh)

    def close(self) -> None:
        if self.blooms is not None:
            self.blooms.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._loop_thread.join(timeout=10)
        self.loop.close()
        self.pool.shutdown(wait=True)
        self.serde_pool.shutdown(wait=True)
        for transport in (*self.read_transports, *self.write_transports):
            transport.close()
        self.client.close()


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class SharedEngines:
    """Process-wide engines by configuration, reference-counted by the stores using them.

    A store that is garbage-collected gives its engines back from a
    finalizer, and a finalizer may run on any thread at any allocation,
    including inside ``acquire`` while it holds the lock to build an engine.
    So a finalizer only queues the engines (``release_later``: no lock, no
    blocking, no I/O), and a reaper thread releases them, closing the last
    user's pools on its own time.
    """

    def __init__(self) -> None:
        self._engines: dict[str, tuple[Engine, int]] = {}
        self._lock = threading.Lock()
        # SimpleQueue.put is reentrant: safe from finalizers and signal handlers.
        self._returned: queue.SimpleQueue[list[Engine] | threading.Event] = queue.SimpleQueue()
        self._reaper: threading.Thread | None = None

    def acquire(self, settings: DynamoSettings) -> Engine:
        key = settings.model_dump_json()
        with self._lock:
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="dynamodb-engine-reaper", daemon=True)
                self._reaper.start()
            engine, users = self._engines.get(key) or (None, 0)
            if engine is None:
                engine = Engine(settings)
            self._engines[key] = (engine, users + 1)
            return engine

    def release(self, engine: Engine) -> None:
        key = engine.settings.model_dump_json()
        with self._lock:
            current, users = self._engines[key]
            if users > 1:
                self._engines[key] = (current, users - 1)
                return
            del self._engines[key]
        engine.close()

    def release_later(self, engines: Iterable[Engine]) -> None:
        """Queue engines for the reaper; the only call a finalizer may make."""
        self._returned.put(list(engines))

    def _reap(self) -> None:
        while True:
            returned = self._returned.get()
            if isinstance(returned, threading.Event):
                returned.set()
                continue
            for engine in returned:
                self.release(engine)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the engines queued so far are released: the reaper takes them in order."""
        if self._reaper is None:
            return True
        done = threading.Event()
        self._returned.put(done)
        return done.wait(timeout)

    def __len__(self) -> int:
        with self._lock:
            return len(self._engines)


ENGINES = SharedEngines()
