"""``feast serve --metrics`` with its metrics endpoint on 127.0.0.1 and a port of the caller's choosing.

Feast 0.67 binds its metrics server to every interface on port 8000 and
offers no option to change either; the tests bind only loopback, on a free
port. So this runs Feast's own CLI after replacing the one function that
binds, ``feast.metrics._make_metrics_httpd``. Feast starts the metrics
process with ``multiprocessing`` before gunicorn forks its workers; with the
fork start method (set here, whatever the platform's default) it inherits
the replacement. Everything else is Feast's: gunicorn, multiprocess mode, the
``MultiProcessCollector`` adding up the workers' files.

    python -m tests.metrics_server METRICS_PORT [feast arguments...]
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIServer, make_server

import feast.metrics
from feast.cli.cli import cli

HOST = "127.0.0.1"


def main() -> None:
    port = int(sys.argv[1])

    def loopback(_feast_port: int, app: Callable[..., Iterable[bytes]]) -> WSGIServer:
        return make_server(HOST, port, app, handler_class=feast.metrics._QuietWSGIRequestHandler)

    feast.metrics._make_metrics_httpd = loopback
    multiprocessing.set_start_method("fork", force=True)
    cli(args=sys.argv[2:], prog_name="feast")


if __name__ == "__main__":
    main()
