"""The real DynamoDB-compatible server behind the simulator, for everything it does not answer itself."""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from benchmarks.simulated_dynamodb.wire import JSON_TYPE, Request

BACKEND_TIMEOUT_SECONDS = 30.0
TARGET_PREFIX = "DynamoDB_20120810."


class BackendError(Exception):
    """The backend refused one of the simulator's own requests."""


class Backend:
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

    def signed_call(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """One request of the simulator's own (a snapshot's scan); ``BackendError`` unless answered 200."""
        status, answer = self.signed(operation, payload)
        if status != 200:
            raise BackendError(f"{operation} answered {status}: {answer!r:.300}")
        return answer

    def signed(self, operation: str, payload: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """A DynamoDB request signed as a client signs it: the status and the JSON body answered.

        With the credentials botocore finds in this process's environment (the benchmark's and the
        tests' dummy ones): the emulators behind the simulator check a signature's form, not its key.
        """
        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise BackendError("no AWS credentials in the environment to sign with (dummy ones are enough)")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        body = orjson.dumps(payload)
        request = AWSRequest(
            method="POST",
            url=self.url.rstrip("/") + "/",
            data=body,
            headers={"Content-Type": JSON_TYPE.decode(), "X-Amz-Target": TARGET_PREFIX + operation},
        )
        SigV4Auth(credentials, "dynamodb", region).add_auth(request)
        status, _, answer = self.call("POST", "/", list(request.headers.items()), body)
        document: dict[str, Any] = orjson.loads(answer)
        return status, document

    def close(self) -> None:
        """Close the calling thread's connection (each thread has its own), if it has one."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


# Not passed on to the backend: per-connection, or set again by Backend.call.
_HOP_HEADERS = frozenset({b"host", b"connection", b"keep-alive", b"content-length", b"expect", b"te"})


def forward_headers(request: Request, target: bytes | None = None) -> list[tuple[str, str]]:
    headers = []
    for name, value in request.headers:
        lower = name.lower()
        if lower in _HOP_HEADERS:
            continue
        if target is not None and lower == b"x-amz-target":
            value = target
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    return headers
