"""The write floor: the very requests this store sent, replayed bare at the same concurrency.

A ``Recorder`` listens on the store's write caller (``engine.writes.listeners``,
called with ``(operation, payload)`` before every attempt) and keeps each
call's requests. ``RawWriteReplay`` then sends them again with N threads,
each on its own kept-alive ``http.client`` connection, each request
serialised with ``json.dumps`` and signed with botocore's ``SigV4Auth``:
the least any Python client must do to send those writes. What the store
takes beyond that (encoding rows into requests, botocore or its own
transport, thread hand-offs, progress accounting) is its own overhead.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

TARGET_PREFIX = "DynamoDB_20120810."
# Answers that repeat what the store was told when it sent the same request:
# a stale row (guard failed) or the emulator lacking transactions, which the
# store met once and then fell back from. Anything else stops the replay.
EXPECTED_ERRORS = frozenset({"ConditionalCheckFailedException", "UnknownOperationException"})

Request = tuple[str, dict[str, Any]]


class Recorder:
    """Collects the write requests of a store's calls, one list per call, while attached."""

    def __init__(self, listeners: list[Any]) -> None:
        """``listeners``: the store's ``engine(config).writes.listeners``."""
        self._listeners = listeners
        self._current: list[Request] = []
        self.calls: list[list[Request]] = []

    def __enter__(self) -> Recorder:
        self._listeners.append(self._record)
        return self

    def __exit__(self, *_: object) -> None:
        self._listeners.remove(self._record)

    def _record(self, operation: str, payload: dict[str, Any]) -> None:
        # A reference, not a copy: the store builds each payload once and never
        # changes it, and copying here would slow the run being recorded.
        self._current.append((operation, payload))

    def end_call(self) -> list[Request]:
        """Close the current call's list (call after each ``online_write_batch``) and return it."""
        requests, self._current = self._current, []
        self.calls.append(requests)
        return requests


@dataclass(frozen=True)
class ReplayResult:
    seconds: float
    cpu_seconds: float
    outcomes: Counter[str]  # "ok" or the error code, per request


class RawWriteReplay:
    """Sends recorded requests with ``threads`` threads, each with its own kept-alive connection."""

    def __init__(self, endpoint_url: str, region: str, threads: int) -> None:
        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials in the environment (dummy ones are enough)")
        self._credentials = credentials
        self._region = region
        self._url = endpoint_url.rstrip("/") + "/"
        parts = urlsplit(endpoint_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self.threads = threads

    def replay(self, requests: Sequence[Request]) -> ReplayResult:
        """Send every request once; wall and process CPU time of the whole replay.

        Threads take the next request from a shared index, as the store's
        client pool takes the next row, so a slow answer does not idle the rest.
        """
        lock = threading.Lock()
        position = iter(range(len(requests)))
        outcomes: Counter[str] = Counter()
        failures: list[BaseException] = []

        def worker() -> None:
            signer = SigV4Auth(self._credentials, "dynamodb", self._region)
            connection = http.client.HTTPConnection(self._host, self._port, timeout=30)
            seen: Counter[str] = Counter()
            try:
                while True:
                    with lock:
                        index = next(position, None)
                    if index is None or failures:
                        break
                    seen[self._send(connection, signer, *requests[index])] += 1
            except BaseException as error:
                failures.append(error)
            finally:
                connection.close()
                with lock:
                    outcomes.update(seen)

        workers = [threading.Thread(target=worker, name=f"write-floor-{i}") for i in range(self.threads)]
        cpu, start = time.process_time(), time.perf_counter()
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        if failures:
            raise failures[0]
        return ReplayResult(seconds, cpu_seconds, outcomes)

    def _send(
        self, connection: http.client.HTTPConnection, signer: SigV4Auth, operation: str, payload: dict
    ) -> str:
        body = json.dumps(payload).encode()
        request = AWSRequest(
            method="POST",
            url=self._url,
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TARGET_PREFIX + operation},
        )
        signer.add_auth(request)
        connection.request("POST", "/", body, dict(request.headers.items()))
        response = connection.getresponse()
        answer = response.read()
        parsed = json.loads(answer) if answer else {}
        if response.status == 200:
            if parsed.get("UnprocessedItems"):
                raise RuntimeError("the floor does not retry; the server left items unprocessed")
            return "ok"
        code = str(parsed.get("__type", f"HTTP {response.status}")).rsplit("#", 1)[-1]
        if code not in EXPECTED_ERRORS:
            raise RuntimeError(f"{operation} answered {response.status}: {answer[:300]!r}")
        return code
