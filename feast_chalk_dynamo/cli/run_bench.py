"""``feast-chalk-dynamo bench``: the read benchmark, run against a given endpoint.

The benchmarks are not part of the installed package (they need the test
helpers and Feast's own DynamoDB store, the ``bench`` extras): this runs
``python -m benchmarks.read_bench_at`` from the source checkout, in a process
of its own (it freezes the garbage collector and sets the GIL's switch
interval, which no caller of ``main`` should inherit).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from feast_chalk_dynamo.cli.shared import CliError, checkout_path

MODULE = "benchmarks.read_bench_at"
REACH_TIMEOUT_S = 5


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bench",
        help="run the read benchmark against an endpoint",
        description=(
            "Load the read benchmark's data (1,000 drivers x 5 views x 20 features per data set) into this "
            "store and into Feast's DynamoDB store on the endpoint, time reads of both and of bare "
            "BatchGetItem calls, and print percentiles and ratios (benchmarks/read_bench.py; see the "
            "README, 'The read engine'). The endpoint must take test credentials: a local "
            "DynamoDB-compatible server such as dynalite, not AWS; not moto's server either, which answers "
            "the load's concurrent transactions with HTTP 500. Needs a source "
            "checkout with the bench extras installed. Exit status: the benchmark's; 2 when the endpoint "
            "does not answer or the checkout is missing."
        ),
    )
    parser.add_argument(
        "--endpoint-url", required=True, metavar="URL", help="the DynamoDB-compatible endpoint"
    )
    parser.add_argument(
        "--quick", action="store_true", help="few repetitions: a smoke run, not a measurement"
    )
    parser.add_argument(
        "--data",
        choices=("mixed", "numeric", "both"),
        default="both",
        help="which data set to read (default both)",
    )
    parser.add_argument(
        "--checkout",
        type=Path,
        metavar="DIR",
        help="the source checkout holding benchmarks/ (default: the one this package runs from)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    benchmarks = checkout_path(args.checkout and args.checkout / "benchmarks", "benchmarks", "--checkout")
    url: str = args.endpoint_url
    _check_reachable(url)
    argv = [sys.executable, "-m", MODULE, "--endpoint-url", url, "--data", args.data]
    if args.quick:
        argv.append("--quick")
    sys.stdout.flush()
    return subprocess.run(argv, cwd=benchmarks.parent, check=False).returncode


def _check_reachable(url: str) -> None:
    """Any HTTP answer will do: the benchmark's own requests say the rest."""
    try:
        with urllib.request.urlopen(url, timeout=REACH_TIMEOUT_S):
            pass
    except urllib.error.HTTPError:
        return  # an error status is still an answer
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise CliError(f"cannot reach {url}: {reason}") from error
