"""Writers for the contention proof: threads in processes, racing on overlapping keys.

Importable by a spawned child process (``multiprocessing`` spawn context), so
two processes with their own stores, engines and connection pools write to
the same table at once, as two materialization jobs would.

Every row's ``f0`` is its own event time in seconds, so whatever a key holds
afterwards says which row won; the newest row written to a key must be it.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from tests.feast_objects import driver_view, repo_config

BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
VIEW = "contended"


@dataclass(frozen=True)
class Plan:
    """What every writer does: ``rounds`` writes of ``per_round`` keys drawn from ``keys``.

    ``monotonic``: for the unguarded mode, whose safety is the pipeline's
    promise that a key's rows arrive in time order. Each round then gives every
    key to one writer (a different one each round, so writers still share
    keys), stamps it later than any earlier round, and all writers wait for
    each other between rounds. Otherwise timestamps are random and nobody waits.
    """

    keys: int
    per_round: int
    rounds: int
    monotonic: bool


def entity(driver_id: int) -> EntityKeyProto:
    return EntityKeyProto(join_keys=["driver_id"], entity_values=[ValueProto(int64_val=driver_id)])


def event_time(round_index: int, rng: random.Random, monotonic: bool) -> datetime:
    if monotonic:
        return BASE + timedelta(hours=round_index, microseconds=rng.randrange(1_000_000))
    return BASE + timedelta(microseconds=rng.randrange(3600 * 10**6))


def write_rounds(
    store: ChalkDynamoOnlineStore, config: Any, plan: Plan, writer: int, writers: int, barrier: Any, seed: int
) -> dict[int, datetime]:
    """One writer's rounds; the newest event time it wrote to each key."""
    rng = random.Random(seed)
    view = driver_view(VIEW)
    newest: dict[int, datetime] = {}
    for round_index in range(plan.rounds):
        if plan.monotonic:
            keys = [k for k in range(plan.keys) if (k + round_index) % writers == writer]
        else:
            keys = rng.sample(range(plan.keys), plan.per_round)
        rows = []
        for k in keys:
            ts = event_time(round_index, rng, plan.monotonic)
            rows.append((entity(k), {"f0": ValueProto(double_val=ts.timestamp())}, ts, None))
            newest[k] = max(newest.get(k, ts), ts)
        store.online_write_batch(config, view, rows, None)
        if plan.monotonic:
            barrier.wait(timeout=120)
    return newest


def run_process(
    url: str, table: str, registry_dir: str, knobs: dict[str, Any], plan: Plan,
    first_writer: int, threads: int, writers: int, barrier: Any, results: Any,
) -> None:  # fmt: skip
    """A process's writer threads, sharing one store as an application's threads would."""
    config = repo_config(Path(registry_dir), url, table, **knobs)
    store = ChalkDynamoOnlineStore()
    outcomes: list[dict[int, datetime] | BaseException] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        try:
            outcome: dict[int, datetime] | BaseException = write_rounds(
                store, config, plan, index, writers, barrier, seed=1000 + index
            )
        except BaseException as error:  # reported to the parent, which fails the test
            outcome = error
            if plan.monotonic:
                barrier.abort()
        with lock:
            outcomes.append(outcome)

    pool = [threading.Thread(target=writer, args=(first_writer + i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    store.close_engines()
    for outcome in outcomes:
        results.put(repr(outcome) if isinstance(outcome, BaseException) else outcome)
