"""Start and stop DynamoDB-compatible servers as subprocesses on loopback ports.

The integration tests run against real servers over HTTP rather than moto's
in-process mock, so that requests go through botocore's full
serialisation and retry path exactly as in production. Two servers are used
because each is wrong in different places (see ``Endpoint``).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
DYNALITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "dynalite"

START_TIMEOUT_SECONDS = 30.0  # moto imports a lot; a loaded 2-core CI box is slow
STOP_TIMEOUT_SECONDS = 5.0
_OUTPUT_TAIL_BYTES = 4000


@dataclass(frozen=True)
class Endpoint:
    """A running server, and which optional DynamoDB APIs it implements.

    The flags say whether the API *call* is accepted, nothing more: neither
    server ever expires items on TTL, and real DynamoDB may take days to.
    """

    name: str
    url: str
    supports_transactions: bool
    supports_ttl: bool


class ServerStartError(RuntimeError):
    """Raised with the server's own output, since that is where the cause is."""


@dataclass(eq=False)
class ServerProcess:
    """A started server; ``stop`` is idempotent so every cleanup path may call it."""

    endpoint: Endpoint
    process: subprocess.Popen[bytes]
    output: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output_tail(self) -> str:
        self.output.flush()
        self.output.seek(0, os.SEEK_END)
        size = self.output.tell()
        self.output.seek(max(0, size - _OUTPUT_TAIL_BYTES))
        return self.output.read().decode("utf-8", errors="replace")

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _running.discard(self)
        if not self.output.closed:
            self.output.close()


# Fixture finalizers stop servers on a normal or failing session; this catches
# the rest (an interrupted session, a helper used outside pytest).
_running: set[ServerProcess] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()


def running_servers() -> frozenset[ServerProcess]:
    return frozenset(_running)


def _die_with_parent_hook() -> Callable[[], None] | None:
    """On Linux, have the kernel send SIGTERM to the server when pytest dies.

    Finalizers and atexit cover an error or Ctrl-C, but not pytest itself
    being killed (SIGTERM, SIGKILL, a CI timeout), which would leave servers
    orphaned.
    """
    if not sys.platform.startswith("linux"):
        return None
    pr_set_pdeathsig = 1
    # Looked up now, in the parent: between fork and exec the child should only call it.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return hook


_preexec = _die_with_parent_hook()


def free_port() -> int:
    """Ask the kernel for an unused port.

    Another process may take it before the server binds; ``start_server``
    retries on a fresh port when the server exits early for that reason.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def moto_command(port: int) -> list[str]:
    # Beside sys.executable, not on PATH: the venv running pytest need not be activated.
    return [
        str(Path(sys.executable).parent / "moto_server"),
        "-H",
        HOST,
        "-p",
        str(port),
    ]


def dynalite_command(port: int) -> list[str]:
    # dynalite keeps a new table CREATING for 500 ms by default; boto3's
    # table_exists waiter then sleeps its full 20 s Delay before looking again.
    # Zero makes the table ACTIVE before the next request, as moto does.
    return [
        str(DYNALITE_BIN),
        "--host", HOST,
        "--port", str(port),
        "--createTableMs", "0",
        "--deleteTableMs", "0",
        "--updateTableMs", "0",
    ]  # fmt: skip


def start_moto(timeout: float = START_TIMEOUT_SECONDS) -> ServerProcess:
    return start_server(
        "moto",
        moto_command,
        timeout=timeout,
        supports_transactions=True,
        supports_ttl=True,
    )


def start_dynalite(timeout: float = START_TIMEOUT_SECONDS) -> ServerProcess:
    """dynalite 4.0.0 answers TransactWriteItems, TransactGetItems and UpdateTimeToLive
    with UnknownOperationException (DescribeTimeToLive works, always DISABLED)."""
    if not DYNALITE_BIN.exists():
        raise FileNotFoundError(f"{DYNALITE_BIN} is missing: run `make node_modules` (or `npm ci`)")
    return start_server(
        "dynalite",
        dynalite_command,
        timeout=timeout,
        supports_transactions=False,
        supports_ttl=False,
    )


def start_server(
    name: str,
    command: Callable[[int], Sequence[str]],
    *,
    supports_transactions: bool,
    supports_ttl: bool,
    timeout: float = START_TIMEOUT_SECONDS,
    attempts: int = 3,
) -> ServerProcess:
    """Start ``command(port)`` and return once it answers ListTables."""
    for attempt in range(1, attempts + 1):
        port = free_port()
        endpoint = Endpoint(name, f"http://{HOST}:{port}", supports_transactions, supports_ttl)
        server = _spawn(endpoint, command(port))
        try:
            _wait_until_ready(server, port, timeout)
            return server
        except ServerStartError as error:
            server.stop()
            if attempt == attempts or not _lost_port_race(error):
                raise
    raise AssertionError("unreachable")


def _spawn(endpoint: Endpoint, argv: Sequence[str]) -> ServerProcess:
    # A file, not a pipe: nobody reads the pipe while tests run, and a full
    # pipe would block the server mid-request. ServerProcess.stop closes it.
    output = tempfile.TemporaryFile(prefix=f"{endpoint.name}-", suffix=".log")  # noqa: SIM115
    try:
        # preexec_fn is unsafe only if other threads hold locks at fork time;
        # the hook makes one prctl call, touching no Python-level lock.
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_preexec,  # noqa: PLW1509
        )
    except BaseException:
        output.close()
        raise
    server = ServerProcess(endpoint, process, output)
    _running.add(server)
    return server


def _wait_until_ready(server: ServerProcess, port: int, timeout: float) -> None:
    # One attempt per call and short timeouts, so the loop, not botocore, decides how long to wait.
    client = boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1}),
    )
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise ServerStartError(
                f"{server.endpoint.name} exited with code {code} before answering on port {port}; "
                f"its output ends:\n{server.output_tail()}"
            )
        try:
            # The cheap socket probe keeps botocore's connection errors out of the common wait.
            with socket.create_connection((HOST, port), timeout=0.2):
                pass
            client.list_tables(Limit=1)
            return
        # Not listening yet, or listening but still booting.
        except (OSError, BotoCoreError, ClientError) as error:
            last_error = error
            time.sleep(0.05)
    raise ServerStartError(
        f"{server.endpoint.name} did not answer ListTables on port {port} within {timeout:.0f}s "
        f"(last error: {last_error!r}); its output ends:\n{server.output_tail()}"
    )


def _lost_port_race(error: ServerStartError) -> bool:
    text = str(error)
    return "EADDRINUSE" in text or "Address already in use" in text


def create_pk_sk_table(client: Any, name: str, *, wait: bool = True) -> None:
    """A table keyed like the store's: string pk (hash) and sk (range)."""
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    if wait:
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})


def table_exists(client: Any, name: str) -> bool:
    """Asked of the table itself: ListTables answers 100 names a page, and a session's server holds more."""
    try:
        client.describe_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        return False
    return True
