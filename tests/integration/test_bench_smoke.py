"""The benchmarks still run end to end (small plans); their timings are never asserted.

Timings on a shared CI box say nothing, but a benchmark that silently broke
while the store changed would be found only when someone needs it; this
catches that, and checks the tables it prints still have their sections.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.servers import DYNALITE_BIN, REPO_ROOT

# The quick read run loads 1,000 entities of each of two data sets into two stores
# and reads for about a minute on an idle machine; a loaded 2-core box can be
# several times slower.
TIMEOUT_SECONDS = 900

# Both data sets by default, each table naming its own and its server; racing runs on the
# mixed one, on dynalite; then every shape again on the simulated DynamoDB.
SIMULATION = "SIMULATION lognormal:p50=4,p99=15"
HEADINGS = (
    "Read latency (ms): get_online_features, ours vs Feast's DynamoDB store",
    "Client CPU per read (ms): ours vs Feast's DynamoDB store",
    "online_read vs raw floor (ms): 100 keys, 1 view of 20 features",
)
EXPECTED = (
    *(
        f"== {heading} [{data} data, {server}] =="
        for data in ("mixed", "numeric")
        for server in ("dynalite", SIMULATION)
        for heading in HEADINGS
    ),
    "1 entity x 1 view",
    "100 entities x 1 view",
    "100 entities x 5 views",
    "1 entity x 5 views",
    "online_read / floor",
    "== Request racing (ms)",
    "of BatchGetItem by 100 ms [mixed data, dynalite] ==",
    "racing wait:",
    "duplicated requests:",
    "SIMULATION, not AWS:",
    "simulator: answered",
)

# The write benchmark's --smoke plan: 40 drivers, one turn of everything. Mostly
# set-up (two dynalites, the simulator, Feast applies): under a minute when idle.
WRITE_EXPECTED = (
    "== (a) dynalite, store level",
    "== (a) dynalite, end to end",
    "round trip:",
    "== (b) SIMULATION, write units per row",
    "== (b) SIMULATION, store level",
    "== (b) SIMULATION, end to end",
    "== (b) SIMULATION, feature_repo_example",
    "== (c) SIMULATION at 0 ms, client cost",
    "== Targets",
)


def run_bench(module: str, plan: str, expected: tuple[str, ...]) -> str:
    """The benchmark's output, once it has exited cleanly and printed every expected section."""
    if not DYNALITE_BIN.exists():
        pytest.skip(f"dynalite is not installed ({DYNALITE_BIN} missing): run `make test`, which installs it")
    result = subprocess.run(
        [sys.executable, "-m", module, plan],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"exit code {result.returncode}; output ends:\n{output[-4000:]}"
    missing = [text for text in expected if text not in result.stdout]
    assert not missing, f"missing from the output: {missing}; output ends:\n{output[-4000:]}"
    return result.stdout


def test_quick_bench_runs_and_prints_its_tables() -> None:
    run_bench("benchmarks.read_bench", "--quick", EXPECTED)


def test_tiny_write_bench_runs_and_prints_its_tables() -> None:
    """Also that no store failed a write and what was written reads back: a broken table says nothing."""
    stdout = run_bench("benchmarks.write_bench", "--smoke", WRITE_EXPECTED)
    broken = [line for line in stdout.splitlines() if "FAILED" in line or "mismatches" in line]
    assert not broken, f"the bench reports: {broken}"
