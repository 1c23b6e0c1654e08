"""A loopback HTTP proxy in front of a DynamoDB endpoint that injects faults on demand.

Tests and the read benchmark set what goes wrong; the store talks to the proxy
as it would to DynamoDB, so every fault travels the real botocore path
(parsing, checksums, retries, timeouts) instead of a mocked one.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import random
import select
import socket
import sys
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from tests.dynamodb_limits import TABLE_KEYS, created_keys, request_tables, violation

# Seconds to wait before forwarding one request, drawn from the proxy's seeded generator.
Delay = Callable[[random.Random], float]

UPSTREAM_TIMEOUT_SECONDS = 30.0
_POLL_SECONDS = 0.05  # how often a held request looks for a hung-up client or a closing proxy
_JOIN_SECONDS = 2.0  # close() waits this long, in all, for handler threads; they are daemons anyway

# Set by the proxy itself: the payload may have changed, hop-by-hop ones are per
# connection, and send_response adds Server and Date.
_OWN_HEADERS = frozenset(
    {"content-length", "x-amz-crc32", "connection", "transfer-encoding", "server", "date"}
)
_THROTTLE = (
    400,
    "ProvisionedThroughputExceededException",
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API.",
)
_SERVER_ERROR = (500, "InternalServerError", "Internal server error")
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_CONFLICT = (
    400,
    "TransactionConflictException",
    "Transaction is ongoing for the item",
)


def fixed(seconds: float) -> Delay:
    return lambda rng: seconds


def sometimes(share: float, seconds: float) -> Delay:
    """A tail: most requests are fast, ``share`` of them take ``seconds``."""
    return lambda rng: seconds if rng.random() < share else 0.0


def uniform(lo: float, hi: float) -> Delay:
    return lambda rng: rng.uniform(lo, hi)


def lognormal(median: float, sigma: float) -> Delay:
    """Latency shaped like a real service's: a median and a long right tail."""
    return lambda rng: rng.lognormvariate(math.log(median), sigma)


@dataclass
class Faults:
    """What the proxy does to the next requests; counters say what it did.

    Handler threads read the settings under ``lock``; a test may assign single
    attributes at any time, or use ``update`` so that several changes land
    between two requests rather than in the middle of one.

    The three shares are of the requests faults apply to and exclude each
    other (one draw decides), so throttle 0.2 + error 0.1 fails 30 %.
    Assigning ``seed`` restarts the generator, so the same seed and the same
    sequence of requests give the same faults.
    """

    # DynamoDB operations (X-Amz-Target suffix, "GetItem") faults apply to; None: all.
    operations: frozenset[str] | None = None
    delay: Delay | None = None  # before forwarding, so a raced duplicate can overtake it
    throttle_share: float = 0.0  # 400 ProvisionedThroughputExceededException, not forwarded
    error_share: float = 0.0  # 500 InternalServerError, not forwarded
    drop_share: float = 0.0  # request read, connection closed without an answer
    # Another writer's transaction holds the item, not forwarded: a TransactWriteItems is
    # cancelled with a TransactionConflict reason, an UpdateItem gets TransactionConflictException.
    conflict_share: float = 0.0
    # The reason a "conflicting" transaction is cancelled for: "ThrottlingError" (or
    # "ProvisionedThroughputExceeded") makes it a transaction throttled on one of its items.
    cancellation_reason: str = "TransactionConflict"
    # Accept and read requests, never answer: a dead endpoint. Held until the
    # client hangs up or the proxy closes.
    blackhole: bool = False
    # BatchGetItem answers in which half of the keys come back as UnprocessedKeys
    # (-1: every answer), as DynamoDB does under throttling or a 16 MB response.
    unprocessed_batch_gets: int = 0
    seed: int = 0
    seen: Counter[str] = field(default_factory=Counter)  # every request, by operation
    injected: Counter[str] = field(default_factory=Counter)  # by kind: "delay", "throttle", ...
    # Requests being handled now, and the most there ever were at once: how parallel a client is.
    in_flight: int = field(default=0, init=False)
    max_in_flight: int = field(default=0, init=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _random: random.Random = field(init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "seed":
            # A new object rather than .seed(): one assignment, so a handler
            # mid-draw on the old generator cannot interleave with the reseed.
            super().__setattr__("_random", random.Random(value))

    def update(self, **settings: Any) -> None:
        unknown = set(settings) - {f.name for f in _settings()} - {"seed"}
        if unknown:
            raise TypeError(f"Faults has no setting {sorted(unknown)}")
        with self.lock:
            for name, value in settings.items():
                setattr(self, name, value)

    def reset(self) -> None:
        """Back to a clean pass-through with zeroed counters; the seed is kept and restarted."""
        with self.lock:
            for f in _settings():
                setattr(self, f.name, f.default)
            # Cleared in place: a test may hold on to the counter objects.
            self.seen.clear()
            self.injected.clear()
            self.max_in_flight = self.in_flight
            self.seed = self.seed  # restarts the generator

    def plan(self, operation: str) -> tuple[float, str | None]:
        """Count the request and decide its fate: (delay seconds, outcome or None to forward)."""
        with self.lock:
            self.seen[operation] += 1
            if self.operations is not None and operation not in self.operations:
                return 0.0, None
            delay = self.delay(self._random) if self.delay is not None else 0.0
            if delay > 0:
                self.injected["delay"] += 1
            roll = self._random.random()
            outcome = None
            if self.blackhole:
                outcome = "blackhole"
            elif roll < self.throttle_share:
                outcome = "throttle"
            elif roll < self.throttle_share + self.error_share:
                outcome = "error"
            elif roll < self.throttle_share + self.error_share + self.drop_share:
                outcome = "drop"
            elif roll < self.throttle_share + self.error_share + self.drop_share + self.conflict_share:
                outcome = "conflict"
            if outcome is not None:
                self.injected[outcome] += 1
            return delay, outcome

    def entered(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def left(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def take_unprocessed(self) -> bool:
        with self.lock:
            if self.unprocessed_batch_gets == 0:
                return False
            if self.operations is not None and "BatchGetItem" not in self.operations:
                return False
            if self.unprocessed_batch_gets > 0:
                self.unprocessed_batch_gets -= 1
            self.injected["unprocessed"] += 1
            return True


def _settings() -> list[Any]:
    """The fault settings: the fields with a plain default, all of them off by that default."""
    return [f for f in fields(Faults) if f.init and f.default is not MISSING and f.name != "seed"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a held request must never keep the interpreter alive

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (timeout, drop, close) is routine here, not a bug to print.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FaultProxy:
    """Forwards to ``upstream_url`` on a thread per connection, faulting as ``faults`` says.

    ``strict``: answer every request that AWS would reject (``dynamodb_limits``)
    with AWS's ValidationException instead of forwarding it, because the local
    servers accept oversize expressions, batches and keys. ``rejected`` keeps
    (operation, message) of each such request. A table's keys are learnt from
    the CreateTable request that made it (Feast's own store keys its tables by
    ``entity_id``); a table created elsewhere is taken to be keyed like the
    store's, ``pk`` and ``sk``. A strict proxy also forwards writes one at a
    time: DynamoDB applies each write and each transaction
    atomically, but moto's threaded server does not (a transaction deep-copies
    the table while other threads write to it, answers 500 and can roll their
    writes back; a conditional update checks and writes in two steps), and a
    test of concurrent writers must test the client, not moto's races.
    """

    def __init__(self, upstream_url: str, strict: bool = False) -> None:
        self.faults = Faults()
        self.strict = strict
        self._one_write_at_a_time = threading.Lock()
        self.rejected: list[tuple[str, str]] = []
        self.table_keys: dict[str, tuple[str, ...]] = {}
        self._closing = threading.Event()
        self._handlers: set[_Handler] = set()
        self._handlers_lock = threading.Lock()
        upstream = urlsplit(upstream_url)
        proxy = self

        class Handler(_Handler):
            upstream_host = upstream.hostname or "127.0.0.1"
            upstream_port = upstream.port or 80
            owner = proxy

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(_POLL_SECONDS,), name="fault-proxy", daemon=True
        )
        self._thread.start()

    def retarget(self, upstream_url: str) -> None:
        """Forward from now on to ``upstream_url``: a restarted server on a new port."""
        upstream = urlsplit(upstream_url)
        handler = self._server.RequestHandlerClass
        handler.upstream_host = upstream.hostname or "127.0.0.1"  # type: ignore[attr-defined]
        handler.upstream_port = upstream.port or 80  # type: ignore[attr-defined]

    def close(self) -> None:
        """Stop accepting, cut every open connection (held ones included) and wait briefly for handlers."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        with self._handlers_lock:
            handlers = list(self._handlers)
        for handler in handlers:
            handler.interrupt()
        deadline = time.monotonic() + _JOIN_SECONDS
        for handler in handlers:
            handler.thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pooled connections expect
    upstream_host: str
    upstream_port: int
    owner: FaultProxy

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle on, the second waits
        # for the client's delayed ACK, some 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.thread = threading.current_thread()
        self._upstream: http.client.HTTPConnection | None = None
        with self.owner._handlers_lock:
            self.owner._handlers.add(self)

    def finish(self) -> None:
        with self.owner._handlers_lock:
            self.owner._handlers.discard(self)
        super().finish()

    def interrupt(self) -> None:
        """Unblock this handler wherever it waits: on the client, on upstream, or holding."""
        connections = [self.connection]
        if self._upstream is not None and self._upstream.sock is not None:
            connections.append(self._upstream.sock)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    def do_POST(self) -> None:
        self.owner.faults.entered()
        try:
            self._handle_post()
        finally:
            self.owner.faults.left()

    def _handle_post(self) -> None:
        faults = self.owner.faults
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        if self.owner.strict:
            request = json.loads(body or b"{}")
            if operation == "CreateTable":
                self.owner.table_keys[request.get("TableName")] = created_keys(request)
            keys = {self.owner.table_keys.get(table, TABLE_KEYS) for table in request_tables(request)}
            # A request spanning tables keyed differently (no test sends one) is checked as the store's.
            problem = violation(
                operation, request, keys=keys.pop() if len(keys) == 1 else TABLE_KEYS, body_size=len(body)
            )
            if problem is not None:
                self.owner.rejected.append((operation, problem))
                return self._reply_error(400, "ValidationException", problem)
        delay, outcome = faults.plan(operation)
        if delay > 0 and not self._hold(delay):
            return self._hang_up()
        if outcome == "blackhole":
            self._hold(None)
            return self._hang_up()
        if outcome == "drop":
            return self._hang_up()
        if outcome in ("throttle", "error"):
            return self._reply_error(*(_THROTTLE if outcome == "throttle" else _SERVER_ERROR))
        if outcome == "conflict" and operation == "TransactWriteItems":
            actions = len(json.loads(body).get("TransactItems") or [])
            first = {"Code": self.owner.faults.cancellation_reason, "Message": _CONFLICT[2]}
            reasons = [first] + [{"Code": "None"}] * (actions - 1)
            message = (
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{first['Code']}]"
            )
            return self._reply_error(
                400, "TransactionCanceledException", message, CancellationReasons=reasons
            )
        if outcome == "conflict" and operation == "UpdateItem":
            return self._reply_error(*_CONFLICT)
        if self.owner.strict and operation in _WRITES:
            with self.owner._one_write_at_a_time:
                status, headers, payload = self._forward(body)
        else:
            status, headers, payload = self._forward(body)
        if operation == "BatchGetItem" and status == 200 and faults.take_unprocessed():
            payload = _unprocess_half(body, payload)
        self._reply(status, payload, headers)

    def _reply_error(self, status: int, code: str, message: str, **extra: Any) -> None:
        """An error as DynamoDB sends it, which botocore and the fast path parse as they would AWS's."""
        payload = json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra},
            separators=(",", ":"),
        ).encode()
        self._reply(
            status,
            payload,
            [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("x-amzn-ErrorType", code),
                ("x-amzn-RequestId", uuid.uuid4().hex.upper()),
            ],
        )

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        self._upstream = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            self._upstream.request("POST", self.path, body, headers)
            response = self._upstream.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            self._upstream.close()
            self._upstream = None

    def _reply(self, status: int, payload: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _OWN_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amz-crc32", str(zlib.crc32(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _hold(self, seconds: float | None) -> bool:
        """Wait ``seconds`` (None: for ever); False if the proxy closes or the client hangs up first.

        Polls rather than sleeping so a client that timed out frees its thread
        at once, and close() never waits out a delay.
        """
        deadline = None if seconds is None else time.monotonic() + seconds
        while not self.owner._closing.is_set():
            remaining = _POLL_SECONDS if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return True
            try:
                readable, _, _ = select.select([self.connection], [], [], min(remaining, _POLL_SECONDS))
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    return False  # EOF: the client gave up
            except OSError:
                return False
            if readable:  # data, not EOF (a pipelined request): select would not block again
                self.owner._closing.wait(min(remaining, _POLL_SECONDS))
        return False

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _unprocess_half(request_body: bytes, response_body: bytes) -> bytes:
    """Drop the items of the second half of the requested keys and list those keys as unprocessed."""
    request = json.loads(request_body)
    response = json.loads(response_body)
    unprocessed: dict[str, Any] = {}
    for table, spec in request["RequestItems"].items():
        keys = spec["Keys"]
        held = keys[len(keys) // 2 :] or keys
        held_pks = {json.dumps(key["pk"], sort_keys=True) for key in held}
        response["Responses"][table] = [
            item
            for item in response["Responses"].get(table, [])
            if json.dumps(item["pk"], sort_keys=True) not in held_pks
        ]
        unprocessed[table] = {**spec, "Keys": held}
    response["UnprocessedKeys"] = unprocessed
    return json.dumps(response).encode()
