"""A loopback HTTP proxy in front of a DynamoDB endpoint that injects faults on demand.

Tests set what goes wrong; the store talks to the proxy as it would to
DynamoDB, so the fault travels the real botocore path.
"""

from __future__ import annotations

import http.client
import json
import threading
import zlib
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Faults:
    """What the proxy does to the next requests; counters say what it did."""

    # BatchGetItem answers in which half of the keys come back as UnprocessedKeys
    # (-1: every answer), as DynamoDB does under throttling or a 16 MB response.
    unprocessed_batch_gets: int = 0
    seen: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_unprocessed(self) -> bool:
        with self.lock:
            if self.unprocessed_batch_gets == 0:
                return False
            if self.unprocessed_batch_gets > 0:
                self.unprocessed_batch_gets -= 1
            return True


class FaultProxy:
    def __init__(self, upstream_url: str) -> None:
        self.faults = Faults()
        upstream = urlsplit(upstream_url)
        faults = self.faults

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                with faults.lock:
                    faults.seen[operation] += 1
                connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                connection.request("POST", self.path, body, headers)
                response = connection.getresponse()
                payload = response.read()
                status = response.status
                if operation == "BatchGetItem" and status == 200 and faults.take_unprocessed():
                    payload = _unprocess_half(body, payload)
                connection.close()
                self.send_response(status)
                for name, value in response.getheaders():
                    if name.lower() not in (
                        "content-length",
                        "x-amz-crc32",
                        "connection",
                        "transfer-encoding",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amz-crc32", str(zlib.crc32(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


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
