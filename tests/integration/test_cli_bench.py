"""``feast-chalk-dynamo bench``: the read benchmark run against an endpoint given to it (a dynalite
behind the strict proxy here), and its errors. Timings are printed, never asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from feast_chalk_dynamo.cli import main
from tests.cli_repo import run, unreachable_url
from tests.servers import Endpoint

# Both stores loaded with the numeric data set (dynalite: one guarded update per row), then a
# quick turn of every read shape and the racing scenario: a few minutes on a loaded 2-core box.
SECTIONS = (
    "== Read latency (ms): get_online_features, ours vs Feast's DynamoDB store [numeric data, endpoint] ==",
    "== online_read vs raw floor (ms): 100 keys, 1 view of 20 features [numeric data, endpoint] ==",
    "online_read / floor",
    "racing wait:",
)
# The simulated DynamoDB's part is left out: it would not measure the endpoint.
NOT_HERE = "SIMULATION"


def test_the_read_benchmark_runs_against_the_endpoint_given(
    dynalite_endpoint: Endpoint, capfd: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "--endpoint-url", dynalite_endpoint.url, "--quick", "--data", "numeric"])
    out, err = capfd.readouterr()
    assert code == 0, err[-4000:]
    assert out.startswith(f"read benchmark against {dynalite_endpoint.url}")
    missing = [section for section in SECTIONS if section not in out]
    assert not missing, out[-4000:]
    assert NOT_HERE not in out


def test_an_endpoint_that_does_not_answer_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = unreachable_url()
    code, out, err = run(capsys, "bench", "--endpoint-url", url)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: cannot reach {url}: ") and err.count("\n") == 1


def test_a_checkout_without_the_benchmarks_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "bench", "--endpoint-url", unreachable_url(), "--checkout", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (
        f"error: {tmp_path / 'benchmarks'} does not exist: benchmarks comes with a source checkout of "
        "feast_chalk_dynamo, not with the installed package; run from a checkout (pip install -e .) or give "
        "--checkout\n"
    )
