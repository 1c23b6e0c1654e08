"""Writes at scale against real servers: modes, limits, retries, failure part-way.

Every request goes through the strict proxy (AWS's limits) and, where a fault
is wanted, through a fault proxy in front of it. What is asserted is what
the server saw and what it holds afterwards, never how long it took.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from feast.repo_config import RepoConfig

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.dynamo.client import RawHttpTransport
from feast_chalk_dynamo.errors import ThroughputExceeded, TransactionConflicts, WriteIncomplete
from feast_chalk_dynamo.writes.rows import GUARD
from tests.fault_proxy import FaultProxy, fixed
from tests.feast_objects import driver_view, repo_config
from tests.integration.test_read_engine import values_of
from tests.integration.test_store import NOW, applied, key, row
from tests.servers import Endpoint, dynalite_command, start_server

WRITES = frozenset({"UpdateItem", "TransactWriteItems", "PutItem", "BatchWriteItem", "DeleteItem"})
# The three ways a bulk write can go, as knobs.
MODES = {
    "transactional": {},
    "per-row guarded": {"bulk_write_min_rows": 1_000_000},
    "unguarded": {"check_ts_for_bulk_writes": False},
}


def watch_writes(store: ChalkDynamoOnlineStore, config: RepoConfig) -> list[tuple[str, dict[str, Any]]]:
    """Every write attempt the store's engine makes from now on: (operation, payload)."""
    sent: list[tuple[str, dict[str, Any]]] = []
    store.engine(config).writes.listeners.append(
        lambda operation, payload: sent.append((operation, payload)) if operation in WRITES else None
    )
    return sent


def values(
    store: ChalkDynamoOnlineStore, config: RepoConfig, view: Any, ids: range
) -> dict[int, float | None]:
    return dict(zip(ids, values_of(store.online_read(config, view, [key(i) for i in ids])), strict=True))


def setup(
    tmp_path: Path, url: str, table: str, **knobs: Any
) -> tuple[ChalkDynamoOnlineStore, RepoConfig, Any]:
    config = repo_config(tmp_path, url, table, retry_scale_factor=1, **knobs)
    store = ChalkDynamoOnlineStore()
    view = driver_view("stats")
    applied(store, config, view)
    return store, config, view


# -- the bulk path ----------------------------------------------------------------------------------


@pytest.mark.parametrize("read_path", ["fast", "boto3"])
def test_a_bulk_write_is_guarded_transactions_of_at_most_a_hundred(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, read_path: str
) -> None:
    store, config, view = setup(tmp_path, moto_endpoint.url, table_name, read_path=read_path)
    assert isinstance(store.engine(config).write_transports[0], RawHttpTransport) == (read_path == "fast")
    sent = watch_writes(store, config)
    progress: list[int] = []
    store.online_write_batch(config, view, [row(i, float(i)) for i in range(250)], progress.append)
    assert {op for op, _ in sent} == {"TransactWriteItems"}
    # Attempts, not transactions: moto answers some concurrent transactions with a 500, retried.
    transactions = {tuple(a["Update"]["Key"]["pk"]["S"] for a in p["TransactItems"]): p for _, p in sent}
    assert sorted(len(keys) for keys in transactions) == [50, 100, 100]
    actions = [action["Update"] for payload in transactions.values() for action in payload["TransactItems"]]
    assert len({a["Key"]["pk"]["S"] for a in actions}) == 250
    assert all(action["ConditionExpression"] == GUARD for action in actions)
    assert sum(progress) == 250 and len(progress) > 1  # moves as transactions land
    assert values(store, config, view, range(250)) == {i: float(i) for i in range(250)}
    store.close_engines()


def test_rows_of_one_entity_become_one_action_and_the_newest_wins(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    store, config, view = setup(tmp_path, moto_endpoint.url, table_name)
    sent = watch_writes(store, config)
    data = [row(i, float(i + 10 * age), NOW - timedelta(hours=age)) for age in (2, 0, 1) for i in range(20)]
    progress: list[int] = []
    store.online_write_batch(config, view, data, progress.append)
    (operation, payload), *more = sent
    assert operation == "TransactWriteItems" and not more and len(payload["TransactItems"]) == 20
    assert sum(progress) == 60
    assert values(store, config, view, range(20)) == {i: float(i) for i in range(20)}
    store.close_engines()


def test_stale_rows_drop_out_of_a_transaction_counted_not_raised(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    store, config, view = setup(tmp_path, moto_endpoint.url, table_name)
    store.online_write_batch(config, view, [row(i, 100.0 + i, NOW) for i in range(5)], None)  # newer rows
    sent = watch_writes(store, config)
    stats = store.engine(config).writer.stats
    before = stats.stale_skipped
    progress: list[int] = []
    older = NOW - timedelta(hours=1)
    store.online_write_batch(config, view, [row(i, float(i), older) for i in range(30)], progress.append)
    assert stats.stale_skipped - before == 5 and sum(progress) == 30
    assert [op for op, _ in sent] == [
        "TransactWriteItems",
        "TransactWriteItems",
    ]  # cancelled, then without them
    assert len(sent[1][1]["TransactItems"]) == 25
    expected = {i: (100.0 + i if i < 5 else float(i)) for i in range(30)}
    assert values(store, config, view, range(30)) == expected
    store.close_engines()


@pytest.mark.parametrize("mode", ["transactional", "per-row guarded"])
def test_calls_at_once_each_return_what_they_wrote_and_skipped(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, mode: str
) -> None:
    """``migrate`` writes several pages at once and counts each by what its own call returns. It used
    to read the difference of the engine's counters around a call, which calls at once add to together."""
    stale = [0, 3, 7, 12]  # per call: rows older than the stored one
    rows = 20  # per call, each its own keys
    with FaultProxy(moto_endpoint.url) as proxy:
        store, config, view = setup(tmp_path, proxy.url, table_name, **MODES[mode])
        newer = [row(c * rows + i, 100.0, NOW) for c, n in enumerate(stale) for i in range(n)]
        store.online_write_batch(config, view, newer, None)
        layout = store.write_layout(config, view)
        totals = store.engine(config).writer.stats
        before = (totals.written, totals.stale_skipped)
        running = [0]  # calls under way
        overlapping: list[int] = []  # calls under way at each write attempt
        lock = threading.Lock()
        store.engine(config).writes.listeners.append(lambda *_: overlapping.append(running[0]))
        start = threading.Barrier(len(stale))
        proxy.faults.update(operations=WRITES, delay=fixed(0.05))

        def call(c: int) -> tuple[int, int]:
            data = [row(c * rows + i, float(i), NOW - timedelta(hours=1)) for i in range(rows)]
            start.wait()
            with lock:
                running[0] += 1
            try:
                stats = store.write_with_layout(config, layout, data, None)
            finally:
                with lock:
                    running[0] -= 1
            return stats.written, stats.stale_skipped

        with ThreadPoolExecutor(len(stale)) as pool:
            results = list(pool.map(call, range(len(stale))))

        assert max(overlapping) > 1  # the calls ran at once
        assert results == [(rows - n, n) for n in stale]
        # The engine's books (and the metrics) still take every row once.
        assert (totals.written - before[0], totals.stale_skipped - before[1]) == (
            len(stale) * rows - sum(stale),
            sum(stale),
        )
        expected = {
            c * rows + i: 100.0 if i < n else float(i) for c, n in enumerate(stale) for i in range(rows)
        }
        assert values(store, config, view, range(len(stale) * rows)) == expected
        store.close_engines()


def test_an_unguarded_bulk_write_is_parallel_update_items_without_condition(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str
) -> None:
    with FaultProxy(dynamodb_endpoint.url) as proxy:
        store, config, view = setup(
            tmp_path, proxy.url, table_name, check_ts_for_bulk_writes=False, num_client_threads=3
        )
        sent = watch_writes(store, config)
        proxy.faults.update(operations=frozenset({"UpdateItem"}), delay=fixed(0.05))
        store.online_write_batch(config, view, [row(i, 1.0) for i in range(40)], None)
        store.online_write_batch(
            config, view, [row(i, float(i), NOW - timedelta(hours=1)) for i in range(40)], None
        )
        assert Counter(op for op, _ in sent) == {"UpdateItem": 80}
        assert not any("ConditionExpression" in payload for _, payload in sent)
        assert proxy.faults.max_in_flight == 3  # num_client_threads, no more
        # Unguarded means the last write wins, older or not: the pipeline's promise to keep.
        assert values(store, config, view, range(40)) == {i: float(i) for i in range(40)}
        store.close_engines()


@pytest.mark.parametrize("mode", list(MODES))
def test_no_mode_puts_an_item_so_other_views_survive(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str, mode: str
) -> None:
    if mode == "transactional" and not dynamodb_endpoint.supports_transactions:
        pytest.skip("covered by the fallback test")
    config = repo_config(tmp_path, dynamodb_endpoint.url, table_name, **MODES[mode])
    store = ChalkDynamoOnlineStore()
    first, second = driver_view("first"), driver_view("second")
    applied(store, config, first, second)
    store.online_write_batch(config, first, [row(i, 7.0) for i in range(20)], None)
    sent = watch_writes(store, config)
    store.online_write_batch(config, second, [row(i, float(i)) for i in range(20)], None)
    assert {op for op, _ in sent} <= {"UpdateItem", "TransactWriteItems"}
    assert values(store, config, first, range(20)) == {i: 7.0 for i in range(20)}
    assert values(store, config, second, range(20)) == {i: float(i) for i in range(20)}
    store.close_engines()


def test_without_transactions_bulk_writes_fall_back_to_guarded_updates_with_one_warning(
    tmp_path: Path, dynalite_endpoint: Endpoint, table_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    store, config, view = setup(tmp_path, dynalite_endpoint.url, table_name)
    sent = watch_writes(store, config)
    with caplog.at_level(logging.WARNING, logger="feast_chalk_dynamo"):
        store.online_write_batch(config, view, [row(i, float(i)) for i in range(30)], None)
        store.online_write_batch(
            config, view, [row(i, -1.0, NOW - timedelta(hours=1)) for i in range(30)], None
        )
    assert Counter(op for op, _ in sent) == {"TransactWriteItems": 1, "UpdateItem": 60}
    assert all(p["ConditionExpression"] == GUARD for op, p in sent if op == "UpdateItem")
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("feast_chalk_dynamo.writes")]
    assert len(warnings) == 1 and "DYNAMODB_CHECK_TS_FOR_BULK_WRITES" in warnings[0]
    assert store.engine(config).writer.stats.stale_skipped == 30
    assert values(store, config, view, range(30)) == {i: float(i) for i in range(30)}
    store.close_engines()


def test_a_small_write_is_one_guarded_update_per_row(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    store, config, view = setup(tmp_path, moto_endpoint.url, table_name)
    sent = watch_writes(store, config)
    store.online_write_batch(config, view, [row(i, 1.0) for i in range(15)], None)
    assert Counter(op for op, _ in sent) == {"UpdateItem": 15}
    assert all(payload["ConditionExpression"] == GUARD for _, payload in sent)
    store.close_engines()


# -- conflicts and retries ----------------------------------------------------------------------------


def test_transaction_conflicts_back_off_and_then_name_the_keys(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    with FaultProxy(moto_endpoint.url) as proxy:
        store, config, view = setup(
            tmp_path, proxy.url, table_name,
            transaction_write_conflict_max_retries=2, transaction_write_conflict_min_retry_millis=1,
        )  # fmt: skip
        proxy.faults.update(operations=frozenset({"TransactWriteItems"}), conflict_share=1.0)
        with pytest.raises(TransactionConflicts, match="driver_id=0") as caught:
            store.online_write_batch(config, view, [row(i, 1.0) for i in range(150)], None)
        assert proxy.faults.seen["TransactWriteItems"] == 3  # one transaction, two retries; no more sent
        assert sorted(caught.value.unwritten) == sorted(set(caught.value.unwritten))
        assert len(caught.value.unwritten) == 150 and caught.value.written == 0
        assert "transaction_write_conflict_max_retries=2" in str(caught.value)

        patient = repo_config(
            tmp_path, proxy.url, table_name,
            transaction_write_conflict_max_retries=10, transaction_write_conflict_min_retry_millis=1,
        )  # fmt: skip
        proxy.faults.update(conflict_share=0.4, seed=7)
        store.online_write_batch(patient, view, [row(i, 2.0) for i in range(150)], None)
        assert store.engine(patient).writer.stats.conflict_retries > 0
        assert values(store, config, view, range(150)) == {i: 2.0 for i in range(150)}
        store.close_engines()


def test_a_transaction_throttled_on_an_item_is_retried_by_the_retry_policy(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    with FaultProxy(moto_endpoint.url) as proxy:
        store, config, view = setup(tmp_path, proxy.url, table_name, max_retries=1)
        proxy.faults.update(
            operations=frozenset({"TransactWriteItems"}),
            conflict_share=1.0,
            cancellation_reason="ThrottlingError",
        )
        with pytest.raises(ThroughputExceeded, match="throttled after 1 retries"):  # nothing landed: as it is
            store.online_write_batch(config, view, [row(i, 1.0) for i in range(30)], None)
        assert proxy.faults.seen["TransactWriteItems"] == 2
        assert store.engine(config).writer.stats.conflict_retries == 0  # not a conflict's backoff

        patient = repo_config(tmp_path, proxy.url, table_name, retry_scale_factor=1)
        proxy.faults.update(conflict_share=0.5, seed=2)
        store.online_write_batch(patient, view, [row(i, 2.0) for i in range(250)], None)
        assert store.engine(patient).writes.stats.retries["throttled"] > 0
        assert values(store, config, view, range(250)) == {i: 2.0 for i in range(250)}
        store.close_engines()


def test_an_update_that_meets_a_transaction_is_retried(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    with FaultProxy(moto_endpoint.url) as proxy:
        store, config, view = setup(
            tmp_path, proxy.url, table_name,
            transaction_write_conflict_min_retry_millis=1, transaction_write_conflict_max_retries=10,
        )  # fmt: skip
        proxy.faults.update(operations=frozenset({"UpdateItem"}), conflict_share=0.3, seed=3)
        store.online_write_batch(config, view, [row(i, 3.0) for i in range(10)], None)
        assert proxy.faults.injected["conflict"] > 0
        assert values(store, config, view, range(10)) == {i: 3.0 for i in range(10)}
        store.close_engines()


@pytest.mark.parametrize("mode", list(MODES))
def test_throttled_failed_and_dropped_writes_are_retried(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, mode: str
) -> None:
    with FaultProxy(moto_endpoint.url) as proxy:
        store, config, view = setup(tmp_path, proxy.url, table_name, request_timeout_ms=5000, **MODES[mode])
        # 30 % of attempts fail: a request that fails 13 times in a row (1 in 600,000) would exhaust.
        proxy.faults.update(
            operations=frozenset(WRITES), throttle_share=0.1, error_share=0.1, drop_share=0.1, seed=4
        )
        rows = 300  # three transactions: moto's transactions slow down as the table grows
        store.online_write_batch(config, view, [row(i, 4.0) for i in range(rows)], None)
        injected = sum(proxy.faults.injected.values())
        # Every fault is retried (a slow answer past the timeout is retried too).
        assert injected > 0 and sum(store.engine(config).writes.stats.retries.values()) >= injected
        proxy.faults.reset()
        assert values(store, config, view, range(rows)) == {i: 4.0 for i in range(rows)}
        store.close_engines()


# -- failure part-way ---------------------------------------------------------------------------------


def assert_landed_or_named(
    store: ChalkDynamoOnlineStore,
    config: RepoConfig,
    view: Any,
    error: WriteIncomplete,
    expected: dict[int, float],
) -> None:
    """Every key the error does not name as unwritten holds its row (or a newer one)."""
    from feast_chalk_dynamo.items.layout import encode_entity_key
    from feast_chalk_dynamo.items.names import project_name

    project_id = store.engine(config).names.lookup(project_name(config.project))
    assert project_id is not None
    unwritten = set(error.unwritten)
    stored = values(store, config, view, range(len(expected)))
    for i, value in expected.items():
        if encode_entity_key(project_id, key(i)) not in unwritten:
            assert stored[i] == value, i


@pytest.mark.parametrize("mode", list(MODES))
def test_a_write_that_runs_out_of_retries_says_what_landed_and_a_rerun_finishes(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, mode: str
) -> None:
    with FaultProxy(moto_endpoint.url) as proxy:
        store, config, view = setup(tmp_path, proxy.url, table_name, max_retries=1, **MODES[mode])
        newer = {i: 100.0 + i for i in range(0, 300, 10)}
        store.online_write_batch(
            config, view, [row(i, v, NOW + timedelta(hours=1)) for i, v in newer.items()], None
        )
        data = [row(i, float(i)) for i in range(300)]
        expected = {i: newer.get(i, float(i)) for i in range(300)}
        if mode == "unguarded":  # no guard: the older rows win, which is what unguarded promises
            expected = {i: float(i) for i in range(300)}
        # The first request gets through; from the second on, 80 % of attempts fail.
        proxy.faults.update(operations=frozenset(WRITES))
        sent = watch_writes(store, config)

        def fail_later(operation: str, payload: dict[str, Any]) -> None:
            if len(sent) == 2:
                proxy.faults.update(throttle_share=0.5, drop_share=0.3, seed=1)

        store.engine(config).writes.listeners.append(fail_later)
        with pytest.raises(WriteIncomplete) as caught:
            store.online_write_batch(config, view, data, None)
        error = caught.value
        assert error.written + error.stale > 0 and error.unwritten
        assert error.written + error.stale + len(error.unwritten) == 300
        assert f"{error.written} of 300 rows written" in str(error)
        assert_landed_or_named(store, config, view, error, expected)

        proxy.faults.reset()
        store.online_write_batch(config, view, data, None)  # the same write again
        assert values(store, config, view, range(300)) == expected
        store.close_engines()


def test_killing_the_server_mid_write_then_rerunning_finishes_without_regressing(
    tmp_path: Path, table_name: str
) -> None:
    """dynalite on disk is killed part-way through a materialization-sized write, then restarted."""
    data_dir = tmp_path / "dynalite-data"
    data_dir.mkdir()

    def start() -> Any:
        command = lambda port: [*dynalite_command(port), "--path", str(data_dir)]  # noqa: E731
        return start_server("dynalite", command, supports_transactions=False, supports_ttl=False)

    server = start()
    try:
        with FaultProxy(server.endpoint.url, strict=True) as proxy:
            store, config, view = setup(
                tmp_path, proxy.url, table_name, max_retries=2, request_timeout_ms=3000, num_client_threads=4
            )
            newer = {i: 100.0 + i for i in range(0, 600, 7)}
            store.online_write_batch(
                config, view, [row(i, v, NOW + timedelta(hours=1)) for i, v in newer.items()], None
            )
            expected = {i: newer.get(i, float(i)) for i in range(600)}
            data = [row(i, float(i)) for i in range(600)]
            landed: list[int] = []

            def kill_after_some(count: int) -> None:
                landed.append(count)
                if sum(landed) >= 150 and server.process.poll() is None:
                    server.process.kill()

            with pytest.raises(WriteIncomplete) as caught:
                store.online_write_batch(config, view, data, kill_after_some)
            error = caught.value
            assert error.written + error.stale >= 150 and len(error.unwritten) > 0
            assert error.written + error.stale + len(error.unwritten) == 600
            server.stop()
            server = start()
            proxy.retarget(server.endpoint.url)
            assert_landed_or_named(store, config, view, error, expected)
            store.online_write_batch(config, view, data, None)
            assert values(store, config, view, range(600)) == expected
            store.close_engines()
    finally:
        server.stop()
