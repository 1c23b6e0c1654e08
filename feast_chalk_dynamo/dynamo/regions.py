"""Which region of a Global Table a request goes to: the first healthy one, in the configured order.

A region that keeps failing (connection errors, timeouts, 5xx, each after
its retries) is left for the next one, so an outage of one region costs a
few slow requests instead of every request's full retry budget. An
unhealthy region is not pinged by a background thread: every probe
interval one real request is let through to it as a probe (one attempt),
and its answer makes the region healthy again. Throttles and validation
errors are answers: the region is up.

A region that has not answered once in this process has no record to go
by: a request sent there while another region follows gets one attempt,
and its failure makes the region unhealthy at once. So a process started
during an outage reaches the next region after one attempt, not after a
retry budget per request.

The state is a plain value object with an injected clock, so tests move
time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from feast_chalk_dynamo.dynamo.client import RetryPolicy, retry_cause
from feast_chalk_dynamo.errors import ConnectionFailed, ServerErrors, gave_up

# Control-plane reads that may go to another region when the current one is
# down, so the name mapping and table checks stay readable through an outage
# (paginated queries and scans too: see ``FailoverClient.get_paginator``).
# Control-plane writes (id allocation, the generation counter, table changes)
# never fail over: two regions allocating ids at once would hand one id to
# two names once replication merged them.
FAILOVER_READS = frozenset(
    {"get_item", "batch_get_item", "query", "scan", "describe_table", "describe_time_to_live"}
)

# A probe of a failing region is one attempt: its retries would only delay the failover.
PROBE = RetryPolicy(max_retries=0, scale_ms=0)
# Retries a request gets in a region that drops it or answers 5xx when another region could take it:
# a blip passes within them, and past them a region that has gone down would cost each request of
# the outage's first moments its whole retry budget (a read took 30 s at the default 12).
RETRIES_BEFORE_FAILOVER = 2


@dataclass(frozen=True)
class Candidate:
    """A region a request may go to: its index in the configured list, and whether it is a probe.

    A probe is sent once, without retries: the region was failing (or has
    not answered yet), so spending a request's retry budget on it would only
    delay the failover.
    """

    index: int
    probe: bool


class Budget:
    """The waits left before each retry of one request in one region.

    None for a probe; at most ``RETRIES_BEFORE_FAILOVER`` when the request
    may go on to another region (``may_go_on``); else the whole retry policy.
    A throttle found the region up, only busy, and a throttle never fails
    over: from then on the request has its whole retry policy there, as any
    request to a healthy region has.
    """

    def __init__(self, candidate: Candidate, retry: RetryPolicy, may_go_on: bool = False) -> None:
        self._retry = retry
        if candidate.probe:
            self.policy = PROBE
        elif may_go_on and retry.max_retries > RETRIES_BEFORE_FAILOVER:
            self.policy = replace(retry, max_retries=RETRIES_BEFORE_FAILOVER)
        else:
            self.policy = retry
        self.delays = self.policy.delays()

    def failed(self, cause: str) -> None:
        """An attempt failed for ``cause`` (see ``client.retry_cause``); call before taking a delay."""
        if cause == "throttled" and self.policy is not self._retry:
            self.policy, self.delays = self._retry, self._retry.delays()


@dataclass
class _State:
    failures: int = 0
    healthy: bool = True
    answered: bool = False  # once in this process; until then one failure makes the region unhealthy
    next_probe: float = 0.0


class RegionHealth:
    """Per-region failure runs and probe times, shared by every request of an engine."""

    def __init__(
        self,
        regions: Sequence[str],
        failures_to_unhealthy: int,
        probe_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.regions = tuple(regions)
        self._failures_to_unhealthy = failures_to_unhealthy
        self._probe_seconds = probe_seconds
        # Public so a test can move time for an engine it did not build.
        self.clock = clock
        self._states = [_State() for _ in self.regions]
        self._lock = threading.Lock()

    def candidates(self, probes: bool = True) -> list[Candidate]:
        """Where to send a request, in order: healthy regions and unhealthy ones due a probe.

        Taking a due probe moves that region's next probe one interval on,
        so only one request goes through per interval. ``probes=False`` for a
        request that may not fail over (it could not go on if the probe failed). With no region
        healthy and none due, every region is tried once, in order: failing
        fast without trying would turn a blip everywhere into an outage.
        A region that has not answered yet in this process is tried once
        when another region follows it (and the request may go on).
        """
        now = self.clock()
        chosen: list[Candidate] = []
        with self._lock:
            for index, state in enumerate(self._states):
                if state.healthy:
                    chosen.append(Candidate(index, probe=False))
                elif probes and now >= state.next_probe:
                    state.next_probe = now + self._probe_seconds
                    chosen.append(Candidate(index, probe=True))
            if not chosen:
                return [Candidate(index, probe=True) for index in range(len(self.regions))]
            if probes:
                chosen[:-1] = [
                    Candidate(each.index, probe=each.probe or not self._states[each.index].answered)
                    for each in chosen[:-1]
                ]
        return chosen

    def current(self) -> int:
        """The first healthy region (the first region if none is): what region-wide counts are labelled by."""
        with self._lock:
            return next((i for i, state in enumerate(self._states) if state.healthy), 0)

    def healthy(self, index: int) -> bool:
        with self._lock:
            return self._states[index].healthy

    def succeeded(self, index: int) -> None:
        """The region answered (any answer, a throttle or a 4xx too): healthy, its failure run over."""
        with self._lock:
            state = self._states[index]
            state.failures, state.healthy, state.answered = 0, True, True

    def failed(self, index: int) -> None:
        """A request failed there for good (a connection error, timeout or 5xx after its retries)."""
        if len(self._states) == 1:  # nowhere else to go: every request keeps its full retries
            return
        with self._lock:
            state = self._states[index]
            state.failures += 1
            run_over = state.failures >= self._failures_to_unhealthy or not state.answered
            if state.healthy and run_over:
                state.healthy = False
                state.next_probe = self.clock() + self._probe_seconds


def region_down(error: BaseException) -> bool:
    """True for a failure that says the region is not answering, not that the request was refused."""
    return retry_cause(error) in ("connection", "server error")


class FailoverClient:
    """botocore clients, one per region, that look like one: the control plane's way to the table.

    The clients make single attempts (``client.make_client(retries=False)``);
    each operation is retried here, on the store's ``RetryPolicy``, so that
    a probe is one attempt and the knobs (``max_retries``,
    ``retry_scale_factor``, ``request_timeout_ms``), not botocore's own
    backoff, bound how long a request takes to give up. One that fails for
    good raises the store's ``ConnectionFailed`` (``ServerErrors``,
    ``ThroughputExceeded``) naming the endpoint and the table.

    Reads (``FAILOVER_READS``) fail over; writes go to the first region,
    with their whole retry policy. Every other attribute (waiters, ``meta``,
    ``exceptions``) is the first region's client's.
    """

    def __init__(
        self,
        clients: Sequence[Any],
        retry: RetryPolicy,
        health: RegionHealth | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``health``: the engine's, shared with its reads and writes; by default one of this client's own."""
        self.clients = tuple(clients)
        self._retry = retry
        self._health = health or RegionHealth([c.meta.region_name for c in self.clients], 3, 5.0)
        self._sleep = sleep
        self._operations: dict[str, str] = dict(self.clients[0].meta.method_to_api_mapping)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._operations:
            return getattr(self.clients[0], name)
        failover = name in FAILOVER_READS

        def call(**kwargs: Any) -> Any:
            candidates = self._health.candidates() if failover else [Candidate(0, probe=False)]
            return self._answered(name, kwargs, candidates)[0]

        return call

    def get_paginator(self, operation: str) -> _Paginator:
        return _Paginator(self, operation)

    def pages(self, operation: str, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A paginated read (``query``, ``scan``): its first page fails over, the rest come from the
        region that gave it, each retried there.

        A failure after the first page raises: pages of two replicas cannot
        be spliced (one may lag the other).
        """
        page, index = self._answered(operation, kwargs, self._health.candidates())
        while True:
            yield page
            start = page.get("LastEvaluatedKey")
            if start is None:
                return
            request = {**kwargs, "ExclusiveStartKey": start}
            page = self._answered(operation, request, [Candidate(index, probe=False)])[0]

    def _answered(
        self, method: str, kwargs: dict[str, Any], candidates: Sequence[Candidate]
    ) -> tuple[dict[str, Any], int]:
        """The first answer of ``candidates`` (on to the next while one is down) and its index."""
        failure: BaseException | None = None
        for position, candidate in enumerate(candidates):
            try:
                answer = self._in_region(candidate, method, kwargs, position < len(candidates) - 1)
            except (ConnectionFailed, ServerErrors) as error:
                self._health.failed(candidate.index)
                failure = error
                continue
            except Exception:
                self._health.succeeded(candidate.index)  # refused or throttled: the region answered
                raise
            self._health.succeeded(candidate.index)
            return answer, candidate.index
        assert failure is not None
        raise failure

    def _in_region(
        self, candidate: Candidate, method: str, kwargs: dict[str, Any], may_go_on: bool
    ) -> dict[str, Any]:
        """The operation in one region, retried on the store's policy (see ``Budget``)."""
        client = self.clients[candidate.index]
        budget = Budget(candidate, self._retry, may_go_on)
        while True:
            try:
                answer: dict[str, Any] = getattr(client, method)(**kwargs)
                return answer
            except Exception as error:
                cause = retry_cause(error)
                if cause is None:
                    raise
                budget.failed(cause)
                delay = next(budget.delays, None)
                if delay is None:
                    retries, endpoint = budget.policy.max_retries, client.meta.endpoint_url
                    operation = self._operations[method]
                    raise gave_up(cause, _tables(kwargs), operation, retries, error, endpoint) from error
            self._sleep(delay)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def _tables(kwargs: dict[str, Any]) -> str:
    """The table (or tables, of a batch) a request names, for its error."""
    return str(kwargs.get("TableName") or ", ".join(kwargs.get("RequestItems", {})) or "?")


@dataclass(frozen=True)
class _Paginator:
    """What ``get_paginator`` gives: ``paginate`` iterates pages as botocore's does."""

    client: FailoverClient
    operation: str

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self.client.pages(self.operation, kwargs)
