"""The migration benchmark still runs end to end (a few entities); its timings are never asserted."""

from __future__ import annotations

from tests.integration.test_bench_smoke import run_bench

EXPECTED = (
    "== feast-chalk-dynamo migrate on dynalite: 30 entities x 5 views",
    "total: 150 rows read, 150 written, 0 skipped as stale",
    "rows/s",
    "storage before, Feast's tables:     150 items",
    "storage after, this store     :      30 items",
    "--dry-run estimated",
    "verified 30 entities (driver_id), 3,000 feature values (3,000 present in Feast's store): 0 differences",
)


def test_tiny_migrate_bench_runs_and_verifies_every_entity() -> None:
    stdout = run_bench("benchmarks.migrate_bench", "--entities=30", EXPECTED)
    assert "(1.000x the measured size)" in stdout  # the dry run sizes what apply's ids will write
