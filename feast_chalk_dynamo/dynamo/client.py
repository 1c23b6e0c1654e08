"""How requests reach DynamoDB: transports, the retry policy, and what counts as retryable.

Knows DynamoDB requests and nothing of Feast. A transport sends one attempt
of one operation and returns the raw response dict; retrying, racing and
batching live above it (``caller.py``), so both transports get the same
behaviour.
"""

from __future__ import annotations

import base64
import contextlib
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
import orjson
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.httpsession import get_cert_path

from feast_chalk_dynamo.settings import DynamoSettings

# Backoff never sleeps longer than this between two attempts, however many
# retries the budget allows: past it, waiting longer only hides an outage.
MAX_DELAY_SECONDS = 20.0

THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
CONNECTION_ERRORS = (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    urllib3.exceptions.HTTPError,
    ConnectionError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter.

    Retry ``n`` (from 0) waits a uniform random time in
    ``[0, min(20 s, scale_ms * 2**n / 1000)]`` seconds. Full jitter spreads
    the retries of many clients that were throttled together.
    """

    max_retries: int
    scale_ms: float

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        uniform = (rng or random).uniform
        for attempt in range(self.max_retries):
            yield uniform(0, min(MAX_DELAY_SECONDS, self.scale_ms * 2**attempt / 1000))

    @classmethod
    def from_settings(cls, settings: DynamoSettings) -> RetryPolicy:
        return cls(max_retries=settings.max_retries, scale_ms=settings.retry_scale_factor)


@dataclass(frozen=True)
class ConflictBackoff:
    """Waits between retries of a transaction that conflicted with another writer.

    Retry ``n`` (from 0) waits ``min_ms * 2**n`` times a uniform factor in
    ``[1, 2)``: never less than the minimum (the other transaction needs that
    long to finish), jittered so two writers that conflicted do not collide
    again on the same beat.
    """

    max_retries: int
    min_ms: float

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        uniform = (rng or random).uniform
        for attempt in range(self.max_retries):
            yield min(MAX_DELAY_SECONDS, self.min_ms * 2**attempt * uniform(1, 2) / 1000)

    @classmethod
    def from_settings(cls, settings: DynamoSettings) -> ConflictBackoff:
        return cls(
            max_retries=settings.transaction_write_conflict_max_retries,
            min_ms=settings.transaction_write_conflict_min_retry_millis,
        )


def error_code(error: BaseException) -> str:
    """What failed, for metrics: DynamoDB's error code, or the class of a connection (or other) error."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "")) or "Unknown"
    return type(error).__name__


def retry_cause(error: BaseException) -> str | None:
    """Why an attempt may be retried ("throttled", "server error", "connection"), or None."""
    if isinstance(error, ClientError):
        code = error_code(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in THROTTLING_CODES:
            return "throttled"
        if status >= 500 or code in ("InternalServerError", "ServiceUnavailable"):
            return "server error"
        return None
    if isinstance(error, CONNECTION_ERRORS):
        return "connection"
    return None


class InFlight:
    """One attempt's connection, so that a racer that lost can be cut off.

    A lost racer left to finish would hold a client thread (and a connection)
    until its slow answer came: with the pool as large as one read's
    sub-batches, the next read would queue behind it. Shutting its socket down
    makes the blocked receive fail at once and frees both.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.aborted = False

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.aborted:
                _shut(sock)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            _shut(self._sock)

    def release(self) -> None:
        """The attempt is over and its connection back in the pool: no longer ours to cut off.

        (Should an abort still land on a pooled connection, urllib3 sees it
        dropped and reconnects; a request already using it fails as a
        connection error and is retried.)
        """
        with self._lock:
            self._sock = None


def _shut(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: nothing left to cut off
            sock.shutdown(socket.SHUT_RDWR)


class Transport(Protocol):
    """Sends one attempt of one DynamoDB operation; raises ClientError or a connection error.

    ``in_flight``, when given, is told the attempt's socket so it can be cut
    off (``InFlight.abort``); a transport that cannot do that ignores it.
    """

    endpoint: str  # the URL it sends to: what an error names

    def send(
        self, operation: str, payload: dict[str, Any], in_flight: InFlight | None = None
    ) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _timeout_seconds(settings: DynamoSettings) -> float | None:
    return settings.request_timeout_ms / 1000 if settings.request_timeout_ms else None


def make_client(settings: DynamoSettings, retries: bool = True) -> Any:
    """A low-level boto3 client; with ``retries=False`` every attempt is left to our policy."""
    timeout = _timeout_seconds(settings)
    attempts = settings.max_retries + 1 if retries else 1
    config = Config(
        region_name=settings.region,
        max_pool_connections=settings.client_connections,
        retries={"total_max_attempts": attempts, "mode": "standard"},
        **({"connect_timeout": timeout, "read_timeout": timeout} if timeout else {}),
    )
    return boto3.session.Session().client("dynamodb", endpoint_url=settings.endpoint_url, config=config)


class Boto3Transport:
    """The reference path: botocore serialises, sends and parses."""

    def __init__(self, settings: DynamoSettings) -> None:
        self.client = make_client(settings, retries=False)
        self.endpoint: str = self.client.meta.endpoint_url
        self._methods = {
            "BatchGetItem": self.client.batch_get_item,
            "UpdateItem": self.client.update_item,
            "TransactWriteItems": self.client.transact_write_items,
            "GetItem": self.client.get_item,
        }

    def send(
        self, operation: str, payload: dict[str, Any], in_flight: InFlight | None = None
    ) -> dict[str, Any]:
        # botocore hides its sockets: a lost racer here runs to its end (this is the reference path).
        response: dict[str, Any] = self._methods[operation](**payload)
        return response

    def close(self) -> None:
        self.client.close()


class RawHttpTransport:
    """The fast path: sign with botocore's SigV4 signer, send over pooled connections, parse with orjson.

    botocore's response parser costs about 14x ``json.loads`` on a 100-item
    BatchGetItem; the DynamoDB wire format is already the attribute-value
    dicts the codec reads (binary payloads arrive as base64 text, which the
    codec accepts), so the raw body needs no translation.
    """

    def __init__(self, settings: DynamoSettings) -> None:
        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise ValueError("no AWS credentials found for DynamoDB (environment, profile or instance role)")
        self._credentials = credentials
        self._region = settings.region
        # Where boto3 would send it: the settings' endpoint, else the one AWS's configuration names
        # (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, a profile's endpoint_url), else the region's
        # public endpoint, so that reads and writes never go to two different places.
        self.endpoint = settings.endpoint_url or str(
            session.client("dynamodb", region_name=settings.region).meta.endpoint_url
        )
        timeout = _timeout_seconds(settings)
        self._pool = urllib3.connection_from_url(
            self.endpoint,
            maxsize=settings.client_connections,
            block=False,  # never queue on a busy pool: an extra short-lived connection is cheaper
            timeout=urllib3.Timeout(connect=timeout, read=timeout) if timeout else urllib3.Timeout(60, 60),
            retries=False,
            **({"ca_certs": get_cert_path(True)} if self.endpoint.startswith("https") else {}),
        )
        self._pool.ConnectionCls = _TrackedHTTPS if self.endpoint.startswith("https") else _TrackedHTTP

    def send(
        self, operation: str, payload: dict[str, Any], in_flight: InFlight | None = None
    ) -> dict[str, Any]:
        _SENDING.in_flight = in_flight
        try:
            return self._send(operation, payload)
        finally:
            _SENDING.in_flight = None
            if in_flight is not None:
                in_flight.release()

    def _send(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = orjson.dumps(payload, default=_base64)
        request = AWSRequest(
            method="POST",
            url=self.endpoint,
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            },
        )
        SigV4Auth(self._credentials.get_frozen_credentials(), "dynamodb", self._region).add_auth(request)
        response = self._pool.urlopen("POST", "/", body=body, headers=dict(request.headers.items()))
        if response.status == 200:
            parsed: dict[str, Any] = orjson.loads(response.data)
            return parsed
        try:
            parsed = orjson.loads(response.data)
        except orjson.JSONDecodeError:  # a proxy or load balancer's own error page
            text = response.data[:200].decode(errors="replace")
            parsed = {"__type": f"HTTP{response.status}", "message": text}
        # The same error botocore would raise, so one retry classifier serves both paths.
        code = str(parsed.get("__type", "UnknownError")).rsplit("#", 1)[-1]
        message = parsed.get("message") or parsed.get("Message") or response.reason or ""
        error: dict[str, Any] = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": response.status},
        }
        if "CancellationReasons" in parsed:  # where botocore puts them too
            error["CancellationReasons"] = parsed["CancellationReasons"]
        raise ClientError(error, operation)

    def close(self) -> None:
        self._pool.close()


def _base64(value: Any) -> str:
    """Binary attributes go on the wire as base64 text, as botocore sends them."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} cannot be sent to DynamoDB")


# The attempt this thread is sending, for the connection classes below.
_SENDING = threading.local()


class _Tracked:
    """Connection mixin: once a request is sent, hand its socket to the attempt's ``InFlight``."""

    sock: socket.socket | None

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)  # type: ignore[misc]
        in_flight: InFlight | None = getattr(_SENDING, "in_flight", None)
        if in_flight is not None:
            in_flight.attach(self.sock)


class _TrackedHTTP(_Tracked, urllib3.connection.HTTPConnection):
    pass


class _TrackedHTTPS(_Tracked, urllib3.connection.HTTPSConnection):
    pass


def make_transport(settings: DynamoSettings) -> Transport:
    if settings.read_path == "boto3":
        return Boto3Transport(settings)
    return RawHttpTransport(settings)
