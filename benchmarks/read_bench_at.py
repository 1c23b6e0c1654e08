"""The read benchmark (``read_bench``) against an endpoint already running, instead of a dynalite of its own.

``python -m benchmarks.read_bench_at --endpoint-url URL [read_bench's options]``, which
``feast-chalk-dynamo bench`` runs. Everything is ``read_bench``'s: the data loaded into both stores
(this store's table ``bench-chalk`` and Feast's ``bench.<view>`` tables, created on the endpoint
if missing), the shapes timed, the racing scenario behind a delaying proxy in front of the
endpoint, the tables printed; only the server differs, and the tables name it "endpoint". The
simulated DynamoDB's part is left out: it would measure a simulation in front of the endpoint, not
the endpoint. The endpoint must accept the test credentials the benchmark signs with
(``feature_stores.use_fake_aws_credentials``): dynalite and other local endpoints do, AWS does
not. moto's threaded server answers the load's concurrent transactions with HTTP 500 (see the
README, 'Tests'): the benchmark fails on it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks import read_bench


@dataclass(frozen=True)
class _Endpoint:
    url: str


@dataclass(frozen=True)
class RunningServer:
    """Stands in for the dynalite ``read_bench`` would start: the given endpoint, left running after."""

    endpoint: _Endpoint

    def stop(self) -> None:
        """Not ours to stop."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None, add_help=False)
    parser.add_argument("--endpoint-url", required=True, help="the DynamoDB-compatible endpoint to read from")
    args, rest = parser.parse_known_args(argv)
    read_bench.log(f"read benchmark against {args.endpoint_url}")
    server = RunningServer(_Endpoint(args.endpoint_url))
    read_bench.start_dynalite = lambda: server  # type: ignore[assignment,misc]  # read_bench's one server
    return read_bench.main([*rest, "--no-simulation"], server_label="endpoint")


if __name__ == "__main__":
    sys.exit(main())
