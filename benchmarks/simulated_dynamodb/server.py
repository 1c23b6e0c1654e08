"""The simulated DynamoDB's server: what is answered here and when, what goes to the backend.

A data write (``writes.WRITE_OPERATIONS``, not of partition ``~meta``) is applied to the
``WriteModel`` at once and answered ``delay`` seconds later. A read (``reads.READ_OPERATIONS``) of
tables copied by a ``Snapshot`` is answered from the ``ReadModel`` after a latency drawn for it
from ``read_latency``; any write to a copied table is refused. Every answer waits concurrently with
all others, without limit; errors are answered after the wait too. Everything else is forwarded,
unchanged and without delay, to the backend, whose status and body come back as they are. The
simulator's own requests (``X-Amz-Target: Simulator.*``: Stats, Reset, SetDelay, SetReadLatency,
LeaveUnprocessed, Snapshot) are answered at once (a Snapshot once its scans are done) and never
counted. One event loop thread does all of it; forwarding and scans run on a few threads of
their own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson

from benchmarks.simulated_dynamodb.backend import Backend, forward_headers
from benchmarks.simulated_dynamodb.errors import Rejected, unsupported
from benchmarks.simulated_dynamodb.latency import DEFAULT_READ_LATENCY, Latency
from benchmarks.simulated_dynamodb.reads import READ_OPERATIONS, ReadModel, TableCopy
from benchmarks.simulated_dynamodb.wire import (
    JSON_TYPE,
    Canned,
    Connection,
    Request,
    Slot,
    error_body,
    response_head,
)
from benchmarks.simulated_dynamodb.writes import (
    MUTATIONS,
    PLAIN_ANSWERS,
    WRITE_OPERATIONS,
    WriteModel,
    capacity_answer,
    is_meta,
    key_schema,
    tables_of,
    touches_meta,
    written_keys,
)

DEFAULT_DELAY_MS = 8.0  # a DynamoDB write from EC2 in the same region
HOST = "127.0.0.1"
DYNAMODB_TARGET = b"DynamoDB_20120810."
CONTROL_TARGET = b"Simulator."
FORWARD_THREADS = 8

_BANNER = (
    "SIMULATED DynamoDB, not AWS: UpdateItem, TransactWriteItems and BatchWriteItem of data items are "
    "answered here after {delay_ms:g} ms, conditions NOT evaluated, nothing stored but sizes; "
    "GetItem and BatchGetItem of tables copied by a Snapshot are answered from the copy after "
    "a latency drawn from {read_latency} (ms); everything else (and pk '~meta') is forwarded to {backend}"
)


class Simulator:
    """Routing, the delay, and counting requests. Runs on the event loop's thread only, so needs no locks."""

    def __init__(
        self,
        backend_url: str,
        delay_ms: float,
        read_latency: Latency,
        forward_threads: int = FORWARD_THREADS,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._backend = Backend(backend_url)
        self._pool = ThreadPoolExecutor(forward_threads, thread_name_prefix="forward")
        self.delay = delay_ms / 1000
        self.read_latency = read_latency
        self._rng = random.Random()
        self._model = WriteModel()
        self._reads = ReadModel()
        self._canned = {operation: Canned(body) for operation, body in PLAIN_ANSWERS.items()}
        self._lookups: dict[str, asyncio.Future[tuple[str, ...] | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._reset()

    def _reset(self) -> None:
        self._model.reset()
        self._reads.reset()
        self._requests: Counter[str] = Counter()
        self._forwarded: Counter[str] = Counter()
        self._waiting = 0
        self._most_waiting = 0
        self._cpu_start = time.process_time()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _request_id(self) -> bytes:
        return b"SIM%029d" % next(self._ids)

    # routing

    def dispatch(self, request: Request, body: bytes, slot: Slot) -> None:
        """Answer here (after the delay) or forward; always ends in exactly one ``slot.done``."""
        target = request.target
        if target.startswith(CONTROL_TARGET):
            name = target[len(CONTROL_TARGET) :].decode("latin-1")
            if name == "Snapshot":
                self._snapshot(body, slot)
            else:
                slot.done(self._control(name, body))
            return
        operation = (
            target[len(DYNAMODB_TARGET) :].decode("latin-1")
            if target.startswith(DYNAMODB_TARGET)
            else target.decode("latin-1") or "(no X-Amz-Target)"
        )
        if (
            self._reads.copying
            and (operation in READ_OPERATIONS or operation in MUTATIONS)
            and self._from_copy(body, slot, operation)
        ):
            return
        if operation not in WRITE_OPERATIONS:
            self._forward(request, body, slot, operation)
            return
        try:
            payload = orjson.loads(body)
            tables = tables_of(operation, payload)
            meta = touches_meta(operation, payload)
        except (orjson.JSONDecodeError, TypeError, AttributeError, KeyError, ValueError) as error:
            self._answer(
                slot,
                operation,
                self._error(400, "SerializationException", f"unreadable: {error}"),
                self.delay,
            )
            return
        if meta:
            self._forward(request, body, slot, operation)
            return
        missing = self._model.missing_schemas(tables)
        if missing:
            task = self._loop.create_task(
                self._after_lookup(request, body, slot, operation, payload, missing)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._answer(slot, operation, self._write(operation, payload), self.delay)

    def _from_copy(self, body: bytes, slot: Slot, operation: str) -> bool:
        """A read answered from the copies, or a write refused for touching one; False if neither.

        A write to a copied table is refused, not applied: the copy would then differ from what the
        backend holds, and the reads answered from it would be wrong without a sign.
        """
        try:
            payload = orjson.loads(body)
            if operation in READ_OPERATIONS:
                if not self._reads.answers(operation, payload):
                    return False
            elif not self._reads.holds_any(tables_of(operation, payload)) or all(
                map(is_meta, written_keys(operation, payload))
            ):
                return False
        except (orjson.JSONDecodeError, TypeError, AttributeError, KeyError, ValueError):
            return False  # the usual route answers it
        if operation in MUTATIONS:
            rejected = unsupported(
                "writes to a table whose reads are answered from a snapshot: the copy would go stale; "
                "write before the Snapshot"
            )
            self._answer(slot, operation, self._error(400, rejected.code, str(rejected)), self.delay)
            return True
        try:
            response = self._ok(self._reads.read(operation, payload))
        except Rejected as rejected:
            response = self._error(400, rejected.code, str(rejected))
        self._answer(slot, operation, response, self.read_latency.draw(self._rng))
        return True

    def _answer(self, slot: Slot, operation: str, response: bytes, delay: float) -> None:
        """Answer after ``delay`` seconds, concurrently with every other answer waiting."""
        self._requests[operation] += 1
        if delay > 0:
            self._waiting += 1
            self._most_waiting = max(self._most_waiting, self._waiting)
            self._loop.call_later(delay, self._release, slot, response)
        else:
            slot.done(response)

    def _release(self, slot: Slot, response: bytes) -> None:
        self._waiting -= 1
        slot.done(response)

    def _write(self, operation: str, payload: Mapping[str, Any]) -> bytes:
        """Apply one write to the model and render its answer (or its error, with nothing applied)."""
        try:
            capacity = self._model.write(operation, payload)
        except Rejected as rejected:
            return self._error(400, rejected.code, str(rejected))
        if capacity is None:
            return self._canned[operation].render(self._request_id())
        return self._ok(orjson.dumps(capacity_answer(operation, capacity)))

    def _ok(self, body: bytes) -> bytes:
        return response_head(200, body, self._request_id()) + body

    async def _after_lookup(
        self,
        request: Request,
        body: bytes,
        slot: Slot,
        operation: str,
        payload: Mapping[str, Any],
        missing: Sequence[str],
    ) -> None:
        """Learn the tables' key attributes first; a table the backend lacks sends the write there."""
        try:
            for table in missing:
                lookup = self._lookups.get(table)
                if lookup is None:
                    self._forwarded["DescribeTable (key lookup)"] += 1
                    lookup = asyncio.wrap_future(
                        self._pool.submit(self._describe, request, table), loop=self._loop
                    )
                    self._lookups[table] = lookup
                try:
                    keys = await lookup
                finally:
                    if self._lookups.get(table) is lookup:
                        del self._lookups[table]  # a later miss (table deleted, or lookup failed) asks again
                if keys is None:
                    self._forward(request, body, slot, operation)
                    return
                self._model.learn_schema(table, keys)
            self._answer(slot, operation, self._write(operation, payload), self.delay)
        except Exception as error:  # the slot must be answered, or the connection hangs
            slot.done(self._error(502, "SimulatorBackendError", f"key schema lookup failed: {error!r}"))

    def _describe(self, request: Request, table: str) -> tuple[str, ...] | None:
        """In a forwarding thread: the table's key attributes, or None if the backend lacks it."""
        headers = forward_headers(request, target=DYNAMODB_TARGET + b"DescribeTable")
        status, _, answer = self._backend.call("POST", "/", headers, orjson.dumps({"TableName": table}))
        if status != 200:
            return None
        return key_schema(orjson.loads(answer)["Table"])

    def _forward(self, request: Request, body: bytes, slot: Slot, operation: str) -> None:
        self._forwarded[operation] += 1
        future = self._pool.submit(
            self._backend.call,
            request.method.decode("latin-1"),
            request.path.decode("latin-1"),
            forward_headers(request),
            body,
        )
        future.add_done_callback(
            lambda done: self._loop.call_soon_threadsafe(self._forwarded_answer, done, operation, body, slot)
        )

    def _forwarded_answer(
        self,
        done: Future[tuple[int, list[tuple[str, str]], bytes]],
        operation: str,
        request_body: bytes,
        slot: Slot,
    ) -> None:
        try:
            status, headers, answer = done.result()
        except Exception as error:
            slot.done(self._error(502, "SimulatorBackendError", f"backend {self._backend.url}: {error!r}"))
            return
        extra = b""
        request_id = None
        content_type = JSON_TYPE
        for name, value in headers:
            lower = name.lower()
            if lower == "x-amzn-requestid":
                request_id = value.encode("latin-1")
            elif lower == "x-amzn-errortype":
                extra += b"x-amzn-ErrorType: %s\r\n" % value.encode("latin-1")
            elif lower == "content-type":
                content_type = value.encode("latin-1")
        if status == 200:
            self._model.observe(operation, request_body, answer)
            self._reads.observe(operation, request_body)
        slot.done(
            response_head(status, answer, request_id or self._request_id(), extra, content_type) + answer
        )

    def _error(self, status: int, code: str, message: str) -> bytes:
        body = error_body(code, message)
        return (
            response_head(status, body, self._request_id(), b"x-amzn-ErrorType: %s\r\n" % code.encode())
            + body
        )

    # control

    def _control(self, name: str, body: bytes) -> bytes:
        """The simulator's own operations, answered at once: never delayed, never counted."""
        if name == "Stats":
            document: dict[str, Any] = {
                "requests": dict(self._requests),
                "forwarded": dict(self._forwarded),
                **self._model.counters(),
                **self._reads.counters(),
                "most_waiting": self._most_waiting,
                "cpu_seconds": time.process_time() - self._cpu_start,
                "delay_ms": self.delay * 1000,
                "read_latency": self.read_latency.spec,
            }
        elif name == "Reset":
            self._reset()
            document = {}
        elif name == "SetDelay":
            try:
                delay_ms = float(orjson.loads(body)["delay_ms"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                return self._error(
                    400, "ValidationException", f"SetDelay needs {{'delay_ms': number}}: {error}"
                )
            if not 0 <= delay_ms < 3_600_000:
                return self._error(400, "ValidationException", f"delay_ms {delay_ms} is not in [0, 1 h)")
            self.delay = delay_ms / 1000
            document = {"delay_ms": delay_ms}
        elif name == "SetReadLatency":
            try:
                self.read_latency = Latency.parse(orjson.loads(body)["latency"])
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as error:
                return self._error(
                    400, "ValidationException", f"SetReadLatency needs {{'latency': spec}}: {error}"
                )
            document = {"read_latency": self.read_latency.spec}
        elif name == "LeaveUnprocessed":
            try:
                answers = orjson.loads(body)["answers"]
                if not isinstance(answers, int) or answers < 0:
                    raise ValueError(f"{answers!r} is not a count")
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                return self._error(
                    400, "ValidationException", f"LeaveUnprocessed needs {{'answers': count}}: {error}"
                )
            self._reads.leave_unprocessed(answers)
            document = {"answers": answers}
        else:
            return self._error(400, "UnknownOperationException", f"no simulator operation {name!r}")
        return self._ok(orjson.dumps(document))

    def _snapshot(self, body: bytes, slot: Slot) -> None:
        """Copy tables from the backend, on a forwarding thread; answered once every copy is held."""
        try:
            tables = orjson.loads(body)["tables"]
            if not isinstance(tables, list) or not all(isinstance(table, str) for table in tables):
                raise TypeError(f"{tables!r} is not a list of table names")
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            slot.done(
                self._error(400, "ValidationException", f"Snapshot needs {{'tables': [names]}}: {error}")
            )
            return
        future = self._pool.submit(self._copy_tables, tables)
        future.add_done_callback(lambda done: self._loop.call_soon_threadsafe(self._copied, done, slot))

    def _copy_tables(self, tables: Sequence[str]) -> list[TableCopy]:
        """In a forwarding thread: each table's key schema and every item, by consistent Scans."""
        copies = []
        for table in tables:
            description = self._backend.signed_call("DescribeTable", {"TableName": table})["Table"]
            items: list[dict[str, Any]] = []
            scan: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
            while True:
                page = self._backend.signed_call("Scan", scan)
                items.extend(page["Items"])
                if "LastEvaluatedKey" not in page:
                    break
                scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            copies.append(TableCopy.of(description, items))
        return copies

    def _copied(self, done: Future[list[TableCopy]], slot: Slot) -> None:
        try:
            copies = done.result()
        except Rejected as rejected:
            slot.done(self._error(400, rejected.code, str(rejected)))
            return
        except Exception as error:
            slot.done(self._error(502, "SimulatorBackendError", f"snapshot failed: {error!r}"))
            return
        for copy in copies:
            self._reads.hold(copy)
        slot.done(self._ok(orjson.dumps({"tables": {copy.name: len(copy.items) for copy in copies}})))


async def serve(
    backend_url: str, delay_ms: float, read_latency: Latency, port: int, exit_on_stdin_eof: bool
) -> None:
    """Serve until SIGTERM or SIGINT (or the parent's end of stdin closes, if asked)."""
    loop = asyncio.get_running_loop()
    simulator = Simulator(backend_url, delay_ms, read_latency)
    server = await loop.create_server(lambda: Connection(simulator), HOST, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if exit_on_stdin_eof:
        stdin = sys.stdin.fileno()

        def on_stdin() -> None:
            if not os.read(stdin, 4096):
                loop.remove_reader(stdin)
                stop.set()

        loop.add_reader(stdin, on_stdin)
    print(_BANNER.format(delay_ms=delay_ms, read_latency=read_latency.spec, backend=backend_url), flush=True)
    print(f"listening http://{HOST}:{bound}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        simulator.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.simulated_dynamodb",
        description="A SIMULATED DynamoDB endpoint for benchmarks (see the package docstring).",
    )
    parser.add_argument("--backend", required=True, help="real DynamoDB-compatible server for the rest")
    parser.add_argument(
        "--delay-ms", type=float, default=DEFAULT_DELAY_MS, help="delay of the writes answered"
    )
    parser.add_argument(
        "--read-latency",
        default=DEFAULT_READ_LATENCY,
        metavar="SPEC",
        help=f"latency of the reads answered, drawn per request: 'fixed:MS' or 'lognormal:p50=MS,p99=MS' "
        f"(default {DEFAULT_READ_LATENCY}: DynamoDB from EC2 in the same region; see latency.py)",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true", help="stop when stdin closes (the parent died)"
    )
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must not be negative")
    try:
        read_latency = Latency.parse(args.read_latency)
    except ValueError as error:
        parser.error(str(error))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.backend, args.delay_ms, read_latency, args.port, args.exit_on_stdin_eof))
