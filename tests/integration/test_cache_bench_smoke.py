"""The cache benchmark still runs end to end (``--quick``); its timings and ratios are never asserted.

It starts its own dynalite and redis-server; ``make test`` installs
redis-server, so CI runs the Redis column too. Without the binary the
benchmark skips that column and says so, which is what is checked then.
"""

from __future__ import annotations

from benchmarks import redis_server
from tests.integration.test_bench_smoke import run_bench

EXPECTED = (
    "== Hot keys (ms)",
    "ours, cache on",
    "ours, cache off",
    "feast dynamodb",
    "cache on / feast dynamodb:",
    "drivers read from DynamoDB with the cache on:",
    "== Absent keys (ms)",
    "bloom on",
    "bloom off",
    "bloom on / off:",
    "absent drivers read anyway with the filter on:",
    "SIMULATION, not AWS:",
    "== Hot keys (ms) on SIMULATION",
    "simulator: answered",
)
WITH_REDIS = ("feast redis", "cache on / feast redis:")
WITHOUT_REDIS = ("redis-server not found on PATH",)


def test_quick_cache_bench_runs_and_prints_its_tables() -> None:
    redis_lines = WITH_REDIS if redis_server.binary() is not None else WITHOUT_REDIS
    run_bench("benchmarks.cache_bench", "--quick", EXPECTED + redis_lines)
