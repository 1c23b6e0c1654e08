"""The fault proxy itself, seen by a plain boto3 client that never retries.

With botocore's retries off, each call is exactly one request, so a test can
tell which fault the proxy injected from the single error the call raises.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from tests.fault_proxy import FaultProxy, Faults, fixed, lognormal, sometimes, uniform
from tests.servers import Endpoint, create_pk_sk_table

KEY = {"pk": {"S": "driver#1"}, "sk": {"S": "entity"}}
ITEM = {**KEY, "f0": {"N": "1.5"}}


def _check_crc32(response_dict: dict[str, Any], **_: Any) -> None:
    """Every answer botocore parses must carry a right x-amz-crc32, whether forwarded, altered or made up."""
    header = response_dict["headers"].get("x-amz-crc32")
    assert header is not None and int(header) == zlib.crc32(response_dict["body"])


def plain_client(url: str, read_timeout: float = 5) -> Any:
    client = boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=read_timeout),
    )
    client.meta.events.register("before-parse.dynamodb.*", _check_crc32)
    return client


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[Any]:
    proxied = plain_client(proxy.url)
    yield proxied
    proxied.close()


@pytest.fixture
def direct(moto_endpoint: Endpoint) -> Iterator[Any]:
    """Straight to moto: sets up tables and looks behind the proxy without touching its counters."""
    unproxied = plain_client(moto_endpoint.url)
    yield unproxied
    unproxied.close()


@pytest.fixture
def table(direct: Any, table_name: str) -> str:
    create_pk_sk_table(direct, table_name)
    return table_name


def test_passes_requests_through(proxy: FaultProxy, client: Any, table: str) -> None:
    client.put_item(TableName=table, Item=ITEM)
    assert client.get_item(TableName=table, Key=KEY)["Item"] == ITEM
    assert proxy.faults.seen == Counter(PutItem=1, GetItem=1)
    assert not proxy.faults.injected


def test_throttle_answers_400_without_forwarding(
    proxy: FaultProxy, client: Any, direct: Any, table: str
) -> None:
    proxy.faults.throttle_share = 1.0
    with pytest.raises(ClientError) as caught:
        client.put_item(TableName=table, Item=ITEM)
    assert caught.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Item" not in direct.get_item(TableName=table, Key=KEY)
    assert proxy.faults.injected == Counter(throttle=1)


def test_error_answers_500(proxy: FaultProxy, client: Any, table: str) -> None:
    proxy.faults.error_share = 1.0
    with pytest.raises(ClientError) as caught:
        client.get_item(TableName=table, Key=KEY)
    assert caught.value.response["Error"]["Code"] == "InternalServerError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert proxy.faults.injected == Counter(error=1)


def test_injected_answers_are_dynamodb_shaped_and_keep_the_connection(proxy: FaultProxy) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]), timeout=5)
    headers = {
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Content-Type": "application/x-amz-json-1.0",
    }
    try:
        for share, status, code in (
            ("throttle_share", 400, "ProvisionedThroughputExceededException"),
            ("error_share", 500, "InternalServerError"),
        ):
            proxy.faults.reset()
            proxy.faults.update(**{share: 1.0})
            connection.request("POST", "/", b"{}", headers)
            response = connection.getresponse()
            body = response.read()
            assert response.status == status
            assert response.getheader("Content-Type") == "application/x-amz-json-1.0"
            assert response.getheader("x-amzn-ErrorType") == code
            assert int(response.getheader("x-amz-crc32", "")) == zlib.crc32(body)
            assert body.startswith(b'{"__type":"com.amazonaws.dynamodb.v20120810#' + code.encode() + b'",')
            assert json.loads(body)["message"]
            sock = connection.sock
            assert sock is not None  # not closed after the answer: keep-alive holds
        proxy.faults.reset()
        connection.request("POST", "/", b"{}", headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert connection.sock is sock  # same connection, after two injected answers
    finally:
        connection.close()


def test_drop_closes_the_connection_unanswered(proxy: FaultProxy, client: Any) -> None:
    proxy.faults.drop_share = 1.0
    with pytest.raises(ConnectionClosedError):
        client.list_tables()
    assert proxy.faults.injected == Counter(drop=1)
    proxy.faults.drop_share = 0.0
    client.list_tables()  # the client's pool recovers from the dropped connection


def test_delay_holds_the_request_before_forwarding(proxy: FaultProxy, client: Any, table: str) -> None:
    client.put_item(TableName=table, Item=ITEM)
    proxy.faults.delay = fixed(0.3)
    started = time.monotonic()
    assert client.get_item(TableName=table, Key=KEY)["Item"] == ITEM
    assert time.monotonic() - started >= 0.3
    assert proxy.faults.injected == Counter(delay=1)


def test_operations_limits_faults_to_the_named_ones(
    proxy: FaultProxy, client: Any, direct: Any, table: str
) -> None:
    proxy.faults.update(operations=frozenset({"GetItem"}), throttle_share=1.0, delay=fixed(0.01))
    client.put_item(TableName=table, Item=ITEM)
    client.list_tables()
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        client.get_item(TableName=table, Key=KEY)
    assert "Item" in direct.get_item(TableName=table, Key=KEY)
    assert proxy.faults.seen == Counter(PutItem=1, ListTables=1, GetItem=1)
    assert proxy.faults.injected == Counter(delay=1, throttle=1)


def test_blackhole_runs_the_client_into_its_read_timeout(proxy: FaultProxy, table: str) -> None:
    impatient = plain_client(proxy.url, read_timeout=1)
    try:
        proxy.faults.blackhole = True
        with pytest.raises(ReadTimeoutError):
            impatient.get_item(TableName=table, Key=KEY)
        assert proxy.faults.injected == Counter(blackhole=1)
        proxy.faults.blackhole = False
        impatient.get_item(TableName=table, Key=KEY)  # the endpoint comes back to life
    finally:
        impatient.close()


@pytest.mark.parametrize(
    "hold", [{"blackhole": True}, {"delay": fixed(600)}], ids=["blackhole", "long-delay"]
)
def test_held_request_blocks_no_other_and_close_releases_it(
    moto_endpoint: Endpoint, table: str, hold: dict[str, Any]
) -> None:
    proxy = FaultProxy(moto_endpoint.url)
    patient, other = plain_client(proxy.url, read_timeout=600), plain_client(proxy.url)
    try:
        proxy.faults.update(operations=frozenset({"GetItem"}), **hold)
        with ThreadPoolExecutor(max_workers=1) as pool:
            held = pool.submit(patient.get_item, TableName=table, Key=KEY)
            deadline = time.monotonic() + 10
            while proxy.faults.seen["GetItem"] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proxy.faults.seen["GetItem"] == 1
            for _ in range(3):
                other.list_tables()  # answered while the GetItem is held, on the same proxy
            assert not held.done()
            proxy.close()
            with pytest.raises(ConnectionClosedError):
                held.result(timeout=10)
    finally:
        proxy.close()  # idempotent
        patient.close()
        other.close()


def test_unprocessed_batch_gets_hold_back_half_the_keys(proxy: FaultProxy, client: Any, table: str) -> None:
    keys = [{"pk": {"S": f"driver#{i}"}, "sk": {"S": "entity"}} for i in range(4)]
    for key in keys:
        client.put_item(TableName=table, Item=key)
    proxy.faults.unprocessed_batch_gets = 1
    altered = client.batch_get_item(RequestItems={table: {"Keys": keys}})
    assert len(altered["Responses"][table]) == 2
    assert altered["UnprocessedKeys"][table]["Keys"] == keys[2:]
    whole = client.batch_get_item(RequestItems={table: {"Keys": keys}})
    assert len(whole["Responses"][table]) == 4 and not whole["UnprocessedKeys"]
    assert proxy.faults.injected == Counter(unprocessed=1)
    assert proxy.faults.seen["BatchGetItem"] == 2


def test_counters_count_and_reset_clears_everything(proxy: FaultProxy, client: Any) -> None:
    proxy.faults.update(delay=fixed(0.01), error_share=1.0, operations=frozenset({"ListTables"}), seed=5)
    for _ in range(3):
        with pytest.raises(ClientError):
            client.list_tables()
    client.describe_limits()
    assert proxy.faults.seen == Counter(ListTables=3, DescribeLimits=1)
    assert proxy.faults.injected == Counter(delay=3, error=3)
    seen = proxy.faults.seen
    proxy.faults.reset()
    assert proxy.faults == Faults(seed=5)
    assert not seen  # cleared in place, not replaced
    client.list_tables()
    with pytest.raises(TypeError, match="throttle"):
        proxy.faults.update(throttle=1.0)


def _throttled(proxy: FaultProxy, client: Any, seed: int) -> list[bool]:
    proxy.faults.reset()
    proxy.faults.update(seed=seed, throttle_share=0.5)
    outcomes = []
    for _ in range(40):
        try:
            client.list_tables()
            outcomes.append(False)
        except ClientError:
            outcomes.append(True)
    assert proxy.faults.injected["throttle"] == sum(outcomes)
    return outcomes


def test_seed_makes_shares_reproducible(proxy: FaultProxy, client: Any) -> None:
    first = _throttled(proxy, client, seed=7)
    assert 0 < sum(first) < 40
    assert _throttled(proxy, client, seed=7) == first
    assert _throttled(proxy, client, seed=8) != first


def test_delay_distributions() -> None:
    rng = random.Random(1)
    tail = [sometimes(0.25, 2.0)(rng) for _ in range(400)]
    assert set(tail) == {0.0, 2.0}
    assert all(0.1 <= uniform(0.1, 0.2)(rng) <= 0.2 for _ in range(100))
    samples = sorted(lognormal(0.01, 0.5)(rng) for _ in range(1001))
    assert all(s > 0 for s in samples)
    assert 0.008 < samples[500] < 0.0125  # the median is the one asked for
