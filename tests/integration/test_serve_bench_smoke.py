"""``make bench-serve`` still runs end to end (``--quick``); its figures are never asserted.

Beyond its tables: every candidate answered as the ceiling does (the bench
exits non-zero otherwise), none of their requests failed, and once it has
exited no process it started is left: no ``feast serve`` or gunicorn worker,
loader, dynalite or redis-server. Those are found by a marker in their
environment, which every process the bench starts inherits, whoever its parent
became.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from benchmarks import redis_server, serve_bench
from tests.integration.test_bench_smoke import run_bench

MARKER = "SERVE_BENCH_SMOKE_RUN"
TABLES = tuple(
    f"== Serving, SIMULATED DynamoDB: feast serve, {label}, " for _, label in serve_bench.QUICK.workers
)
# Both DynamoDB stores' reads answered by the simulator itself, not passed on to dynalite.
SIMULATOR_ANSWERED = "simulator: answered {'BatchGetItem': "
ALWAYS = (serve_bench.CEILING, serve_bench.OURS_OFF, serve_bench.OURS_ON, serve_bench.FEAST_DYNAMO)


def processes_with(marker: bytes) -> list[int]:
    """Live processes whose environment holds ``marker`` (ours: other users' are unreadable)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone since the listing, or not ours
            continue
    return found


def test_quick_serve_bench_prints_every_candidate_and_stops_every_process() -> None:
    with_redis = redis_server.binary() is not None
    names = ALWAYS + ((serve_bench.FEAST_REDIS,) if with_redis else ())
    marker = f"{MARKER}={uuid.uuid4().hex}"
    env = dict(os.environ, **dict([marker.split("=", 1)]))
    expected = (
        *TABLES,
        SIMULATOR_ANSWERED,
        "targets, ",
        *(() if with_redis else ("redis-server not found on PATH",)),
    )

    stdout = run_bench("benchmarks.serve_bench", "--quick", expected, env)

    rows = [line.split() for line in stdout.splitlines()]
    for name in names:
        printed = [row for row in rows if row[: len(name.split())] == name.split()]
        assert len(printed) == len(serve_bench.QUICK.workers), f"{name}: {printed}"
        assert all(row[-1] == "0" for row in printed), f"{name} had failed requests: {printed}"
    assert processes_with(marker.encode()) == [], "the bench left processes running"
