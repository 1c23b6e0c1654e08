"""A SIMULATED DynamoDB endpoint for write benchmarks: data writes answered here, after a fixed delay.

Why: a write benchmark against dynalite or moto measures them, not the client: they answer in
their own time, on one thread, with neither DynamoDB's latency nor its concurrency. Real DynamoDB
answers a write in some 5-10 ms from EC2 in the same region and serves any number at once. So this
server stands in for DynamoDB's write path: each data write is answered after ``delay_ms`` (8 ms by
default), every request waiting concurrently with all others, without limit. What a client then
achieves is bounded by its own work and concurrency, as it would be against the real service.

It is a simulation, and says so (this docstring, the banner it prints at start):

* Answered here, after the delay: ``UpdateItem``, ``TransactWriteItems`` and ``BatchWriteItem``,
  unless a key in the request has partition key ``pk`` = ``"~meta"``. Nothing is stored except each
  item's attribute sizes, and nothing can be read back (a GetItem goes to the backend, which never
  saw the write). Errors in such a request are answered after the delay too. **Conditions are
  not evaluated**: ``ConditionExpression`` and ``ConditionCheck`` always succeed. ``ReturnValues``
  is ignored (the answer is ``{}``; ``BatchWriteItem`` answers no ``UnprocessedItems``).
  ``ReturnConsumedCapacity`` is answered with the units counted below. No limit of DynamoDB's is
  checked (item size, 25 a batch, expression syntax beyond what counting needs): the strict proxy
  of the tests sees only forwarded requests. Update expressions other than SET of a value or of
  ``if_not_exists``, REMOVE and ADD on top-level attributes get a
  ``SimulatorUnsupportedException``: loud, rather than counted wrong.
* Forwarded, unchanged and without delay, to a real backend (dynalite or moto, by URL): every
  other operation (CreateTable, DescribeTable, GetItem, Query, BatchGetItem, ...) and every write
  of the store's name registry (partition ``~meta``), so that tables and the registry's conditional
  writes keep their real semantics. The backend's status and body come back as they are.
* Counted by DynamoDB's rules: per item (table and key), the size of each attribute (UTF-8 name
  plus value, ``tests.dynamodb_limits``), so that an update is billed on the larger of the item's
  size before and after: ``max(1, ceil(size / 1 KB))`` write units, twice that in a transaction.

The key attributes of a table come from its ``KeySchema``: remembered from forwarded CreateTable
and DescribeTable answers, else asked once with a DescribeTable. A write to a table the backend
does not know is forwarded whole, so the backend answers ResourceNotFoundException.

Run it in its own process (``SimulatedDynamo`` does), so its CPU is not charged to the client:
``python -m benchmarks.simulated_dynamodb --backend URL --delay-ms 8 --port 0`` binds 127.0.0.1 only
and prints ``listening http://127.0.0.1:PORT`` once ready. ``SimulatedDynamo.stats``, ``reset`` and
``set_delay`` reach it through private ``X-Amz-Target: Simulator.*`` requests.

HTTP is parsed by hand on an ``asyncio.Protocol`` (keep-alive, pipelining with answers in order, no
chunked bodies), because a general-purpose server costs more CPU per request than the client it is
meant to measure. One process answers some 20,000 UpdateItems a second or more on one core; in a
BatchWriteItem, each item costs about 10 us.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import http.client
import itertools
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from tests.dynamodb_limits import attribute_size

__all__ = ["DEFAULT_DELAY_MS", "SimStats", "SimulatedDynamo"]

DEFAULT_DELAY_MS = 8.0  # a DynamoDB write from EC2 in the same region
HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent

# feast_chalk_dynamo.items.layout.META_PK, copied: importing the package would import Feast into the server.
META_PK: Final = "~meta"
META_KEY_ATTR: Final = "pk"

WRITE_UNIT_BYTES = 1024
TRANSACTION_FACTOR = 2  # a transactional write costs two units per KB: prepare and commit

DYNAMODB_TARGET = b"DynamoDB_20120810."
CONTROL_TARGET = b"Simulator."
LOCAL_OPERATIONS = frozenset({"UpdateItem", "TransactWriteItems", "BatchWriteItem"})

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024 + 64 * 1024  # DynamoDB's 16 MB request, and some slack
# Pipelined requests waiting on one connection before it stops reading (resumes at half).
MAX_PIPELINED = 256
FORWARD_THREADS = 8
BACKEND_TIMEOUT_SECONDS = 30.0
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0

_JSON_TYPE = b"application/x-amz-json-1.0"
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_BANNER = (
    "SIMULATED DynamoDB, not AWS: UpdateItem, TransactWriteItems and BatchWriteItem of data items are "
    "answered here after {delay_ms:g} ms, conditions NOT evaluated, nothing stored but sizes; "
    "everything else (and pk '~meta') is forwarded to {backend}"
)

# -- wire ----------------------------------------------------------------------------------------


def _head(
    status: int, body: bytes, request_id: bytes, extra: bytes = b"", content_type: bytes = _JSON_TYPE
) -> bytes:
    """A response's status line and headers; botocore checks ``x-amz-crc32`` against the body."""
    try:
        reason = HTTPStatus(status).phrase.encode()
    except ValueError:
        reason = b"Unknown"
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nx-amz-crc32: %d\r\n%s"
        % (
            status,
            reason,
            content_type,
            len(body),
            zlib.crc32(body),
            extra,
        )
        + b"x-amzn-RequestId: %s\r\n\r\n" % request_id
    )


class _Canned:
    """A constant 200 answer with everything but the request id rendered once, for the hot path."""

    __slots__ = ("_prefix", "_body")

    def __init__(self, body: bytes) -> None:
        self._body = body
        full = _head(200, body, b"")
        self._prefix = full[: full.rindex(b"x-amzn-RequestId: ") + len(b"x-amzn-RequestId: ")]

    def render(self, request_id: bytes) -> bytes:
        return b"%s%s\r\n\r\n%s" % (self._prefix, request_id, self._body)


_EMPTY_ANSWER = _Canned(b"{}")
_BATCH_ANSWER = _Canned(b'{"UnprocessedItems":{}}')


class _BadRequest(Exception):
    """The bytes are not an HTTP request this server can read; answered with ``status`` and closed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class _Request:
    method: bytes
    path: bytes
    head: bytes  # the header lines, read in full only if the request is forwarded
    target: bytes
    length: int
    close: bool  # answer, then close the connection (Connection: close, or HTTP/1.0)
    expect_continue: bool

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """Every header, as sent; only forwarding needs them all."""
        headers = []
        for line in self.head.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if colon:
                headers.append((name.strip(), value.strip()))
        return headers


def _header(head: bytes, lowered: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (lower case, with its leading CRLF and colon), if present."""
    start = lowered.find(name)
    if start < 0:
        return None
    start += len(name)
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].strip()


def _parse_head(raw: bytes) -> _Request:
    """The request line and the headers routing and framing need (``raw`` has no final blank line).

    Found by searching the lowered head rather than by splitting it into headers: on the hot path
    this is a third of the cost, and nothing else is needed unless the request is forwarded.
    """
    line_end = raw.find(b"\r\n")
    request_line = raw if line_end < 0 else raw[:line_end]
    head = b"" if line_end < 0 else raw[line_end:]
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise _BadRequest(f"malformed request line {request_line[:100]!r}")
    method, path, version = parts
    lowered = head.lower()
    length_text = _header(head, lowered, b"\r\ncontent-length:")
    length = 0
    if length_text is not None:
        if not length_text.isdigit():
            raise _BadRequest(f"bad Content-Length {length_text[:40]!r}")
        length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise _BadRequest(f"body of {length} bytes is over DynamoDB's 16 MB", 413)
    if b"\r\ntransfer-encoding:" in lowered:
        raise _BadRequest("Transfer-Encoding is not supported; send Content-Length", 501)
    target = _header(head, lowered, b"\r\nx-amz-target:") or b""
    connection = _header(lowered, lowered, b"\r\nconnection:") or b""  # lowered: tokens are case-blind
    expect_continue = _header(lowered, lowered, b"\r\nexpect:") == b"100-continue"
    close = b"close" in connection or (version == b"HTTP/1.0" and b"keep-alive" not in connection)
    return _Request(method, path, head, target, length, close, expect_continue)


class _Slot:
    """One request's place in its connection's answer order; answers go out strictly in order."""

    __slots__ = ("connection", "data", "close")

    def __init__(self, connection: _Connection, close: bool) -> None:
        self.connection = connection
        self.data: bytes | None = None
        self.close = close

    def done(self, data: bytes) -> None:
        self.data = data
        self.connection.flush()


class _Connection(asyncio.Protocol):
    """One client connection: HTTP/1.1 keep-alive, pipelined requests handled at once, answered in order.

    A Protocol rather than asyncio streams: no coroutine or task per request, only callbacks,
    which is what keeps the server far below the client in CPU.
    """

    def __init__(self, simulator: _Simulator) -> None:
        self._simulator = simulator
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._request: _Request | None = None  # head read, body not yet complete
        self._pending: deque[_Slot] = deque()
        self._paused = False
        self._stopped = False  # no more requests are read: the last one asked to close, or was bad

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._pending.clear()  # answers still to come are dropped by flush

    def data_received(self, data: bytes) -> None:
        if self._stopped:
            return
        self._buffer += data
        self._parse()

    def _parse(self) -> None:
        buffer = self._buffer
        while not self._stopped and not self._paused:
            request = self._request
            if request is None:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEAD_BYTES:
                        self._fail(_BadRequest("request head over 64 KB", 431))
                    return
                try:
                    request = _parse_head(bytes(buffer[:end]))
                except _BadRequest as error:
                    self._fail(error)
                    return
                del buffer[: end + 4]
                self._request = request
                if request.expect_continue and len(buffer) < request.length and not self._pending:
                    assert self._transport is not None
                    self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if len(buffer) < request.length:
                return
            body = bytes(buffer[: request.length])
            del buffer[: request.length]
            self._request = None
            slot = _Slot(self, request.close)
            self._pending.append(slot)
            if request.close:
                self._stopped = True
            if len(self._pending) >= MAX_PIPELINED and self._transport is not None:
                self._paused = True
                self._transport.pause_reading()
            self._simulator.dispatch(request, body, slot)

    def _fail(self, error: _BadRequest) -> None:
        """Answer a request that cannot be read (after those before it) and close: framing is lost."""
        self._stopped = True
        body = _error_body("SerializationException", str(error))
        slot = _Slot(self, close=True)
        self._pending.append(slot)
        slot.done(_head(error.status, body, b"bad-request", b"Connection: close\r\n") + body)

    def flush(self) -> None:
        """Write every answer that is ready and has no unanswered request before it."""
        transport = self._transport
        if transport is None:
            return
        pending = self._pending
        while pending and pending[0].data is not None:
            slot = pending.popleft()
            assert slot.data is not None
            transport.write(slot.data)
            if slot.close:
                transport.close()
                self._transport = None
                return
        if self._paused and len(pending) <= MAX_PIPELINED // 2:
            self._paused = False
            transport.resume_reading()
            self._parse()


def _error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"__type": _ERROR_PREFIX + code, "message": message})


# -- UpdateExpression ----------------------------------------------------------------------------

_SET, _SET_IF_ABSENT, _REMOVE = 0, 1, 2
_Action = tuple[int, str, str]  # (kind, path: "#name" or a literal name, operand ":value" or "")
_TOKEN = re.compile(r"\s*(?:(#[A-Za-z0-9_]+|:[A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[=,()\[\].+-]))")
_CLAUSES = frozenset({"SET", "REMOVE", "ADD", "DELETE"})
_PARSE_CACHE_SIZE = 10_000


class _Rejected(Exception):
    """A request answered with a DynamoDB-style 400 error, ``code`` being the ``__type`` suffix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _unsupported(message: str) -> _Rejected:
    """Loud rather than approximate: a benchmark should not count what the simulator cannot model."""
    return _Rejected("SimulatorUnsupportedException", f"the DynamoDB simulator does not model {message}")


def _tokens(expression: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    end = len(expression.rstrip())
    while position < end:
        match = _TOKEN.match(expression, position)
        if match is None:
            raise _Rejected("ValidationException", f"Invalid UpdateExpression: Syntax error near {position}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def parse_update_expression(expression: str) -> tuple[_Action, ...]:
    """``SET #a = :x, b = :y REMOVE #c ADD #n :v`` as actions on top-level attributes, in order.

    ``SET p = if_not_exists(p, :v)`` sets only if absent; ``ADD p :v`` counts as a SET of ``:v``
    (right for a new attribute, about right for a number). Nested paths, arithmetic, other functions
    and DELETE raise ``SimulatorUnsupportedException``: the stores under test use none of them on
    data items.
    """
    clause: str | None = None
    actions: list[_Action] = []
    current: list[str] = []
    depth = 0

    def finish() -> None:
        if not current:
            raise _Rejected("ValidationException", "Invalid UpdateExpression: Syntax error; empty action")
        actions.append(_action(clause, current, expression))
        current.clear()

    for token in _tokens(expression):
        if depth == 0 and token.upper() in _CLAUSES:
            if clause is not None:
                finish()
            clause = token.upper()
        elif depth == 0 and token == ",":
            finish()
        else:
            depth += (token == "(") - (token == ")")
            current.append(token)
    if clause is None:
        raise _Rejected("ValidationException", "Invalid UpdateExpression: no SET, REMOVE, ADD or DELETE")
    finish()
    return tuple(actions)


def _is_path(token: str) -> bool:
    return token[0] == "#" or token[0].isalpha() or token[0] == "_"


def _action(clause: str | None, tokens: Sequence[str], expression: str) -> _Action:
    path = tokens[0]
    if not _is_path(path) or (len(tokens) > 1 and tokens[1] in (".", "[")):
        raise _unsupported(f"nested or odd paths ({expression!r})")
    if clause == "REMOVE" and len(tokens) == 1:
        return (_REMOVE, path, "")
    if clause == "ADD" and len(tokens) == 2 and tokens[1][0] == ":":
        return (_SET, path, tokens[1])
    if clause == "SET" and len(tokens) >= 3 and tokens[1] == "=":
        operand = tokens[2:]
        if len(operand) == 1 and operand[0][0] == ":":
            return (_SET, path, operand[0])
        if (
            len(operand) == 6
            and operand[0].lower() == "if_not_exists"
            and operand[1] == "("
            and operand[2] == path
            and operand[3] == ","
            and operand[4][0] == ":"
            and operand[5] == ")"
        ):
            return (_SET_IF_ABSENT, path, operand[4])
    raise _unsupported(f"this {clause} action: {' '.join(tokens)!r} in {expression!r}")


# -- the simulator -------------------------------------------------------------------------------

_Identity = tuple[str, ...]  # (table, key values in KeySchema order)
_Sizes = dict[str, int]  # attribute name -> bytes (UTF-8 name plus value)
# (kind, table, identity, payload, factor): kind "update" (payload: key, [(name, size or None for
# a removal, only if absent)]), "put" (payload: the new sizes), "delete" or "check" (payload: None).
_Mutation = tuple[str, str, _Identity, Any, int]


def _value_size(value: Mapping[str, Any]) -> int:
    """``dynamodb_limits.attribute_size``, with shortcuts for the common types.

    That function parses every N with ``Decimal`` and decodes every B: 2.5 us for a timestamp
    against 0.7 us here, 13 us against 7 for a map of ten numbers, on the hot path of every write.
    Plain decimal numbers (no exponent), padded base64 (what botocore sends), and maps and lists
    of them are sized here from their text by the same rules; anything else goes to it. The tests
    check that both agree.
    """
    if len(value) == 1:
        for tag, payload in value.items():
            if tag == "S":
                return len(payload) if payload.isascii() else len(payload.encode())
            if tag == "N":
                size = _plain_number_size(payload)
                if size is not None:
                    return size
            elif tag == "B" and len(payload) % 4 == 0 and payload.isascii():
                return len(payload) // 4 * 3 - (payload[-2:].count("=") if payload else 0)
            elif tag == "M":
                return 3 + sum(1 + len(name.encode()) + _value_size(item) for name, item in payload.items())
            elif tag == "L":
                return 3 + sum(1 + _value_size(item) for item in payload)
    return attribute_size(value)


def _plain_number_size(text: str) -> int | None:
    """Bytes of an N written as ``[-]digits[.digits]`` (None otherwise), as ``_number_size`` counts them.

    DynamoDB stores a number in base 100: an exponent byte, a byte per digit pair from the leading
    to the last significant digit, a byte more if negative; zero is one byte.
    """
    negative = text[:1] == "-"
    whole, _, fraction = (text[1:] if negative else text).partition(".")
    digits = whole + fraction
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    significant = digits.lstrip("0")
    if not significant:
        return 1
    first = len(significant) - 1 - len(fraction)  # power of ten of the leading digit
    last = first - len(significant.rstrip("0")) + 1  # and of the last significant one
    return 1 + (first // 2 - last // 2 + 1) + negative


def _attribute_sizes(item: Mapping[str, Any]) -> _Sizes:
    return {name: len(name.encode()) + _value_size(value) for name, value in item.items()}


def _units(size: int) -> int:
    return max(1, -(-size // WRITE_UNIT_BYTES))


def _is_meta(key: Mapping[str, Any]) -> bool:
    value = key.get(META_KEY_ATTR)
    return isinstance(value, dict) and value.get("S") == META_PK


def _key_schema(description: Mapping[str, Any]) -> tuple[str, ...]:
    """Key attribute names of a TableDescription, partition key first."""
    schema = description["KeySchema"]
    return tuple(entry["AttributeName"] for entry in sorted(schema, key=lambda e: e["KeyType"] != "HASH"))


class _Backend:
    """The real server behind the simulator, reached from a few threads with one connection each."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"backend must be an http:// URL, not {url!r}")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or 80
        self._local = threading.local()

    def call(
        self, method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request; once more on a fresh connection if a kept-alive one had been closed."""
        for attempt in (1, 2):
            connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
            reused = connection is not None
            if connection is None:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=BACKEND_TIMEOUT_SECONDS
                )
                self._local.connection = connection
            try:
                connection.putrequest(method, path, skip_accept_encoding=True)
                for name, value in headers:
                    connection.putheader(name, value)
                connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
                response = connection.getresponse()
                payload = response.read()
                if response.will_close:
                    connection.close()
                    self._local.connection = None
                return response.status, response.getheaders(), payload
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                self._local.connection = None
                if not reused or attempt == 2:
                    raise
            except BaseException:
                connection.close()
                self._local.connection = None
                raise
        raise AssertionError("unreachable")


# Not passed on to the backend: per-connection, or set again by _Backend.call.
_HOP_HEADERS = frozenset({b"host", b"connection", b"keep-alive", b"content-length", b"expect", b"te"})


def _forward_headers(request: _Request, target: bytes | None = None) -> list[tuple[str, str]]:
    headers = []
    for name, value in request.headers:
        lower = name.lower()
        if lower in _HOP_HEADERS:
            continue
        if target is not None and lower == b"x-amz-target":
            value = target
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    return headers


class _Simulator:
    """Routing, counting and item sizes. Runs on the event loop's thread only, so needs no locks."""

    def __init__(self, backend_url: str, delay_ms: float, forward_threads: int = FORWARD_THREADS) -> None:
        self._loop = asyncio.get_running_loop()
        self._backend = _Backend(backend_url)
        self._pool = ThreadPoolExecutor(forward_threads, thread_name_prefix="forward")
        self.delay = delay_ms / 1000
        self._schemas: dict[str, tuple[str, ...]] = {}
        self._lookups: dict[str, asyncio.Future[tuple[str, ...] | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._parsed: dict[str, tuple[_Action, ...]] = {}
        self._ids = itertools.count(1)
        self._reset()

    def _reset(self) -> None:
        self._items: dict[_Identity, _Sizes] = {}
        self._requests: Counter[str] = Counter()
        self._forwarded: Counter[str] = Counter()
        self._actions = 0
        self._write_units = 0
        self._bytes_stored = 0

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _request_id(self) -> bytes:
        return b"SIM%029d" % next(self._ids)

    # routing

    def dispatch(self, request: _Request, body: bytes, slot: _Slot) -> None:
        """Answer here (after the delay) or forward; always ends in exactly one ``slot.done``."""
        target = request.target
        if target.startswith(CONTROL_TARGET):
            slot.done(self._control(target[len(CONTROL_TARGET) :].decode("latin-1"), body))
            return
        operation = (
            target[len(DYNAMODB_TARGET) :].decode("latin-1")
            if target.startswith(DYNAMODB_TARGET)
            else target.decode("latin-1") or "(no X-Amz-Target)"
        )
        if operation not in LOCAL_OPERATIONS:
            self._forward(request, body, slot, operation)
            return
        try:
            payload = orjson.loads(body)
            tables = self._tables(operation, payload)
            meta = self._touches_meta(operation, payload)
        except (orjson.JSONDecodeError, TypeError, AttributeError, KeyError, ValueError) as error:
            self._answer(slot, operation, self._error(400, "SerializationException", f"unreadable: {error}"))
            return
        if meta:
            self._forward(request, body, slot, operation)
            return
        missing = [table for table in tables if table not in self._schemas]
        if missing:
            task = self._loop.create_task(
                self._after_lookup(request, body, slot, operation, payload, missing)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._answer(slot, operation, self._write(operation, payload))

    def _answer(self, slot: _Slot, operation: str, response: bytes) -> None:
        self._requests[operation] += 1
        delay = self.delay
        if delay > 0:
            self._loop.call_later(delay, slot.done, response)
        else:
            slot.done(response)

    @staticmethod
    def _tables(operation: str, payload: Mapping[str, Any]) -> list[str]:
        if operation == "UpdateItem":
            return [payload["TableName"]]
        if operation == "BatchWriteItem":
            return list(payload["RequestItems"])
        tables = []
        for entry in payload["TransactItems"]:
            for action in entry.values():
                if action["TableName"] not in tables:
                    tables.append(action["TableName"])
        return tables

    @staticmethod
    def _touches_meta(operation: str, payload: Mapping[str, Any]) -> bool:
        if operation == "UpdateItem":
            return _is_meta(payload["Key"])
        if operation == "BatchWriteItem":
            return any(
                _is_meta(
                    request["PutRequest"]["Item"]
                    if "PutRequest" in request
                    else request["DeleteRequest"]["Key"]
                )
                for requests in payload["RequestItems"].values()
                for request in requests
            )
        return any(
            _is_meta(action["Item"] if "Item" in action else action["Key"])
            for entry in payload["TransactItems"]
            for action in entry.values()
        )

    async def _after_lookup(
        self,
        request: _Request,
        body: bytes,
        slot: _Slot,
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
                self._schemas[table] = keys
            self._answer(slot, operation, self._write(operation, payload))
        except Exception as error:  # the slot must be answered, or the connection hangs
            slot.done(self._error(502, "SimulatorBackendError", f"key schema lookup failed: {error!r}"))

    def _describe(self, request: _Request, table: str) -> tuple[str, ...] | None:
        """In a forwarding thread: the table's key attributes, or None if the backend lacks it."""
        headers = _forward_headers(request, target=DYNAMODB_TARGET + b"DescribeTable")
        status, _, answer = self._backend.call("POST", "/", headers, orjson.dumps({"TableName": table}))
        if status != 200:
            return None
        return _key_schema(orjson.loads(answer)["Table"])

    def _forward(self, request: _Request, body: bytes, slot: _Slot, operation: str) -> None:
        self._forwarded[operation] += 1
        future = self._pool.submit(
            self._backend.call,
            request.method.decode("latin-1"),
            request.path.decode("latin-1"),
            _forward_headers(request),
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
        slot: _Slot,
    ) -> None:
        try:
            status, headers, answer = done.result()
        except Exception as error:
            slot.done(self._error(502, "SimulatorBackendError", f"backend {self._backend.url}: {error!r}"))
            return
        extra = b""
        request_id = None
        content_type = _JSON_TYPE
        for name, value in headers:
            lower = name.lower()
            if lower == "x-amzn-requestid":
                request_id = value.encode("latin-1")
            elif lower == "x-amzn-errortype":
                extra += b"x-amzn-ErrorType: %s\r\n" % value.encode("latin-1")
            elif lower == "content-type":
                content_type = value.encode("latin-1")
        if status == 200:
            self._observe(operation, request_body, answer)
        slot.done(_head(status, answer, request_id or self._request_id(), extra, content_type) + answer)

    def _observe(self, operation: str, request_body: bytes, answer: bytes) -> None:
        """Keep key schemas current from what passes by: created, described and deleted tables."""
        try:
            if operation in ("CreateTable", "DescribeTable"):
                description = orjson.loads(answer)[
                    "TableDescription" if operation == "CreateTable" else "Table"
                ]
                self._schemas[description["TableName"]] = _key_schema(description)
            elif operation == "DeleteTable":
                table = orjson.loads(request_body)["TableName"]
                self._schemas.pop(table, None)
                for identity in [identity for identity in self._items if identity[0] == table]:
                    self._bytes_stored -= sum(self._items.pop(identity).values())
        except (orjson.JSONDecodeError, KeyError, TypeError):
            pass  # an answer without a description: nothing to learn

    def _error(self, status: int, code: str, message: str) -> bytes:
        body = _error_body(code, message)
        return _head(status, body, self._request_id(), b"x-amzn-ErrorType: %s\r\n" % code.encode()) + body

    # local writes

    def _write(self, operation: str, payload: Mapping[str, Any]) -> bytes:
        """Count one write request and render its answer (or its error, with nothing applied)."""
        try:
            if operation == "UpdateItem":
                table = payload["TableName"]
                mutations = [self._plan_update(payload, table, 1)]
            elif operation == "BatchWriteItem":
                mutations = self._plan_batch(payload)
            else:
                mutations = self._plan_transaction(payload)
        except _Rejected as rejected:
            return self._error(400, rejected.code, str(rejected))
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as error:
            return self._error(400, "ValidationException", f"simulator could not read the request: {error!r}")
        wants_capacity = payload.get("ReturnConsumedCapacity", "NONE") != "NONE"
        capacity = self._apply(mutations, wants_capacity)
        if not wants_capacity:
            answer = _BATCH_ANSWER if operation == "BatchWriteItem" else _EMPTY_ANSWER
            return answer.render(self._request_id())
        consumed = [
            {"TableName": table, "CapacityUnits": float(units), "WriteCapacityUnits": float(units)}
            for table, units in capacity.items()
        ]
        document: dict[str, Any] = {
            "ConsumedCapacity": consumed[0] if operation == "UpdateItem" else consumed
        }
        if operation == "BatchWriteItem":
            document["UnprocessedItems"] = {}
        body = orjson.dumps(document)
        return _head(200, body, self._request_id()) + body

    def _identity(self, table: str, item: Mapping[str, Any], whole_key: bool) -> _Identity:
        keys = self._schemas[table]
        if whole_key and len(item) != len(keys):
            raise _Rejected("ValidationException", "The provided key element does not match the schema")
        try:
            return (table, *[next(iter(item[name].values())) for name in keys])
        except KeyError:
            raise _Rejected(
                "ValidationException", "The provided key element does not match the schema"
            ) from None

    def _parse(self, expression: str) -> tuple[_Action, ...]:
        actions = self._parsed.get(expression)
        if actions is None:
            actions = parse_update_expression(expression)
            if len(self._parsed) >= _PARSE_CACHE_SIZE:
                self._parsed.clear()
            self._parsed[expression] = actions
        return actions

    def _plan_update(self, action: Mapping[str, Any], table: str, factor: int) -> _Mutation:
        key = action["Key"]
        identity = self._identity(table, key, whole_key=True)
        expression = action.get("UpdateExpression")
        if expression is None and action.get("AttributeUpdates"):
            raise _unsupported("AttributeUpdates (the legacy parameter); use UpdateExpression")
        names: Mapping[str, str] = action.get("ExpressionAttributeNames") or {}
        values: Mapping[str, Any] = action.get("ExpressionAttributeValues") or {}
        changes = []
        for kind, path, operand in self._parse(expression) if expression else ():
            try:
                name = names[path] if path[0] == "#" else path
                value = values[operand] if kind != _REMOVE else None
            except KeyError as missing:
                raise _Rejected(
                    "ValidationException",
                    f"Invalid UpdateExpression: An expression attribute name or value used in expression "
                    f"is not defined; attribute: {missing.args[0]}",
                ) from None
            size = None if value is None else len(name.encode()) + _value_size(value)
            changes.append((name, size, kind == _SET_IF_ABSENT))
        return ("update", table, identity, (key, changes), factor)

    def _plan_batch(self, payload: Mapping[str, Any]) -> list[_Mutation]:
        mutations: list[_Mutation] = []
        for table, requests in payload["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    identity = self._identity(table, item, whole_key=False)
                    mutations.append(("put", table, identity, _attribute_sizes(item), 1))
                else:
                    identity = self._identity(table, request["DeleteRequest"]["Key"], whole_key=True)
                    mutations.append(("delete", table, identity, None, 1))
        return mutations

    def _plan_transaction(self, payload: Mapping[str, Any]) -> list[_Mutation]:
        mutations: list[_Mutation] = []
        for entry in payload["TransactItems"]:
            ((kind, action),) = entry.items()
            table = action["TableName"]
            if kind == "Update":
                mutations.append(self._plan_update(action, table, TRANSACTION_FACTOR))
            elif kind == "Put":
                identity = self._identity(table, action["Item"], whole_key=False)
                mutations.append(
                    ("put", table, identity, _attribute_sizes(action["Item"]), TRANSACTION_FACTOR)
                )
            elif kind in ("Delete", "ConditionCheck"):
                identity = self._identity(table, action["Key"], whole_key=True)
                mutation = "delete" if kind == "Delete" else "check"
                mutations.append((mutation, table, identity, None, TRANSACTION_FACTOR))
            else:
                raise _Rejected("ValidationException", f"unknown transaction action {kind!r}")
        return mutations

    def _apply(self, mutations: Sequence[_Mutation], by_table: bool) -> dict[str, int]:
        """Apply planned writes in order, counting units on the larger of each item's old and new size."""
        items = self._items
        capacity: dict[str, int] = {}
        for kind, table, identity, change, factor in mutations:
            old = items.get(identity)
            before = sum(old.values()) if old is not None else 0
            if kind == "update":
                key, changes = change
                sizes = old if old is not None else _attribute_sizes(key)
                for name, size, only_if_absent in changes:
                    if size is None:
                        sizes.pop(name, None)
                    elif not only_if_absent or name not in sizes:
                        sizes[name] = size
                items[identity] = sizes
                after = sum(sizes.values())
            elif kind == "put":
                items[identity] = change
                after = sum(change.values())
            elif kind == "delete":
                items.pop(identity, None)
                after = 0
            else:  # a condition check reads the item and writes nothing
                after = before
            units = factor * _units(max(before, after))
            self._write_units += units
            self._bytes_stored += after - before
            if kind != "check":
                self._actions += 1
            if by_table:
                capacity[table] = capacity.get(table, 0) + units
        return capacity

    # control

    def _control(self, name: str, body: bytes) -> bytes:
        """The simulator's own operations, answered at once: never delayed, never counted."""
        if name == "Stats":
            document: dict[str, Any] = {
                "requests": dict(self._requests),
                "forwarded": dict(self._forwarded),
                "actions": self._actions,
                "items": len(self._items),
                "write_units": self._write_units,
                "bytes_stored": self._bytes_stored,
                "delay_ms": self.delay * 1000,
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
        else:
            return self._error(400, "UnknownOperationException", f"no simulator operation {name!r}")
        answer = orjson.dumps(document)
        return _head(200, answer, self._request_id()) + answer


async def serve(backend_url: str, delay_ms: float, port: int, exit_on_stdin_eof: bool) -> None:
    """Serve until SIGTERM or SIGINT (or the parent's end of stdin closes, if asked)."""
    loop = asyncio.get_running_loop()
    simulator = _Simulator(backend_url, delay_ms)
    server = await loop.create_server(lambda: _Connection(simulator), HOST, port, backlog=1024)
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
    print(_BANNER.format(delay_ms=delay_ms, backend=backend_url), flush=True)
    print(f"listening http://{HOST}:{bound}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        simulator.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.simulated_dynamodb",
        description="A SIMULATED DynamoDB endpoint for write benchmarks (see the module docstring).",
    )
    parser.add_argument("--backend", required=True, help="real DynamoDB-compatible server for the rest")
    parser.add_argument("--delay-ms", type=float, default=DEFAULT_DELAY_MS, help="delay of local answers")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true", help="stop when stdin closes (the parent died)"
    )
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must not be negative")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.backend, args.delay_ms, args.port, args.exit_on_stdin_eof))


# -- the client side: a subprocess and its controls ----------------------------------------------


@dataclass(frozen=True)
class SimStats:
    """Counters since start or the last ``reset``.

    ``requests``: answered here, by operation; ``forwarded``: sent to the backend, by operation
    (key-schema lookups as "DescribeTable (key lookup)"). ``actions``: item writes applied (updates,
    puts, deletes; not condition checks). ``items``: distinct items now held. ``write_units``: WCU
    by DynamoDB's rules. ``bytes_stored``: the items' current total size.
    """

    requests: dict[str, int]
    forwarded: dict[str, int]
    actions: int
    items: int
    write_units: int
    bytes_stored: int


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

    def __init__(self, backend_url: str, delay_ms: float = DEFAULT_DELAY_MS) -> None:
        self.backend_url = backend_url
        self.delay_ms = delay_ms
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
        )

    def reset(self) -> None:
        """Zero the counters and forget the items' sizes; tables stay on the backend."""
        self._control("Reset", {})

    def set_delay(self, delay_ms: float) -> None:
        self._control("SetDelay", {"delay_ms": delay_ms})
        self.delay_ms = delay_ms

    def _control(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=10)
        try:
            connection.request(
                "POST",
                "/",
                orjson.dumps(payload),
                {"X-Amz-Target": f"Simulator.{operation}", "Content-Type": _JSON_TYPE.decode()},
            )
            response = connection.getresponse()
            answer = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"simulator {operation} answered {response.status}: {answer[:300]!r}")
        document: dict[str, Any] = orjson.loads(answer)
        return document


if __name__ == "__main__":
    main()
