"""HTTP/1.1 as the simulated DynamoDB speaks it: framing, keep-alive, pipelining, answers in order.

HTTP is parsed by hand on an ``asyncio.Protocol`` (keep-alive, pipelining with answers in order, no
chunked bodies), because a general-purpose server costs more CPU per request than the client it is
meant to measure. Requests are JSON over HTTP as DynamoDB's API has it, unsigned: the signature is
neither checked nor needed. What a request means is the ``Dispatcher``'s business (``server.py``).
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

import orjson

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024 + 64 * 1024  # DynamoDB's 16 MB request, and some slack
# Pipelined requests waiting on one connection before it stops reading (resumes at half).
MAX_PIPELINED = 256

JSON_TYPE = b"application/x-amz-json-1.0"
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


class Dispatcher(Protocol):
    """What answers the requests a connection reads: exactly one ``slot.done`` per request, now or later."""

    def dispatch(self, request: Request, body: bytes, slot: Slot) -> None: ...


def response_head(
    status: int, body: bytes, request_id: bytes, extra: bytes = b"", content_type: bytes = JSON_TYPE
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


class Canned:
    """A constant 200 answer with everything but the request id rendered once, for the hot path."""

    __slots__ = ("_prefix", "_body")

    def __init__(self, body: bytes) -> None:
        self._body = body
        full = response_head(200, body, b"")
        self._prefix = full[: full.rindex(b"x-amzn-RequestId: ") + len(b"x-amzn-RequestId: ")]

    def render(self, request_id: bytes) -> bytes:
        return b"%s%s\r\n\r\n%s" % (self._prefix, request_id, self._body)


class BadRequest(Exception):
    """The bytes are not an HTTP request this server can read; answered with ``status`` and closed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Request:
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


def _parse_head(raw: bytes) -> Request:
    """The request line and the headers routing and framing need (``raw`` has no final blank line).

    Found by searching the lowered head rather than by splitting it into headers: on the hot path
    this is a third of the cost, and nothing else is needed unless the request is forwarded.
    """
    line_end = raw.find(b"\r\n")
    request_line = raw if line_end < 0 else raw[:line_end]
    head = b"" if line_end < 0 else raw[line_end:]
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest(f"malformed request line {request_line[:100]!r}")
    method, path, version = parts
    lowered = head.lower()
    length_text = _header(head, lowered, b"\r\ncontent-length:")
    length = 0
    if length_text is not None:
        if not length_text.isdigit():
            raise BadRequest(f"bad Content-Length {length_text[:40]!r}")
        length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise BadRequest(f"body of {length} bytes is over DynamoDB's 16 MB", 413)
    if b"\r\ntransfer-encoding:" in lowered:
        raise BadRequest("Transfer-Encoding is not supported; send Content-Length", 501)
    target = _header(head, lowered, b"\r\nx-amz-target:") or b""
    connection = _header(lowered, lowered, b"\r\nconnection:") or b""  # lowered: tokens are case-blind
    expect_continue = _header(lowered, lowered, b"\r\nexpect:") == b"100-continue"
    close = b"close" in connection or (version == b"HTTP/1.0" and b"keep-alive" not in connection)
    return Request(method, path, head, target, length, close, expect_continue)


class Slot:
    """One request's place in its connection's answer order; answers go out strictly in order."""

    __slots__ = ("connection", "data", "close")

    def __init__(self, connection: Connection, close: bool) -> None:
        self.connection = connection
        self.data: bytes | None = None
        self.close = close

    def done(self, data: bytes) -> None:
        self.data = data
        self.connection.flush()


class Connection(asyncio.Protocol):
    """One client connection: HTTP/1.1 keep-alive, pipelined requests handled at once, answered in order.

    A Protocol rather than asyncio streams: no coroutine or task per request, only callbacks,
    which is what keeps the server far below the client in CPU.
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._request: Request | None = None  # head read, body not yet complete
        self._pending: deque[Slot] = deque()
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
                        self._fail(BadRequest("request head over 64 KB", 431))
                    return
                try:
                    request = _parse_head(bytes(buffer[:end]))
                except BadRequest as error:
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
            slot = Slot(self, request.close)
            self._pending.append(slot)
            if request.close:
                self._stopped = True
            if len(self._pending) >= MAX_PIPELINED and self._transport is not None:
                self._paused = True
                self._transport.pause_reading()
            self._dispatcher.dispatch(request, body, slot)

    def _fail(self, error: BadRequest) -> None:
        """Answer a request that cannot be read (after those before it) and close: framing is lost."""
        self._stopped = True
        body = error_body("SerializationException", str(error))
        slot = Slot(self, close=True)
        self._pending.append(slot)
        slot.done(response_head(error.status, body, b"bad-request", b"Connection: close\r\n") + body)

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


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"__type": _ERROR_PREFIX + code, "message": message})
