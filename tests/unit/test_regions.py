"""Region health and failover as values: a fake clock, scripted transports and clients, no server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from feast_chalk_dynamo.dynamo.caller import Caller
from feast_chalk_dynamo.dynamo.client import RetryPolicy
from feast_chalk_dynamo.dynamo.metrics import snapshot
from feast_chalk_dynamo.dynamo.regions import RETRIES_BEFORE_FAILOVER, Candidate, FailoverClient, RegionHealth
from feast_chalk_dynamo.errors import ConnectionFailed, ServerErrors, ThroughputExceeded
from tests.unit.test_metrics import Scripted, no_sleep, throttle

EAST, WEST = "us-east-1", "us-west-2"
OK: dict[str, Any] = {"Responses": {}}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def server_error() -> ClientError:
    error = {"Error": {"Code": "InternalServerError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}
    return ClientError(error, "BatchGetItem")  # type: ignore[arg-type]


def validation_error() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ValidationException"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "UpdateItem"
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fresh(clock: FakeClock) -> RegionHealth:
    """A process's health record as it starts: no region has answered yet."""
    return RegionHealth([EAST, WEST], failures_to_unhealthy=3, probe_seconds=5.0, clock=clock)


@pytest.fixture
def health(fresh: RegionHealth) -> RegionHealth:
    """A running process's: both regions have answered."""
    fresh.succeeded(0)
    fresh.succeeded(1)
    return fresh


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as running:
        yield running


def first(health: RegionHealth) -> Candidate:
    return health.candidates()[0]


# -- RegionHealth --------------------------------------------------------------


def test_a_region_is_unhealthy_after_a_run_of_failures_and_requests_go_to_the_next(
    health: RegionHealth,
) -> None:
    assert health.candidates() == [Candidate(0, probe=False), Candidate(1, probe=False)]
    health.failed(0)
    health.failed(0)
    assert health.healthy(0) and first(health) == Candidate(0, probe=False)
    health.failed(0)
    assert not health.healthy(0)
    assert health.candidates() == [Candidate(1, probe=False)]
    assert health.current() == 1


def test_failures_must_be_in_a_row(health: RegionHealth) -> None:
    for _ in range(5):
        health.failed(0)
        health.failed(0)
        health.succeeded(0)  # a throttle or any answer ends the run
    assert health.healthy(0)


def test_an_unhealthy_region_gets_one_probe_per_interval_and_recovers_when_it_answers(
    health: RegionHealth, clock: FakeClock
) -> None:
    for _ in range(3):
        health.failed(0)
    clock.now += 4.9
    assert health.candidates() == [Candidate(1, probe=False)]
    clock.now += 0.1
    assert health.candidates() == [Candidate(0, probe=True), Candidate(1, probe=False)]
    assert health.candidates() == [Candidate(1, probe=False)]  # one probe per interval, not one per request
    health.failed(0)  # the probe failed: the next one an interval later
    clock.now += 4.9
    assert health.candidates() == [Candidate(1, probe=False)]
    clock.now += 0.1
    assert first(health) == Candidate(0, probe=True)
    health.succeeded(0)
    assert health.healthy(0) and health.candidates() == [Candidate(0, False), Candidate(1, False)]
    assert health.current() == 0


def test_a_request_that_cannot_fail_over_takes_no_probe(health: RegionHealth, clock: FakeClock) -> None:
    for _ in range(3):
        health.failed(0)
    clock.now += 5
    assert health.candidates(probes=False) == [Candidate(1, probe=False)]
    assert first(health) == Candidate(0, probe=True)  # still due for the next request that may


def test_with_every_region_down_each_is_tried_once(health: RegionHealth) -> None:
    for index in (0, 1):
        for _ in range(3):
            health.failed(index)
    assert health.candidates() == [Candidate(0, probe=True), Candidate(1, probe=True)]


def test_a_single_region_is_never_unhealthy(clock: FakeClock) -> None:
    alone = RegionHealth([EAST], failures_to_unhealthy=1, probe_seconds=5.0, clock=clock)
    assert alone.candidates() == [Candidate(0, probe=False)]  # not answered yet, but nowhere else to go
    for _ in range(10):
        alone.failed(0)
    assert alone.candidates() == [Candidate(0, probe=False)]  # every request keeps its full retries


def test_a_region_that_has_not_answered_yet_is_tried_once_and_left_after_its_first_failure(
    fresh: RegionHealth,
) -> None:
    # One attempt where another region follows; the last one keeps its retries.
    assert fresh.candidates() == [Candidate(0, probe=True), Candidate(1, probe=False)]
    # A request that may not fail over keeps its retries anywhere.
    assert fresh.candidates(probes=False) == [Candidate(0, probe=False), Candidate(1, probe=False)]
    fresh.failed(0)  # no run of failures needed: it never answered
    assert not fresh.healthy(0)
    assert fresh.candidates() == [Candidate(1, probe=False)]


def test_a_region_that_answered_once_is_left_only_after_a_run(fresh: RegionHealth) -> None:
    fresh.succeeded(0)
    assert fresh.candidates() == [Candidate(0, probe=False), Candidate(1, probe=False)]
    fresh.failed(0)
    fresh.failed(0)
    assert fresh.healthy(0)


# -- Caller failover -------------------------------------------------------------


def two_region_caller(
    east: Scripted, west: Scripted, health: RegionHealth, pool: ThreadPoolExecutor, table: str = "regions"
) -> Caller:
    """One retry per region: a failure for good is two attempts."""
    routes = [(EAST, east), (WEST, west)]
    return Caller(routes, table, EAST, pool, RetryPolicy(1, 1), sleep=no_sleep, health=health)


def test_a_read_that_fails_for_good_in_one_region_is_answered_by_the_next(
    health: RegionHealth, pool: ThreadPoolExecutor
) -> None:
    table = f"regions-{uuid.uuid4().hex[:8]}"
    east = Scripted(ConnectionResetError(), ConnectionResetError())  # the attempt and its one retry
    caller = two_region_caller(east, Scripted(OK), health, pool, table)
    assert asyncio.run(caller.call("BatchGetItem", {})) == OK
    assert caller.stats.regions == {EAST: 2, WEST: 1} and caller.stats.failovers == {EAST: 1}
    values = snapshot(table)
    assert values["feast_chalk_dynamo_requests_total"] == {
        f"region={EAST},operation=BatchGetItem": 2,
        f"region={WEST},operation=BatchGetItem": 1,
    }
    assert values["feast_chalk_dynamo_failovers_total"] == {f"region={EAST},operation=BatchGetItem": 1}


def test_a_throttle_never_fails_over(health: RegionHealth, pool: ThreadPoolExecutor) -> None:
    west = Scripted()  # any request here would pop from an empty script
    caller = two_region_caller(Scripted(throttle(), throttle()), west, health, pool)
    with pytest.raises(ThroughputExceeded):
        asyncio.run(caller.call("BatchGetItem", {}))
    assert caller.stats.regions == {EAST: 2}
    assert health.healthy(0)


def test_a_refused_request_does_not_fail_over_and_counts_as_an_answer(
    health: RegionHealth, pool: ThreadPoolExecutor
) -> None:
    health.failed(0)
    caller = two_region_caller(Scripted(validation_error()), Scripted(), health, pool)
    with pytest.raises(ClientError):
        asyncio.run(caller.call("UpdateItem", {}))
    assert caller.stats.regions == {EAST: 1}
    health.failed(0)
    health.failed(0)
    assert health.healthy(0)  # the refusal ended the run of failures


def test_a_request_that_may_not_fail_over_raises_in_its_region(
    health: RegionHealth, pool: ThreadPoolExecutor
) -> None:
    caller = two_region_caller(Scripted(server_error(), server_error()), Scripted(), health, pool)
    with pytest.raises(ServerErrors):
        asyncio.run(caller.call("UpdateItem", {}, failover=False))
    assert caller.stats.regions == {EAST: 2} and not caller.stats.failovers


def test_both_regions_down_raises_after_each_was_tried(
    health: RegionHealth, pool: ThreadPoolExecutor
) -> None:
    down = [ConnectionResetError(), ConnectionResetError()]
    caller = two_region_caller(Scripted(*down), Scripted(*down), health, pool)
    with pytest.raises(ConnectionFailed):
        asyncio.run(caller.call("BatchGetItem", {}))
    assert caller.stats.regions == {EAST: 2, WEST: 2}


def test_after_the_run_requests_skip_the_region_and_a_probe_is_one_attempt(
    health: RegionHealth, clock: FakeClock, pool: ThreadPoolExecutor
) -> None:
    east = Scripted(*[ConnectionResetError()] * 7, OK)
    caller = two_region_caller(east, Scripted(*[OK] * 6), health, pool)
    for _ in range(5):
        assert asyncio.run(caller.call("BatchGetItem", {})) == OK
    # Three reads spent their attempt and retry in the east; then it was unhealthy and skipped.
    assert caller.stats.regions == {EAST: 6, WEST: 5}
    clock.now += 5
    asyncio.run(caller.call("BatchGetItem", {}))  # the probe fails (one attempt), the west answers
    assert caller.stats.regions == {EAST: 7, WEST: 6} and not health.healthy(0)
    clock.now += 5
    asyncio.run(caller.call("BatchGetItem", {}))  # the probe answers
    assert caller.stats.regions == {EAST: 8, WEST: 6} and health.healthy(0)


# -- the control plane's clients ---------------------------------------------------


OPERATIONS = {
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "query": "Query",
    "describe_table": "DescribeTable",
}


class ScriptedClient:
    """A single-attempt botocore client stand-in: each call of an operation answers from its script."""

    def __init__(self, *answers: Any, endpoint: str = "http://scripted") -> None:
        self._answers = list(answers)
        self.calls: list[str] = []
        self.meta = SimpleNamespace(method_to_api_mapping=OPERATIONS, endpoint_url=endpoint, region_name=EAST)

    def __getattr__(self, name: str) -> Any:
        def operation(**_: Any) -> Any:
            self.calls.append(name)
            answer = self._answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        return operation


def down(endpoint: str = "http://east") -> EndpointConnectionError:
    return EndpointConnectionError(endpoint_url=endpoint)


class Sleeps(list[float]):
    """The control plane's backoff, recorded instead of slept."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def control_client(east: ScriptedClient, west: ScriptedClient, health: RegionHealth) -> FailoverClient:
    """One retry per request, as ``two_region_caller``'s."""
    return FailoverClient([east, west], RetryPolicy(1, 1), health, sleep=Sleeps())


def test_control_plane_reads_fail_over_and_writes_stay_in_the_first_region(health: RegionHealth) -> None:
    east = ScriptedClient(down(), down(), {"east": "wrote"})  # the read's attempt and its one retry
    west = ScriptedClient({"Item": {"west": "read"}})
    client = control_client(east, west, health)
    assert client.get_item(TableName="t", Key={}) == {"Item": {"west": "read"}}
    assert client.update_item(TableName="t", Key={}) == {"east": "wrote"}
    assert (east.calls, west.calls) == (["get_item", "get_item", "update_item"], ["get_item"])


def test_a_control_plane_probe_is_one_attempt(health: RegionHealth, clock: FakeClock) -> None:
    for _ in range(3):
        health.failed(0)
    clock.now += 5
    east = ScriptedClient(down())  # a retry would pop from an empty script
    west = ScriptedClient({"Item": {}}, {"Item": {}})
    client = control_client(east, west, health)
    client.get_item(TableName="t", Key={})  # the probe fails; the west answers
    client.get_item(TableName="t", Key={})  # no probe due: the west alone
    assert (east.calls, west.calls) == (["get_item"], ["get_item", "get_item"])


def test_a_new_process_spends_one_control_plane_attempt_on_a_region_that_does_not_answer(
    fresh: RegionHealth,
) -> None:
    east = ScriptedClient(down())
    west = ScriptedClient({"Item": {}}, {"Items": []})
    client = control_client(east, west, fresh)
    client.get_item(TableName="t", Key={})
    assert list(client.get_paginator("query").paginate(TableName="t")) == [{"Items": []}]
    assert (east.calls, west.calls) == (["get_item"], ["get_item", "query"])


def test_a_control_plane_request_that_fails_for_good_raises_connection_failed_naming_endpoint_and_table(
    health: RegionHealth,
) -> None:
    east = ScriptedClient(*[down("http://east")] * 4, endpoint="http://east")
    sleeps = Sleeps()
    client = FailoverClient([east, ScriptedClient()], RetryPolicy(3, 100), health, sleep=sleeps)
    gave_up = r"^PutItem on table 't' at http://east gave up .*after 3 retries"
    with pytest.raises(ConnectionFailed, match=gave_up):
        client.put_item(TableName="t", Item={})  # a write: the first region's, with the store's retries
    assert east.calls == ["put_item"] * 4
    # The store's backoff (full jitter within 100 ms x 2^n), not botocore's.
    assert len(sleeps) == 3 and all(0 <= s <= 0.1 * 2**n for n, s in enumerate(sleeps))


def test_a_throttled_control_plane_request_keeps_its_error_after_its_retries(health: RegionHealth) -> None:
    east = ScriptedClient(throttle(), throttle())
    with pytest.raises(ThroughputExceeded, match="GetItem on table 't' at http://scripted"):
        control_client(east, ScriptedClient(), health).get_item(TableName="t", Key={})
    assert health.healthy(0)  # a throttle is an answer


def test_a_paginated_read_fails_over_before_its_first_page_and_retries_later_pages_there(
    health: RegionHealth,
) -> None:
    east = ScriptedClient(down(), down())
    more = {"k": {"S": "1"}}
    west = ScriptedClient({"Items": [1], "LastEvaluatedKey": more}, down(), {"Items": [2]})
    pages = control_client(east, west, health).get_paginator("query").paginate(TableName="t")
    assert [page["Items"] for page in pages] == [[1], [2]]
    assert (east.calls, west.calls) == (["query"] * 2, ["query"] * 3)


def test_a_paginated_read_failing_after_its_first_page_raises(health: RegionHealth) -> None:
    west = ScriptedClient({"Items": [1], "LastEvaluatedKey": {"k": {"S": "1"}}}, down(), down())
    pages = control_client(ScriptedClient(down(), down()), west, health).get_paginator("query")
    with pytest.raises(ConnectionFailed):
        list(pages.paginate(TableName="t"))


def test_a_process_that_starts_while_the_first_region_is_down_spends_one_attempt_there(
    fresh: RegionHealth, pool: ThreadPoolExecutor
) -> None:
    east = Scripted(ConnectionResetError())  # a second attempt would pop from an empty script
    caller = two_region_caller(east, Scripted(OK, OK), fresh, pool)
    assert asyncio.run(caller.call("BatchGetItem", {})) == OK
    assert asyncio.run(caller.call("BatchGetItem", {})) == OK  # the east is skipped now
    assert caller.stats.regions == {EAST: 1, WEST: 2} and not fresh.healthy(0)


def test_a_probe_answered_with_a_throttle_gets_the_requests_retries_there(
    health: RegionHealth, clock: FakeClock, pool: ThreadPoolExecutor
) -> None:
    for _ in range(3):
        health.failed(0)
    clock.now += 5
    west = Scripted()  # the east answered: nothing goes on to the west
    caller = two_region_caller(Scripted(throttle(), OK), west, health, pool)
    assert asyncio.run(caller.call("BatchGetItem", {})) == OK
    assert caller.stats.regions == {EAST: 2} and caller.stats.retries == {"throttled": 1}
    assert health.healthy(0)


def test_with_every_region_unhealthy_a_read_costs_one_attempt_in_each(
    health: RegionHealth, pool: ThreadPoolExecutor
) -> None:
    for index in (0, 1):
        for _ in range(3):
            health.failed(index)
    caller = two_region_caller(
        Scripted(ConnectionResetError()), Scripted(ConnectionResetError()), health, pool
    )
    with pytest.raises(ConnectionFailed, match="after 0 retries"):
        asyncio.run(caller.call("BatchGetItem", {}))
    assert caller.stats.regions == {EAST: 1, WEST: 1}


# -- the first moments of an outage ----------------------------------------------------


def test_a_request_another_region_could_take_spends_few_retries_where_it_is_dropped(
    health: RegionHealth, pool: ThreadPoolExecutor
) -> None:
    """At the default 12 retries, each of the first requests of an outage spent all of them before the
    region was left: a read took 30 s. With another region to go to, a few retries, then on."""
    east = Scripted(*[ConnectionResetError()] * (RETRIES_BEFORE_FAILOVER + 1))
    caller = Caller([(EAST, east), (WEST, Scripted(OK))], "regions", EAST, pool, RetryPolicy(12, 1),
                    sleep=no_sleep, health=health)  # fmt: skip
    assert asyncio.run(caller.call("BatchGetItem", {})) == OK
    assert caller.stats.regions == {EAST: RETRIES_BEFORE_FAILOVER + 1, WEST: 1}


def test_a_throttle_keeps_the_whole_retry_budget_in_its_region(
    health: RegionHealth, pool: ThreadPoolExecutor
) -> None:
    busy = [ConnectionResetError(), *[throttle()] * 5, OK]  # dropped once, then busy: it is up
    caller = Caller([(EAST, Scripted(*busy)), (WEST, Scripted())], "regions", EAST, pool, RetryPolicy(12, 1),
                    sleep=no_sleep, health=health)  # fmt: skip
    assert asyncio.run(caller.call("BatchGetItem", {})) == OK
    assert caller.stats.regions == {EAST: 7}


def test_the_last_region_and_a_request_that_may_not_fail_over_keep_their_retries(
    health: RegionHealth, pool: ThreadPoolExecutor
) -> None:
    flaky = [*[ConnectionResetError()] * 5, OK]
    caller = Caller([(EAST, Scripted(*flaky)), (WEST, Scripted())], "regions", EAST, pool, RetryPolicy(12, 1),
                    sleep=no_sleep, health=health)  # fmt: skip
    assert asyncio.run(caller.call("UpdateItem", {}, failover=False)) == OK
    assert caller.stats.regions == {EAST: 6}
    for _ in range(3):
        health.failed(0)  # the east is left: the west is the last region
    west = Scripted(*flaky)
    caller = Caller([(EAST, Scripted()), (WEST, west)], "regions", EAST, pool, RetryPolicy(12, 1),
                    sleep=no_sleep, health=health)  # fmt: skip
    assert asyncio.run(caller.call("BatchGetItem", {})) == OK
    assert caller.stats.regions == {WEST: 6}


def test_the_control_plane_fails_over_after_a_few_retries_too(health: RegionHealth) -> None:
    east = ScriptedClient(*[down()] * (RETRIES_BEFORE_FAILOVER + 1))
    west = ScriptedClient({"Item": {"west": "read"}})
    client = FailoverClient([east, west], RetryPolicy(12, 1), health, sleep=Sleeps())
    assert client.get_item(TableName="t", Key={}) == {"Item": {"west": "read"}}
    assert (len(east.calls), len(west.calls)) == (RETRIES_BEFORE_FAILOVER + 1, 1)
