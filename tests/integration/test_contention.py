"""The contention proof: threads in two processes race on overlapping keys; the newest row wins.

In each mode (transactional bulk, guarded per row, unguarded with monotonic
timestamps), with and without a fault proxy throttling a share of writes.
moto holds transactions; the tables stay small, as moto copies a table for
every transaction.
"""

from __future__ import annotations

import multiprocessing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from tests.contention import VIEW, Plan, entity, run_process
from tests.fault_proxy import FaultProxy
from tests.feast_objects import driver_view, repo_config
from tests.integration.test_store import applied
from tests.servers import Endpoint

PROCESSES, THREADS = 2, 3
WRITERS = PROCESSES * THREADS

MODES: dict[str, tuple[dict[str, Any], Plan]] = {
    # 20 of 24 keys a round: each write is bulk (>= 16 rows), so transactions.
    "transactional": ({}, Plan(keys=24, per_round=20, rounds=5, monotonic=False)),
    "per-row guarded": (
        {"bulk_write_min_rows": 1_000_000},
        Plan(keys=24, per_round=20, rounds=5, monotonic=False),
    ),
    # 16 keys per writer a round (bulk, unguarded); every key changes hands each round.
    "unguarded, monotonic": (
        {"check_ts_for_bulk_writes": False},
        Plan(keys=16 * WRITERS, per_round=16, rounds=4, monotonic=True),
    ),
}


def newest_overall(results: list[Any]) -> dict[int, datetime]:
    newest: dict[int, datetime] = {}
    for outcome in results:
        assert isinstance(outcome, dict), f"a writer failed: {outcome}"
        for k, ts in outcome.items():
            newest[k] = max(newest.get(k, ts), ts)
    return newest


@pytest.mark.parametrize("throttled", [False, True], ids=["clean", "throttled"])
@pytest.mark.parametrize("mode", list(MODES))
def test_every_key_ends_with_its_newest_row(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, mode: str, throttled: bool
) -> None:
    knobs, plan = MODES[mode]
    knobs = {**knobs, "retry_scale_factor": 2}
    with FaultProxy(moto_endpoint.url) as proxy:
        if throttled:
            proxy.faults.update(
                operations=frozenset({"UpdateItem", "TransactWriteItems"}), throttle_share=0.2, seed=9
            )
        config = repo_config(tmp_path, proxy.url, table_name, **knobs)
        store = ChalkDynamoOnlineStore()
        view = driver_view(VIEW)
        applied(store, config, view)
        spawn = multiprocessing.get_context("spawn")
        barrier, results = spawn.Barrier(WRITERS), spawn.Queue()
        processes = [
            spawn.Process(
                target=run_process,
                args=(
                    proxy.url,
                    table_name,
                    str(tmp_path),
                    knobs,
                    plan,
                    p * THREADS,
                    THREADS,
                    WRITERS,
                    barrier,
                    results,
                ),
            )  # fmt: skip
            for p in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        try:
            outcomes = [results.get(timeout=240) for _ in range(WRITERS)]
        finally:
            for process in processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
                    process.join()
        newest = newest_overall(outcomes)
        assert proxy.faults.injected["throttle"] > 0 or not throttled
        proxy.faults.reset()
        rows = store.online_read(config, view, [entity(k) for k in sorted(newest)])
        held = {
            k: (ts, values["f0"].double_val if values else None)
            for k, (ts, values) in zip(sorted(newest), rows, strict=True)
        }
        assert held == {k: (ts, ts.timestamp()) for k, ts in newest.items()}
        store.close_engines()
