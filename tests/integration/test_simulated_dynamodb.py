"""The write benchmarks' simulated DynamoDB endpoint, driven through boto3 as the stores drive it.

The benchmark's numbers are only as good as the simulator's counting and routing: writes of data
items answered locally and billed by DynamoDB's rules, everything else (tables, the ``~meta``
registry) really done by the backend, the delay applied to every request at once.
"""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import boto3
import orjson
import pytest
from botocore.config import Config
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.simulated_dynamodb import SimStats, SimulatedDynamo
from benchmarks.simulated_dynamodb.sizes import value_size
from tests.dynamodb_limits import attribute_size, item_size
from tests.servers import Endpoint, create_pk_sk_table

REGION = "us-east-1"
ENTITY_SK = "#"


def _client(url: str, pool: int = 10) -> Any:
    # One attempt: a wrong answer from the simulator should fail the test, not be retried away.
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=pool, retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def sim(dynalite_endpoint: Endpoint) -> Iterator[SimulatedDynamo]:
    with SimulatedDynamo(dynalite_endpoint.url, delay_ms=0) as simulator:
        yield simulator


@pytest.fixture
def client(sim: SimulatedDynamo) -> Any:
    return _client(sim.url, pool=32)


@pytest.fixture
def backend(dynalite_endpoint: Endpoint) -> Any:
    return _client(dynalite_endpoint.url)


@pytest.fixture
def table(sim: SimulatedDynamo, client: Any, table_name: str) -> str:
    """A pk/sk table created through the simulator, with counters zeroed after."""
    create_pk_sk_table(client, table_name)
    sim.reset()
    return table_name


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": ENTITY_SK}}


def _padded(pk: str, name: str, total: int) -> str:
    """A string value that makes the item {pk, sk, name: value} exactly ``total`` bytes."""
    return "x" * (total - item_size(_key(pk)) - len(name))


def _set(client: Any, table: str, pk: str, **values: Any) -> Any:
    names = {f"#{i}": name for i, name in enumerate(values)}
    return client.update_item(
        TableName=table,
        Key=_key(pk),
        UpdateExpression="SET " + ", ".join(f"#{i} = :{i}" for i in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":{i}": value for i, value in enumerate(values.values())},
    )


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _zero() -> SimStats:
    return SimStats(requests={}, forwarded={}, actions=0, items=0, write_units=0, bytes_stored=0)


def test_create_table_is_forwarded(sim: SimulatedDynamo, client: Any, backend: Any, table_name: str) -> None:
    sim.reset()
    create_pk_sk_table(client, table_name)

    assert backend.describe_table(TableName=table_name)["Table"]["TableStatus"] == "ACTIVE"
    stats = sim.stats()
    assert stats.forwarded["CreateTable"] == 1
    assert stats.requests == {}


def test_update_item_is_billed_on_the_larger_size(
    sim: SimulatedDynamo, client: Any, backend: Any, table: str
) -> None:
    _set(client, table, "e1", v={"S": _padded("e1", "v", 500)})
    first = sim.stats()
    # Conditions are not evaluated: this one would fail on DynamoDB.
    client.update_item(
        TableName=table,
        Key=_key("e1"),
        UpdateExpression="SET #v = :v",
        ConditionExpression="attribute_not_exists(#v)",
        ExpressionAttributeNames={"#v": "v"},
        ExpressionAttributeValues={":v": {"S": _padded("e1", "v", 1500)}},
    )
    second = sim.stats()

    assert (first.write_units, first.actions, first.items, first.bytes_stored) == (1, 1, 1, 500)
    assert (second.write_units, second.actions, second.items, second.bytes_stored) == (1 + 2, 2, 1, 1500)
    assert second.requests == {"UpdateItem": 2}
    assert "Item" not in backend.get_item(TableName=table, Key=_key("e1"))  # answered, not stored


def test_update_expression_forms(sim: SimulatedDynamo, client: Any, table: str) -> None:
    _set(client, table, "e1", a={"S": "12345"}, b={"N": "-1.5"}, c={"B": b"\x00" * 10})
    # REMOVE before SET, literal names, ADD counted as a SET of its value, if_not_exists.
    client.update_item(
        TableName=table,
        Key=_key("e1"),
        UpdateExpression="REMOVE c, #b SET a = :a, #d = if_not_exists(#d, :d) ADD n :n",
        ExpressionAttributeNames={"#b": "b", "#d": "d"},
        ExpressionAttributeValues={":a": {"S": "123"}, ":d": {"S": "dd"}, ":n": {"N": "7"}},
    )
    client.update_item(
        TableName=table,
        Key=_key("e1"),
        UpdateExpression="SET d = if_not_exists(d, :d)",
        ExpressionAttributeValues={":d": {"S": "not written: d exists"}},
    )

    expected = item_size({**_key("e1"), "a": {"S": "123"}, "d": {"S": "dd"}, "n": {"N": "7"}})
    assert sim.stats().bytes_stored == expected


def test_transaction_of_two_small_updates_costs_four_units(
    sim: SimulatedDynamo, client: Any, table: str
) -> None:
    updates = [
        {
            "Update": {
                "TableName": table,
                "Key": _key(pk),
                "UpdateExpression": "SET #v = :v",
                "ExpressionAttributeNames": {"#v": "v"},
                "ExpressionAttributeValues": {":v": {"N": "1"}},
            }
        }
        for pk in ("t1", "t2")
    ]

    client.transact_write_items(TransactItems=updates)

    stats = sim.stats()
    assert (stats.write_units, stats.actions, stats.items) == (4, 2, 2)
    assert stats.requests == {"TransactWriteItems": 1}


def test_batch_write_learns_the_key_schema_of_a_feast_table(
    sim: SimulatedDynamo, client: Any, backend: Any, table_name: str
) -> None:
    # Feast's own store: a table per view keyed by entity_id alone, created here behind the
    # simulator's back, so it must ask the backend for the key schema.
    feast_table = f"{table_name}.driver_stats"
    backend.create_table(
        TableName=feast_table,
        KeySchema=[{"AttributeName": "entity_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "entity_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sim.reset()
    items = [{"entity_id": {"S": f"e{i}"}, "values": {"M": {"f": {"B": b"\x01\x02"}}}} for i in range(3)]

    answer = client.batch_write_item(RequestItems={feast_table: [{"PutRequest": {"Item": i}} for i in items]})
    after_puts = sim.stats()
    client.batch_write_item(
        RequestItems={feast_table: [{"DeleteRequest": {"Key": {"entity_id": {"S": "e0"}}}}]}
    )
    after_delete = sim.stats()

    assert answer["UnprocessedItems"] == {}
    assert (after_puts.actions, after_puts.items, after_puts.write_units) == (3, 3, 3)
    assert after_puts.bytes_stored == sum(map(item_size, items))
    assert after_puts.forwarded == {"DescribeTable (key lookup)": 1}
    assert (after_delete.actions, after_delete.items, after_delete.write_units) == (4, 2, 4)


def test_meta_update_is_forwarded_with_its_real_answer(
    sim: SimulatedDynamo, client: Any, backend: Any, table: str
) -> None:
    request = {
        "TableName": table,
        "Key": _key("~meta"),
        "UpdateExpression": "ADD #n :one",
        "ExpressionAttributeNames": {"#n": "n"},
        "ExpressionAttributeValues": {":one": {"N": "1"}},
        "ReturnValues": "UPDATED_NEW",
    }

    answers = [client.update_item(**request)["Attributes"] for _ in range(2)]

    assert answers == [{"n": {"N": "1"}}, {"n": {"N": "2"}}]  # a real counter, on the backend
    assert backend.get_item(TableName=table, Key=_key("~meta"))["Item"]["n"] == {"N": "2"}
    stats = sim.stats()
    assert stats.forwarded == {"UpdateItem": 2}
    assert (stats.requests, stats.actions, stats.write_units) == ({}, 0, 0)


def test_write_to_a_missing_table_gets_the_backends_error(client: Any, table_name: str) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        _set(client, table_name, "e1", v={"S": "x"})


def test_delay_is_applied_to_every_request_at_once(sim: SimulatedDynamo, client: Any, table: str) -> None:
    sim.set_delay(200)
    try:
        started = time.monotonic()
        _set(client, table, "d0", v={"S": "x"})
        one = time.monotonic() - started

        started = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            list(pool.map(lambda i: _set(client, table, f"d{i}", v={"S": "x"}), range(20)))
        twenty = time.monotonic() - started
    finally:
        sim.set_delay(0)

    assert one >= 0.2
    assert 0.2 <= twenty < 1.0  # one after the other would take 4 s
    assert sim.stats().requests == {"UpdateItem": 21}


def test_reset_zeroes_counters_and_forgets_items(sim: SimulatedDynamo, client: Any, table: str) -> None:
    _set(client, table, "e1", v={"S": "x"})
    assert sim.stats().items == 1

    sim.reset()

    assert sim.stats() == _zero()
    _set(client, table, "e1", v={"S": "x"})  # a new item again, as far as the counters know
    assert sim.stats().bytes_stored == item_size({**_key("e1"), "v": {"S": "x"}})


def _raw_request(target: str, payload: dict[str, Any], *, close: bool = False) -> bytes:
    body = orjson.dumps(payload)
    head = (
        f"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"X-Amz-Target: {target}\r\nContent-Length: {len(body)}\r\n"
    )
    return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


def _split_responses(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each HTTP response in ``data``, in order, framed by Content-Length."""
    responses = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
        length = int(headers[b"content-length"])
        responses.append((int(lines[0].split(b" ")[1]), rest[:length]))
        data = rest[length:]
    return responses


def test_pipelined_requests_are_answered_in_order_then_closed(
    sim: SimulatedDynamo, client: Any, table: str
) -> None:
    """Three requests in one packet: a delayed write, then two instant answers that must wait for it."""
    update = {
        "TableName": table,
        "Key": _key("p1"),
        "UpdateExpression": "SET #v = :v",
        "ExpressionAttributeNames": {"#v": "v"},
        "ExpressionAttributeValues": {":v": {"S": "x"}},
    }
    sim.set_delay(100)
    try:
        with socket.create_connection(_address(sim.url), timeout=5) as sock:
            sock.sendall(
                _raw_request("DynamoDB_20120810.UpdateItem", update)
                + _raw_request("Simulator.Stats", {})
                + _raw_request("Simulator.Stats", {}, close=True)
            )
            received = b""
            while chunk := sock.recv(65536):  # the server closes after the third answer
                received += chunk
    finally:
        sim.set_delay(0)

    responses = _split_responses(received)
    assert [status for status, _ in responses] == [200, 200, 200]
    assert responses[0][1] == b"{}"
    assert orjson.loads(responses[1][1])["requests"] == {"UpdateItem": 1}  # counted before its delay


def test_subprocess_is_gone_after_the_context_exits(dynalite_endpoint: Endpoint) -> None:
    with SimulatedDynamo(dynalite_endpoint.url) as simulator:
        pid, address = simulator.pid, _address(simulator.url)
        assert pid is not None
        os.kill(pid, 0)  # running

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=1).close()


# The simulator sizes common values itself, for speed; they must agree with the limits module.
_NUMBERS = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,19})(\.[0-9]{1,18})?", fullmatch=True),  # plain: sized by the simulator
    st.from_regex(r"-?0*\.?0*[0-9]{0,5}0*", fullmatch=True).filter(lambda text: any(map(str.isdigit, text))),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),  # exponents too: left to the module
)
_SCALARS = st.one_of(
    _NUMBERS.map(lambda text: {"N": text}),
    st.binary(max_size=24).map(lambda raw: {"B": base64.b64encode(raw).decode()}),  # as botocore sends a B
    st.text(max_size=12).map(lambda text: {"S": text}),
    st.booleans().map(lambda flag: {"BOOL": flag}),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: {"L": items}),
        st.dictionaries(st.text(max_size=6), inner, max_size=4).map(lambda items: {"M": items}),
    ),
    max_leaves=12,
)


@given(_VALUES)
def test_value_sizes_agree_with_the_limits_module(value: dict[str, Any]) -> None:
    assert value_size(value) == attribute_size(value)
