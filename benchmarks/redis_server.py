"""A throwaway redis-server on a loopback port, for Feast's Redis online store as a baseline.

Started through the same spawner as the test servers (``tests.servers``), so
it dies with the benchmark even if the benchmark is killed, and ``stop`` at
exit covers every other way out. No persistence: nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from tests.servers import HOST, Endpoint, ServerProcess, ServerStartError, _spawn, free_port

START_TIMEOUT_SECONDS = 10.0


def binary() -> str | None:
    """The redis-server on PATH (Debian's package: ``apt-get install redis-server``), or None."""
    return shutil.which("redis-server")


@dataclass(frozen=True)
class RunningRedis:
    connection_string: str  # Feast's redis online_store ``connection_string``
    pid: int  # whose CPU a benchmark may read


@contextlib.contextmanager
def running_redis(executable: str) -> Iterator[RunningRedis]:
    """A fresh redis-server for the ``with`` block."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as work_dir:
        argv = [
            executable,
            "--bind", HOST,
            "--port", str(port),
            "--protected-mode", "yes",
            "--save", "",
            "--appendonly", "no",
            "--dir", work_dir,
            "--daemonize", "no",
        ]  # fmt: skip
        server = _spawn(Endpoint("redis", f"redis://{HOST}:{port}", False, False), argv)
        try:
            _wait_until_ready(server, port)
            yield RunningRedis(f"{HOST}:{port}", server.pid)
        finally:
            server.stop()


def _wait_until_ready(server: ServerProcess, port: int) -> None:
    client = redis.Redis(host=HOST, port=port, socket_connect_timeout=0.5, socket_timeout=1)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerStartError(
                    f"redis-server exited before answering on port {port}:\n{server.output_tail()}"
                )
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                if client.ping():
                    return
            time.sleep(0.05)
    finally:
        client.close()
    raise ServerStartError(
        f"redis-server did not answer PING on port {port}; its output ends:\n{server.output_tail()}"
    )
