"""The server harness itself: if these fail, every integration test's result is suspect."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests import servers
from tests.servers import Endpoint, ServerProcess, ServerStartError, create_pk_sk_table


def test_put_then_get_round_trips(ddb_client: Any, table_name: str) -> None:
    create_pk_sk_table(ddb_client, table_name)
    item = {"pk": {"S": "entity#1"}, "sk": {"S": "fv#a"}, "v": {"B": b"\x00\x01"}}
    ddb_client.put_item(TableName=table_name, Item=item)

    got = ddb_client.get_item(
        TableName=table_name,
        Key={"pk": item["pk"], "sk": item["sk"]},
        ConsistentRead=True,
    )

    assert got["Item"] == item


def test_table_is_active_right_after_create(ddb_client: Any, table_name: str) -> None:
    # Guards the dynalite --createTableMs 0 flag: without it, table_exists
    # waiters with boto3's default 20 s Delay make every create slow.
    create_pk_sk_table(ddb_client, table_name, wait=False)
    assert ddb_client.describe_table(TableName=table_name)["Table"]["TableStatus"] == "ACTIVE"


def test_transaction_flag_matches_server(
    dynamodb_endpoint: Endpoint, ddb_client: Any, table_name: str
) -> None:
    create_pk_sk_table(ddb_client, table_name)
    put = {"Put": {"TableName": table_name, "Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}}}
    if dynamodb_endpoint.supports_transactions:
        ddb_client.transact_write_items(TransactItems=[put])
    else:
        with pytest.raises(ClientError, match="UnknownOperation"):
            ddb_client.transact_write_items(TransactItems=[put])


def test_ttl_flag_matches_server(dynamodb_endpoint: Endpoint, ddb_client: Any, table_name: str) -> None:
    create_pk_sk_table(ddb_client, table_name)
    spec = {"Enabled": True, "AttributeName": "expires_at"}
    if dynamodb_endpoint.supports_ttl:
        ddb_client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=spec)
    else:
        with pytest.raises(ClientError, match="UnknownOperation"):
            ddb_client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=spec)


@pytest.mark.needs_transactions
@pytest.mark.needs_ttl
def test_capability_markers_skip_servers_without_them(
    dynamodb_endpoint: Endpoint,
) -> None:
    assert dynamodb_endpoint.supports_transactions
    assert dynamodb_endpoint.supports_ttl


def test_endpoints_are_loopback_and_distinct(moto_endpoint: Endpoint, dynalite_endpoint: Endpoint) -> None:
    assert moto_endpoint.url.startswith("http://127.0.0.1:")
    assert dynalite_endpoint.url.startswith("http://127.0.0.1:")
    assert moto_endpoint.url != dynalite_endpoint.url


def _start_dynalite_or_skip() -> ServerProcess:
    if not servers.DYNALITE_BIN.exists():
        pytest.skip("dynalite is not installed: run `make test`, which installs it")
    return servers.start_dynalite()


@pytest.mark.parametrize("start", [servers.start_moto, _start_dynalite_or_skip], ids=["moto", "dynalite"])
def test_stop_ends_the_process_and_frees_the_port(
    start: Callable[[], ServerProcess],
) -> None:
    server = start()
    port = int(server.endpoint.url.rsplit(":", 1)[1])

    server.stop()
    server.stop()  # idempotent, so fixture finalizers and atexit may both call it

    assert server.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        # Reaped by wait(), so the pid no longer exists at all (no zombie).
        os.kill(server.pid, 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    assert server not in servers.running_servers()


def test_server_that_exits_reports_its_output() -> None:
    def crashing(port: int) -> list[str]:
        return [
            sys.executable,
            "-c",
            f"import sys; sys.stderr.write('cannot bind {port}'); sys.exit(3)",
        ]

    before = servers.running_servers()
    with pytest.raises(ServerStartError, match=r"exited with code 3(.|\n)*cannot bind \d+"):
        servers.start_server("crasher", crashing, supports_transactions=False, supports_ttl=False)
    assert servers.running_servers() == before


def test_server_that_never_answers_times_out_and_is_killed() -> None:
    def silent(port: int) -> list[str]:
        return [
            sys.executable,
            "-c",
            "import time; print('starting', flush=True); time.sleep(60)",
        ]

    before = servers.running_servers()
    started = time.monotonic()
    with pytest.raises(ServerStartError, match=r"within 1s(.|\n)*starting"):
        servers.start_server(
            "silent",
            silent,
            supports_transactions=False,
            supports_ttl=False,
            timeout=1.0,
        )
    assert time.monotonic() - started < 1.0 + servers.STOP_TIMEOUT_SECONDS
    assert servers.running_servers() == before
