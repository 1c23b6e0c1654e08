"""The load of ``serve_bench``: a fixed number of requests in flight to ``feast serve``, for a bounded time.

Its own process, so that neither its CPU nor its pauses are the server's.
Each of ``--in-flight`` keep-alive HTTP/1.1 connections sends its next request
as soon as the last one is answered (a closed loop), the requests taken in turn
from a prepared list (cycled if the run outlasts it). A warm-up first, whose
requests are not counted; then, over the measured window, the latency of each
request, and the CPU that this process and each watched process tree
(``--watch NAME=PID``: the server, the emulator, ...) spent in it, from
``/proc``. The window closes once the last request sent in it is answered.

A request that is not answered 200, or whose features are not all PRESENT
(every driver asked for was written), is counted as an error, not timed as an
answer. Prints one JSON document on stdout.

    python -m benchmarks.serve_load --port P --requests FILE --in-flight 8 --seconds 25 --watch server=PID
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import uvloop  # feast serve's own event loop (uvicorn[standard]): the cheapest client loop here

from benchmarks.proc_cpu import tree_cpu_seconds

HOST = "127.0.0.1"
PATH = "/get-online-features"
# A run still going this long after it should have stopped sending has a stuck server: it fails.
STUCK_SECONDS = 60.0
# Feast's JSON names a feature's status by its enum name; every one but PRESENT means a value is missing.
MISSING_STATUSES = (b'"NOT_FOUND"', b'"NULL_VALUE"', b'"OUTSIDE_MAX_AGE"')


@dataclass
class Load:
    """The requests, whose turn is next, when to stop sending, and what the connections saw.

    ``counting`` is False during the warm-up. One event loop thread touches it: no locks.
    """

    messages: list[bytes]
    stop_at: float
    counting: bool = False
    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def next_message(self) -> bytes:
        message = self.messages[self.sent % len(self.messages)]
        self.sent += 1
        return message


def encoded_requests(
    features: Sequence[str], entity_lists: Sequence[Sequence[int]], join_key: str
) -> list[bytes]:
    """Each request's whole HTTP message, built before the clock starts."""
    messages = []
    for ids in entity_lists:
        body = orjson.dumps(
            {"features": list(features), "entities": {join_key: list(ids)}, "full_feature_names": True}
        )
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        messages.append(head.encode() + body)
    return messages


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body, and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    headers = {name.strip().lower(): value.strip() for name, value in headers.items()}
    if "content-length" not in headers:
        raise RuntimeError(f"the server answered without a Content-Length: {lines[:8]}")
    body = await reader.readexactly(int(headers["content-length"]))
    return status, body, headers.get("connection", "").lower() != "close"


async def connection_loop(port: int, load: Load) -> None:
    """One connection: send, await the answer, again, until ``load.stop_at``; reconnect if told to close."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.perf_counter() < load.stop_at:
            message = load.next_message()
            counted = load.counting
            started = time.perf_counter()
            writer.write(message)
            status, body, keep_alive = await read_response(reader)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if counted:
                if status != 200:
                    load.errors[f"HTTP {status}: {body[:200].decode(errors='replace')}"] += 1
                elif any(missing in body for missing in MISSING_STATUSES):
                    load.errors["a feature not PRESENT"] += 1
                else:
                    load.latencies_ms.append(elapsed_ms)
            if not keep_alive:
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
    finally:
        writer.close()


def cpu_now(watched: dict[str, int]) -> dict[str, float]:
    times = os.times()
    return {
        "loader": times.user + times.system,
        **{name: tree_cpu_seconds(pid) for name, pid in watched.items()},
    }


async def run(
    port: int, messages: list[bytes], in_flight: int, warmup: float, seconds: float, watched: dict[str, int]
) -> dict[str, object]:
    load = Load(messages, stop_at=time.perf_counter() + warmup + seconds)
    loops = [asyncio.ensure_future(connection_loop(port, load)) for _ in range(in_flight)]

    async def measured() -> dict[str, object]:
        await asyncio.sleep(warmup)
        # Requests in flight now are counted though they started in the warm-up: at most
        # ``in_flight`` of thousands, and their answers, like most of their CPU, fall in the window.
        load.counting = True
        before = cpu_now(watched)
        started = time.perf_counter()
        await asyncio.gather(*loops)
        wall = time.perf_counter() - started
        after = cpu_now(watched)
        return {
            "seconds": wall,
            "latencies_ms": load.latencies_ms,
            "errors": dict(load.errors),
            "cpu_seconds": {name: after[name] - before[name] for name in after},
            "requests_sent": load.sent,
        }

    try:
        # One bound on the whole run, not one per request: a stuck server fails it rather than hang it.
        return await asyncio.wait_for(measured(), warmup + seconds + STUCK_SECONDS)
    finally:
        for loop in loops:
            loop.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests", type=Path, required=True, help="JSON: features, join_key, entity_lists")
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load not counted")
    parser.add_argument("--seconds", type=float, default=25.0, help="seconds of load measured")
    parser.add_argument("--watch", action="append", default=[], metavar="NAME=PID")
    args = parser.parse_args(argv)
    spec = orjson.loads(args.requests.read_bytes())
    messages = encoded_requests(spec["features"], spec["entity_lists"], spec["join_key"])
    watched = {name: int(pid) for name, pid in (item.split("=", 1) for item in args.watch)}
    result = uvloop.run(run(args.port, messages, args.in_flight, args.warmup, args.seconds, watched))
    sys.stdout.buffer.write(orjson.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
