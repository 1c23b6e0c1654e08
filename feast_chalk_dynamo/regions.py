"""Which region of a Global Table a request goes to: the first healthy one, in the configured order.

A region that keeps failing (connection errors, timeouts, 5xx, each after
its retries) is left for the next one, so an outage of one region costs a
few slow requests instead of every request's full retry budget. An
unhealthy region is not pinged by a background thread: every probe
interval one real request is let through to it as a probe (one attempt),
and its answer makes the region healthy again. Throttles and validation
errors are answers: the region is up.

The state is a plain value object with an injected clock, so tests move
time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from feast_chalk_dynamo.client import retry_cause

T = TypeVar("T")

# Control-plane reads that may go to another region when the current one is
# down, so the name mapping and table checks stay readable through an outage
# (paginated queries and scans too: see ``FailoverClient.get_paginator``).
# Control-plane writes (id allocation, the generation counter, table changes)
# never fail over: two regions allocating ids at once would hand one id to
# two names once replication merged them.
FAILOVER_READS = frozenset(
    {"get_item", "batch_get_item", "query", "scan", "describe_table", "describe_time_to_live"}
)


@dataclass(frozen=True)
class Candidate:
    """A region a request may go to: its index in the configured list, and whether it is a probe.

    A probe is sent once, without retries: the region was failing, so
    spending a request's retry budget on it would only delay the failover.
    """

    index: int
    probe: bool


@dataclass
class _State:
    failures: int = 0
    healthy: bool = True
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
        return chosen or [Candidate(index, probe=True) for index in range(len(self.regions))]

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
            state.failures, state.healthy = 0, True

    def failed(self, index: int) -> None:
        """A request failed there for good (a connection error, timeout or 5xx after its retries)."""
        if len(self._states) == 1:  # nowhere else to go: every request keeps its full retries
            return
        with self._lock:
            state = self._states[index]
            state.failures += 1
            if state.healthy and state.failures >= self._failures_to_unhealthy:
                state.healthy = False
                state.next_probe = self.clock() + self._probe_seconds


def region_down(error: BaseException) -> bool:
    """True for a failure that says the region is not answering, not that the request was refused."""
    return retry_cause(error) in ("connection", "server error")


class FailoverClient:
    """botocore clients, one per region, that look like one: control-plane reads fail over.

    Every other attribute (writes, waiters, ``meta``, ``exceptions``) is the
    first region's: see ``FAILOVER_READS`` for why writes stay there.
    """

    def __init__(self, clients: Sequence[Any], health: RegionHealth) -> None:
        self.clients = tuple(clients)
        self._health = health

    def __getattr__(self, name: str) -> Any:
        if name not in FAILOVER_READS:
            return getattr(self.clients[0], name)
        return lambda **kwargs: self._answered(lambda client: getattr(client, name)(**kwargs))

    def get_paginator(self, operation: str) -> _Paginator:
        return _Paginator(self, operation)

    def pages(self, operation: str, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A paginated read whose first page fails over; the rest come from the region that gave it.

        A failure after the first page raises: pages of two replicas cannot
        be spliced (one may lag the other).
        """

        def first_page(client: Any) -> tuple[dict[str, Any] | None, Iterator[dict[str, Any]]]:
            rest = iter(client.get_paginator(operation).paginate(**kwargs))
            return next(rest, None), rest

        first, rest = self._answered(first_page)
        if first is not None:
            yield first
        yield from rest

    def _answered(self, ask: Callable[[Any], T]) -> T:
        """``ask(client)`` of the first region that answers, going on to the next when one is down."""
        failure: BaseException | None = None
        for candidate in self._health.candidates():
            try:
                answer = ask(self.clients[candidate.index])
            except Exception as error:
                if not region_down(error):
                    self._health.succeeded(candidate.index)
                    raise
                self._health.failed(candidate.index)
                failure = error
                continue
            self._health.succeeded(candidate.index)
            return answer
        assert failure is not None
        raise failure

    def close(self) -> None:
        for client in self.clients:
            client.close()


@dataclass(frozen=True)
class _Paginator:
    """What ``get_paginator`` gives: ``paginate`` iterates pages as botocore's does."""

    client: FailoverClient
    operation: str

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self.client.pages(self.operation, kwargs)
