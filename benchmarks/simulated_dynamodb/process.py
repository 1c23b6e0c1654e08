"""The simulated DynamoDB in a subprocess of the benchmark, and the benchmark's handle on it."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import orjson

from benchmarks.simulated_dynamodb.latency import DEFAULT_READ_LATENCY
from benchmarks.simulated_dynamodb.server import DEFAULT_DELAY_MS, HOST
from benchmarks.simulated_dynamodb.wire import JSON_TYPE

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0
CONTROL_TIMEOUT_SECONDS = 10.0
SNAPSHOT_TIMEOUT_SECONDS = 600.0  # scans of every table copied: the benchmarks' take some seconds


@dataclass(frozen=True)
class SimStats:
    """Counters since start or the last ``reset``.

    ``requests``: answered here, by operation; ``forwarded``: sent to the backend, by operation
    (key-schema lookups as "DescribeTable (key lookup)"). ``actions``: item writes applied (updates,
    puts, deletes; not condition checks). ``items``: distinct items now held. ``write_units``: WCU
    by DynamoDB's rules. ``bytes_stored``: the items' current total size. ``read_units``: RCU of
    the reads answered, by DynamoDB's rules. ``unprocessed_keys``: keys those left unprocessed
    (``leave_unprocessed``). ``snapshot_items``: items now copied by ``snapshot`` (not reset).
    ``most_waiting``: the most answers that waited for their delay or latency at once.
    ``cpu_seconds``: the simulator process's CPU (every thread of it): what it cost to serve.
    """

    requests: dict[str, int]
    forwarded: dict[str, int]
    actions: int
    items: int
    write_units: int
    bytes_stored: int
    read_units: float = 0.0
    unprocessed_keys: int = 0
    snapshot_items: int = 0
    most_waiting: int = 0
    cpu_seconds: float = field(default=0.0, compare=False)  # a measurement: never the same twice


_running: set[SimulatedDynamo] = set()


@atexit.register
def _stop_all() -> None:
    for simulator in list(_running):
        simulator.stop()


class SimulatedDynamo:
    """The simulator in a subprocess, so its CPU is not the benchmarked client's; a context manager.

    The subprocess stops on ``__exit__``/``stop`` (SIGTERM, SIGKILL after 5 s), at interpreter exit,
    and by itself when this process dies (it watches its stdin, a pipe from here).
    """

    def __init__(
        self, backend_url: str, delay_ms: float = DEFAULT_DELAY_MS, read_latency: str = DEFAULT_READ_LATENCY
    ) -> None:
        self.backend_url = backend_url
        self.delay_ms = delay_ms
        self.read_latency = read_latency
        self._process: subprocess.Popen[bytes] | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the endpoint_url to give clients."""
        if self._url is None:
            raise RuntimeError("the simulator is not running: use it as a context manager, or start()")
        return self._url

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> SimulatedDynamo:
        if self._process is not None:
            raise RuntimeError("already started")
        command = [
            sys.executable,
            "-m",
            "benchmarks.simulated_dynamodb",
            "--backend",
            self.backend_url,
            "--delay-ms",
            repr(float(self.delay_ms)),
            "--read-latency",
            self.read_latency,
            "--port",
            "0",
            "--exit-on-stdin-eof",
        ]
        self._process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None
        )
        _running.add(self)
        try:
            self._url = self._await_listening(self._process)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _await_listening(process: subprocess.Popen[bytes]) -> str:
        """The URL from the server's ``listening`` line; reads the raw fd, so select sees every byte."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        output = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:  # EOF: the server exited
                break
            output += chunk
            for line in output.decode("utf-8", errors="replace").splitlines(keepends=True):
                if line.startswith("listening ") and line.endswith("\n"):
                    return line.split(" ", 1)[1].strip()
        seen = output.decode("utf-8", errors="replace").splitlines()
        code = process.poll()
        state = f"exited with code {code}" if code is not None else "did not start in time"
        raise RuntimeError(
            f"the DynamoDB simulator {state}; it printed {seen!r} (its stderr is this process')"
        )

    def stop(self) -> None:
        """Idempotent: terminate, then kill if it is still there after 5 s."""
        process = self._process
        _running.discard(self)
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._url = None

    def __enter__(self) -> SimulatedDynamo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stats(self) -> SimStats:
        document = self._control("Stats", {})
        return SimStats(
            requests=document["requests"],
            forwarded=document["forwarded"],
            actions=document["actions"],
            items=document["items"],
            write_units=document["write_units"],
            bytes_stored=document["bytes_stored"],
            read_units=document["read_units"],
            unprocessed_keys=document["unprocessed_keys"],
            snapshot_items=document["snapshot_items"],
            most_waiting=document["most_waiting"],
            cpu_seconds=document["cpu_seconds"],
        )

    def reset(self) -> None:
        """Zero the counters, forget the items' sizes and ``leave_unprocessed``; tables and copies stay."""
        self._control("Reset", {})

    def set_delay(self, delay_ms: float) -> None:
        self._control("SetDelay", {"delay_ms": delay_ms})
        self.delay_ms = delay_ms

    def set_read_latency(self, spec: str) -> None:
        """``fixed:MS`` or ``lognormal:p50=MS,p99=MS`` (``latency.Latency``), from the next read on."""
        self._control("SetReadLatency", {"latency": spec})
        self.read_latency = spec

    def snapshot(self, tables: Sequence[str]) -> dict[str, int]:
        """Copy the tables' items from the backend; their GetItem and BatchGetItem are answered here after.

        Load them first: a write to a copied table is refused from then on. Returns the items
        copied per table (the ``~meta`` partition is not: its reads go to the backend).
        """
        document = self._control("Snapshot", {"tables": list(tables)}, SNAPSHOT_TIMEOUT_SECONDS)
        copied: dict[str, int] = document["tables"]
        return copied

    def leave_unprocessed(self, answers: int) -> None:
        """The next ``answers`` BatchGetItem answered here each leave half of a table's keys unprocessed."""
        self._control("LeaveUnprocessed", {"answers": answers})

    def _control(
        self, operation: str, payload: Mapping[str, Any], timeout: float = CONTROL_TIMEOUT_SECONDS
    ) -> dict[str, Any]:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=timeout)
        try:
            connection.request(
                "POST",
                "/",
                orjson.dumps(payload),
                {"X-Amz-Target": f"Simulator.{operation}", "Content-Type": JSON_TYPE.decode()},
            )
            response = connection.getresponse()
            answer = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"simulator {operation} answered {response.status}: {answer[:300]!r}")
        document: dict[str, Any] = orjson.loads(answer)
        return document
