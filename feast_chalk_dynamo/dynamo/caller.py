"""Retries and request racing around single attempts, on the engine's event loop.

Attempts run on the client thread pool (boto3 and urllib3 block); the
waiting — backoff sleeps, racing timers, gathering sub-batches — happens as
coroutines on one loop, so no thread is parked while a request is slow and
the same code serves synchronous and asynchronous callers.

Every attempt, retry and race is counted from one line into both
``CallStats`` (this caller's, for tests and the racing wait) and the
process's Prometheus metrics (``metrics.CallMetrics``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from feast_chalk_dynamo.dynamo.client import InFlight, RetryPolicy, Transport, error_code, retry_cause
from feast_chalk_dynamo.dynamo.metrics import CallMetrics, MetricLabels
from feast_chalk_dynamo.dynamo.regions import Budget, Candidate, RegionHealth
from feast_chalk_dynamo.dynamo.tables import is_missing_table, missing_table
from feast_chalk_dynamo.errors import ConnectionFailed, ServerErrors, gave_up

Sleep = Callable[[float], Awaitable[None]]
# Work on an answer, done in the thread that received it (see ``Caller.call``).
Then = Callable[[dict[str, Any]], None] | None

# A duplicate request may be sent for at most this share of recent requests
# (plus a small burst), so a backend that is slow across the board does not
# get twice the load from racing.
RACING_BUDGET_SHARE = 0.10
RACING_BUDGET_BURST = 10.0

# Attempt latencies kept per operation: enough for a stable p99, bounded in memory.
LATENCY_WINDOW = 2000


@dataclass
class CallStats:
    """Counts for tests and metrics: attempts, retries by cause, racing outcomes, latencies."""

    attempts: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    duplicate_wins: int = 0
    duplicates_denied: int = 0
    duplicates_held_back: int = 0  # late, but so were their siblings: not raced
    latencies_ms: dict[str, deque[float]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=LATENCY_WINDOW))
    )
    regions: Counter[str] = field(default_factory=Counter)  # attempts by the region they went to
    failovers: Counter[str] = field(default_factory=Counter)  # requests sent on, by the region they left

    def latency_percentile(self, operation: str, percent: float) -> float | None:
        """Recent attempt latency at ``percent`` (0-100) in ms: what to set the racing wait from."""
        return percentile(self.latencies_ms.get(operation, ()), percent)


def percentile(samples: Iterable[float], percent: float) -> float | None:
    """The sample at ``percent`` (0-100) of the sorted samples (nearest rank), or None if none."""
    ordered = sorted(samples)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


class Siblings:
    """The sub-batches of one read, so that racing duplicates stragglers, not a slow backend.

    When one sub-batch of four is late, its request hit a slow spot: a
    duplicate will likely be fast. When all of them are late, the backend (or
    the network, or this machine) is slow for everyone, and duplicates only add
    load and spend the racing budget a real straggler will need. So a request
    past the racing wait is raced only if at least half of its siblings have
    answered (always, when it has none); if they had not, it is held back and
    raced only if it is still unanswered half a wait after they have.
    """

    def __init__(self, count: int) -> None:
        self._others = count - 1
        self._answered = 0
        self._next: asyncio.Future[None] | None = None

    def answered(self) -> None:
        self._answered += 1
        if self._next is not None and not self._next.done():
            self._next.set_result(None)
        self._next = None

    def straggling(self) -> bool:
        """True if enough siblings have answered for a late request to count as a straggler."""
        return 2 * self._answered >= self._others

    def next_answer(self) -> asyncio.Future[None]:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        return self._next


class RacingBudget:
    """Token bucket: each request earns a share of a token, each duplicate spends one."""

    def __init__(self, share: float = RACING_BUDGET_SHARE, burst: float = RACING_BUDGET_BURST) -> None:
        self._share = share
        self._burst = burst
        self._tokens = burst
        self._lock = threading.Lock()

    def earn(self) -> None:
        with self._lock:
            self._tokens = min(self._burst, self._tokens + self._share)

    def spend(self) -> bool:
        with self._lock:
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


@dataclass(frozen=True)
class Route:
    """One region's way in: its name, its transport and the metrics labelled by it."""

    region: str
    transport: Transport
    metrics: CallMetrics


class Caller:
    def __init__(
        self,
        transport: Transport | Sequence[tuple[str, Transport]],
        table: str,
        region: str,
        pool: ThreadPoolExecutor,
        retry: RetryPolicy,
        racing_wait_ms: float | None = None,
        sleep: Sleep = asyncio.sleep,
        health: RegionHealth | None = None,
    ) -> None:
        """``transport``: one, for ``region``; or (region, transport) pairs, preferred first.

        ``health`` decides among several regions (the engine shares one
        between its reads, writes and control plane).
        """
        pairs = [(region, transport)] if not isinstance(transport, Sequence) else list(transport)
        self._routes = [Route(name, way, CallMetrics(MetricLabels(table, name))) for name, way in pairs]
        self._health = health or RegionHealth([name for name, _ in pairs], 3, 5.0)
        self._table = table
        self._pool = pool
        self.retry = retry
        self.sleep = sleep
        self._racing_wait = racing_wait_ms / 1000 if racing_wait_ms else None
        self._budget = RacingBudget()
        self.stats = CallStats()
        # Called with (operation, payload) before every attempt: tests watch here.
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

    async def call(
        self,
        operation: str,
        payload: dict[str, Any],
        race: bool = False,
        inline: bool = False,
        siblings: Siblings | None = None,
        failover: bool = True,
        then: Then = None,
    ) -> dict[str, Any]:
        """One operation, retried on throttling, 5xx and connection failures, raced if asked.

        ``siblings``: the other requests of the same read, if any (see ``Siblings``).
        ``inline`` sends from the loop's own thread instead of the client pool:
        only for a loop private to one synchronous caller with nothing else in
        flight, where blocking it costs nothing and saves two thread hand-offs.
        ``then`` is called with each answer in the thread that received it
        (a reader decodes it there): handing the answer to another thread
        to work on would cost two more hand-offs. It is not part of the
        attempt: an error it raises is not retried, counted or failed over.

        It goes to the first healthy region (``regions.RegionHealth``). If it
        fails there for good with a connection error, timeout or 5xx, and
        ``failover`` allows (a request that is safe to send twice), it is sent
        once more, to the next region; probes of recovering regions come on
        top. A throttle never fails over: the region is up, only busy.
        """
        failure: Exception | None = None
        failed_in: Route | None = None
        regions_tried = 0
        candidates = self._health.candidates(probes=failover)
        for position, candidate in enumerate(candidates):
            if failed_in is not None:
                if not failover or (regions_tried >= 2 and not candidate.probe):
                    break
                self.stats.failovers[failed_in.region] += 1
                failed_in.metrics.failed_over(operation)
            # Another region will take it if this one fails for good: see the break above.
            tried = regions_tried + (not candidate.probe)
            may_go_on = failover and any(c.probe or tried < 2 for c in candidates[position + 1 :])
            try:
                response = await self._in_region(
                    candidate, operation, payload, race, inline, siblings, may_go_on, then
                )
            except (ConnectionFailed, ServerErrors) as error:
                self._health.failed(candidate.index)
                failure, failed_in = error, self._routes[candidate.index]
                regions_tried += not candidate.probe
                continue
            except Exception:
                self._health.succeeded(candidate.index)  # refused or throttled: the region answered
                raise
            self._health.succeeded(candidate.index)
            return response
        assert failure is not None
        raise failure

    async def _in_region(
        self,
        candidate: Candidate,
        operation: str,
        payload: dict[str, Any],
        race: bool,
        inline: bool,
        siblings: Siblings | None,
        may_go_on: bool,
        then: Then,
    ) -> dict[str, Any]:
        """The operation in one region, with this caller's retries (see ``regions.Budget``)."""
        route = self._routes[candidate.index]
        budget = Budget(candidate, self.retry, may_go_on)
        while True:
            try:
                if race and self._racing_wait is not None:
                    return await self._raced(route, operation, payload, self._racing_wait, siblings, then)
                if inline:
                    return self._inline_attempt(route, operation, payload, then)
                return await self._attempt(route, operation, payload, None, then)
            except Exception as error:
                cause = retry_cause(error)
                if cause is None:
                    if is_missing_table(error):
                        raise missing_table(self._table) from None
                    raise
                budget.failed(cause)
                await self.back_off(budget.delays, cause, operation, error, route, budget.policy)

    @property
    def metrics(self) -> CallMetrics:
        """The metrics of the region requests go to now: where counts found in answers belong."""
        return self._routes[self._health.current()].metrics

    async def back_off(
        self,
        delays: Iterator[float],
        cause: str,
        operation: str,
        error: Exception,
        route: Route | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        """Wait the next of ``delays`` before retrying after ``error``; raise by ``cause`` if none is left.

        Also for failures a caller finds in an answer (a throttled transaction's
        cancellation reasons), so every retry is counted and exhausted alike.
        ``route``: the region retried in, when known; else the current one.
        ``policy``: the one ``delays`` came from, if not this caller's (a probe's).
        """
        delay = next(delays, None)
        if delay is None:
            retries = (policy or self.retry).max_retries
            endpoint = (route or self._routes[self._health.current()]).transport.endpoint
            raise gave_up(cause, self._table, operation, retries, error, endpoint) from error
        self.retried(operation, cause, route)
        await self.sleep(delay)

    def retried(self, operation: str, cause: str, route: Route | None = None) -> None:
        """Count a retry (a caller retrying what it found in an answer counts here too)."""
        self.stats.retries[cause] += 1
        (route.metrics if route else self.metrics).retried(operation, cause)

    def throttled(self, operation: str) -> None:
        """Count a throttle found in an answer (a transaction cancelled for throttling).

        A request answered with a throttling error is counted by the attempt itself.
        """
        self.metrics.throttled(operation)

    def _attempt(
        self,
        route: Route,
        operation: str,
        payload: dict[str, Any],
        in_flight: InFlight | None = None,
        then: Then = None,
    ) -> asyncio.Future[dict[str, Any]]:
        self._count(route, operation, payload)
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._pool, self._send_then, route, operation, payload, in_flight, then)

    def _inline_attempt(
        self, route: Route, operation: str, payload: dict[str, Any], then: Then
    ) -> dict[str, Any]:
        self._count(route, operation, payload)
        return self._send_then(route, operation, payload, None, then)

    def _send_then(
        self, route: Route, operation: str, payload: dict[str, Any], in_flight: InFlight | None, then: Then
    ) -> dict[str, Any]:
        response = self._timed_send(route, operation, payload, in_flight)
        if then is not None:
            then(response)
        return response

    def _count(self, route: Route, operation: str, payload: dict[str, Any]) -> None:
        self.stats.attempts[operation] += 1
        self.stats.regions[route.region] += 1
        route.metrics.sent(operation)
        for listener in self.listeners:
            listener(operation, payload)

    def _timed_send(
        self, route: Route, operation: str, payload: dict[str, Any], in_flight: InFlight | None = None
    ) -> dict[str, Any]:
        start = time.perf_counter()
        code: str | None = None
        throttled = False
        try:
            return route.transport.send(operation, payload, in_flight)
        except Exception as error:
            code, throttled = error_code(error), retry_cause(error) == "throttled"
            raise
        finally:
            if in_flight is None or not in_flight.aborted:  # a cut-off loser's time (and error) says nothing
                seconds = time.perf_counter() - start
                self.stats.latencies_ms[operation].append(seconds * 1000)
                route.metrics.answered(operation, seconds, code, throttled)

    async def _raced(
        self,
        route: Route,
        operation: str,
        payload: dict[str, Any],
        wait: float,
        siblings: Siblings | None,
        then: Then,
    ) -> dict[str, Any]:
        """Send again if no answer within ``wait``; the first answer wins, the other is cut off."""
        self._budget.earn()
        primary_connection = InFlight()
        primary = self._attempt(route, operation, payload, primary_connection, then)
        done, _ = await asyncio.wait({primary}, timeout=wait)
        if done:
            return primary.result()
        if siblings is not None and not siblings.straggling():
            self._race_event(route, operation, "duplicates_held_back")
            while not siblings.straggling():  # wait for our answer or for siblings', whichever first
                either: set[asyncio.Future[Any]] = {primary, siblings.next_answer()}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if primary.done():
                    return primary.result()
            # Siblings answered late too: ours will likely follow them closely.
            done, _ = await asyncio.wait({primary}, timeout=wait / 2)
            if done:
                return primary.result()
        if not self._budget.spend():
            self._race_event(route, operation, "duplicates_denied")
            return await primary
        self._race_event(route, operation, "duplicates")
        duplicate_connection = InFlight()
        duplicate = self._attempt(route, operation, payload, duplicate_connection, then)
        connections = {primary: primary_connection, duplicate: duplicate_connection}
        pending = {primary, duplicate}
        failure: BaseException | None = None
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                if future.exception() is None:
                    if future is duplicate:
                        self._race_event(route, operation, "duplicate_wins")
                    for loser in pending:
                        loser.add_done_callback(_consume)
                        connections[loser].abort()
                    return future.result()
                failure = future.exception()
        assert failure is not None
        raise failure

    def _race_event(self, route: Route, operation: str, event: str) -> None:
        """Count a racing outcome; ``event`` names its ``CallStats`` field."""
        setattr(self.stats, event, getattr(self.stats, event) + 1)
        route.metrics.raced(operation, event)


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve a dropped racer's outcome so asyncio does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()
