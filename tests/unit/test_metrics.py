"""Recording the store's Prometheus metrics: what each event adds, that the store's own counters
and the metrics are fed from one place, that recording never raises, and that every name is documented."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from feast_chalk_dynamo.dynamo import metrics
from feast_chalk_dynamo.dynamo.caller import Caller, CallStats
from feast_chalk_dynamo.dynamo.client import InFlight, RetryPolicy
from feast_chalk_dynamo.dynamo.metrics import CallMetrics, MetricLabels, ViewCounters, snapshot
from feast_chalk_dynamo.local.counters import CounterBoard, NamespaceCounts
from feast_chalk_dynamo.writes.writer import WriteStats

REGION = "eu-west-1"
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def table() -> str:
    """Metrics are process-wide: a table of its own keeps each test's samples apart."""
    return f"metrics-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as running:
        yield running


def throttle() -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "BatchGetItem",
    )


class Scripted:
    """A transport that answers from a script: an exception is raised, anything else returned."""

    def __init__(self, *answers: Any, endpoint: str = "http://scripted") -> None:
        self._answers = list(answers)
        self.endpoint = endpoint

    def send(self, operation: str, payload: dict[str, Any], in_flight: InFlight | None = None) -> Any:
        answer = self._answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        pass


async def no_sleep(_: float) -> None:
    pass


def test_a_throttled_request_is_counted_as_a_request_an_error_a_throttle_and_a_retry(
    table: str, pool: ThreadPoolExecutor
) -> None:
    caller = Caller(
        Scripted(throttle(), {"Responses": {}}), table, REGION, pool, RetryPolicy(3, 1), sleep=no_sleep
    )
    asyncio.run(caller.call("BatchGetItem", {}))

    values = snapshot(table)
    where = f"region={REGION},operation=BatchGetItem"
    assert values["feast_chalk_dynamo_requests_total"] == {where: 2}
    assert values["feast_chalk_dynamo_errors_total"] == {
        f"{where},code=ProvisionedThroughputExceededException": 1
    }
    assert values["feast_chalk_dynamo_throttles_total"] == {where: 1}
    assert values["feast_chalk_dynamo_retries_total"] == {f"{where},cause=throttled": 1}
    assert values["feast_chalk_dynamo_request_latency_seconds_count"] == {where: 2}
    assert caller.stats.attempts["BatchGetItem"] == 2 and caller.stats.retries["throttled"] == 1


def test_a_connection_error_is_counted_by_its_class_and_a_non_retryable_one_by_its_code(
    table: str, pool: ThreadPoolExecutor
) -> None:
    refused = ClientError(
        {"Error": {"Code": "ValidationException"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "UpdateItem"
    )
    caller = Caller(
        Scripted(ConnectionResetError(), refused), table, REGION, pool, RetryPolicy(3, 1), sleep=no_sleep
    )
    with pytest.raises(ClientError):
        asyncio.run(caller.call("UpdateItem", {}))

    errors = snapshot(table)["feast_chalk_dynamo_errors_total"]
    assert errors == {
        f"region={REGION},operation=UpdateItem,code=ConnectionResetError": 1,
        f"region={REGION},operation=UpdateItem,code=ValidationException": 1,
    }
    assert snapshot(table)["feast_chalk_dynamo_retries_total"] == {
        f"region={REGION},operation=UpdateItem,cause=connection": 1
    }


def test_work_on_an_answer_runs_where_it_arrived_and_its_failure_is_not_the_requests(
    table: str, pool: ThreadPoolExecutor
) -> None:
    """``then`` (a reader decoding) is not part of the attempt: not retried, not a DynamoDB error."""
    senders: list[int] = []
    workers: list[int] = []

    class Recording(Scripted):
        def send(self, operation: str, payload: dict[str, Any], in_flight: InFlight | None = None) -> Any:
            senders.append(threading.get_ident())
            return super().send(operation, payload, in_flight)

    def then(answer: dict[str, Any]) -> None:
        workers.append(threading.get_ident())
        raise ValueError("a decoder's bug")

    caller = Caller(
        Recording({"Responses": {}}, {"Responses": {}}),
        table,
        REGION,
        pool,
        RetryPolicy(3, 1),
        sleep=no_sleep,
    )
    with pytest.raises(ValueError, match="a decoder's bug"):
        asyncio.run(caller.call("BatchGetItem", {}, then=then))

    assert senders == workers and senders[0] != threading.get_ident()
    assert caller.stats.attempts["BatchGetItem"] == 1 and not caller.stats.retries
    values = snapshot(table)
    assert values["feast_chalk_dynamo_requests_total"] == {f"region={REGION},operation=BatchGetItem": 1}
    assert not values.get("feast_chalk_dynamo_errors_total")


class HeldPrimary:
    """The first attempt answers only when released; later ones at once: the duplicate always wins."""

    endpoint = "http://held"

    def __init__(self) -> None:
        self.release = threading.Event()
        self._first = True
        self._lock = threading.Lock()

    def send(self, operation: str, payload: dict[str, Any], in_flight: InFlight | None = None) -> Any:
        with self._lock:
            first, self._first = self._first, False
        if first:
            self.release.wait(30)
        return {"Responses": {}}

    def close(self) -> None:
        pass


def test_a_raced_request_counts_the_duplicate_and_its_win_and_not_the_cut_off_primary(
    table: str, pool: ThreadPoolExecutor
) -> None:
    transport = HeldPrimary()
    caller = Caller(transport, table, REGION, pool, RetryPolicy(3, 1), racing_wait_ms=1, sleep=no_sleep)

    async def race() -> None:
        try:
            await caller.call("BatchGetItem", {}, race=True)
        finally:
            transport.release.set()
            # The primary ends while the loop still runs: whatever it records is recorded.
            await asyncio.to_thread(pool.shutdown, True)

    asyncio.run(race())

    values = snapshot(table)
    where = f"region={REGION},operation=BatchGetItem"
    assert values["feast_chalk_dynamo_racing_duplicates_total"] == {where: 1}
    assert values["feast_chalk_dynamo_racing_wins_total"] == {where: 1}
    assert values["feast_chalk_dynamo_requests_total"] == {where: 2}
    assert values["feast_chalk_dynamo_request_latency_seconds_count"] == {where: 1}  # the cut-off loser: none
    assert (caller.stats.duplicates, caller.stats.duplicate_wins) == (1, 1)


def test_namespace_counters_and_their_metrics_are_one_set_of_books(table: str) -> None:
    board = CounterBoard(MetricLabels(table, REGION))
    every_field = {f.name: index + 1 for index, f in enumerate(dataclasses.fields(NamespaceCounts))}
    board["stats"].add(**every_field)
    board["stats@v2"].add(cache_hits=3)

    values = snapshot(table)
    for name, amount in every_field.items():
        sample = f"{metrics.NAMESPACE[name]._name}_total"
        assert values[sample][f"region={REGION},view=stats"] == amount == board.snapshot()["stats"][name]
    assert values["feast_chalk_dynamo_cache_hits_total"][f"region={REGION},view=stats@v2"] == 3


def test_write_stats_and_their_metrics_are_one_set_of_books(table: str) -> None:
    stats = WriteStats(exported=ViewCounters(metrics.WRITES, MetricLabels(table, REGION)))
    stats.add("stats", written=5, stale_skipped=2)
    stats.add("stats", conflict_retries=1)
    stats.add("profile", written=1)

    values = snapshot(table)
    assert values["feast_chalk_dynamo_rows_written_total"] == {
        f"region={REGION},view=stats": 5,
        f"region={REGION},view=profile": 1,
    }
    assert values["feast_chalk_dynamo_stale_rows_skipped_total"] == {f"region={REGION},view=stats": 2}
    assert values["feast_chalk_dynamo_write_conflict_retries_total"] == {f"region={REGION},view=stats": 1}
    assert (stats.written, stats.stale_skipped, stats.conflict_retries) == (6, 2, 1)


def test_every_counted_field_has_a_metric() -> None:
    """A counter added to the store's books without a metric would go unexported."""
    assert set(metrics.NAMESPACE) == {f.name for f in dataclasses.fields(NamespaceCounts)}
    write_fields = {f.name for f in dataclasses.fields(WriteStats)} - {"exported", "_lock"}
    assert set(metrics.WRITES) == write_fields
    racing_fields = {f.name for f in dataclasses.fields(CallStats) if f.type == "int"}
    assert set(metrics.RACING) == racing_fields


def test_recording_never_raises(table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken metric (a full disk under the multiprocess directory) must not fail a read or a write."""

    def broken(*_: Any) -> Any:
        raise OSError("no space left on device")

    for metric in metrics.METRICS:
        monkeypatch.setattr(metric, "labels", broken)
    recorder = CallMetrics(MetricLabels(table, REGION))
    recorder.sent("BatchGetItem")
    recorder.answered("BatchGetItem", 0.004, "InternalServerError", throttled=False)
    recorder.throttled("TransactWriteItems")
    recorder.retried("BatchGetItem", "throttled")
    recorder.raced("BatchGetItem", "duplicates")
    ViewCounters(metrics.WRITES, MetricLabels(table, REGION)).add("stats", {"written": 1})
    board = CounterBoard(MetricLabels(table, REGION))
    board["stats"].add(cache_hits=1)
    assert board.snapshot()["stats"]["cache_hits"] == 1  # the store's own books still count


def test_every_metric_is_documented_in_the_readme() -> None:
    readme = README.read_text()
    for metric in metrics.METRICS:
        exposed = metric._name + ("_total" if metric._type == "counter" else "")
        assert f"`{exposed}`" in readme, f"{exposed} is not in the README's Metrics section"
