"""The codec's attributes survive a real DynamoDB-compatible server unchanged in meaning.

The unit tests simulate the wire; here a server parses, validates, normalizes
(numbers re-spelled, set members reordered) and stores every encoding, one
attribute per Value oneof field in a single item.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feast_chalk_dynamo.dynamo.client import RawHttpTransport
from feast_chalk_dynamo.items.codec import decode_value, encode_value, item_size
from feast_chalk_dynamo.settings import DynamoSettings
from tests.servers import Endpoint, create_pk_sk_table
from tests.unit.test_codec import GOLDEN, ROUND_TRIP_FIELDS, VALUE_STRATEGIES, comparable

MAX_ITEM_BYTES = 400 * 1024


@pytest.fixture
def codec_table(ddb_client: Any, table_name: str) -> Iterator[str]:
    create_pk_sk_table(ddb_client, table_name)
    yield table_name
    ddb_client.delete_table(TableName=table_name)


class Boto3Client:
    """Items sent and read by boto3: the reference serialisation."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def put(self, table: str, item: dict[str, Any]) -> None:
        self._client.put_item(TableName=table, Item=item)

    def get(self, table: str, key: dict[str, Any]) -> dict[str, Any]:
        return dict(self._client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"])


class FastTransport:
    """Items sent and read by the store's raw-HTTP transport (orjson, binaries as base64)."""

    def __init__(self, url: str) -> None:
        self._transport = RawHttpTransport(DynamoSettings(endpoint_url=url))

    def put(self, table: str, item: dict[str, Any]) -> None:
        self._transport.send("PutItem", {"TableName": table, "Item": item})

    def get(self, table: str, key: dict[str, Any]) -> dict[str, Any]:
        return dict(
            self._transport.send("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})["Item"]
        )


@pytest.fixture(params=["boto3", "fast"])
def sender(request: pytest.FixtureRequest, ddb_client: Any, dynamodb_endpoint: Endpoint) -> Any:
    return Boto3Client(ddb_client) if request.param == "boto3" else FastTransport(dynamodb_endpoint.url)


def _round_trip(sender: Any, table: str, named: Mapping[str, tuple[str, ValueProto]]) -> None:
    """Store ``{attribute name: (field, value)}`` as one item, read it back, compare decoded values."""
    key = {"pk": {"S": "codec"}, "sk": {"S": uuid.uuid4().hex}}
    encoded = {name: encode_value(value, field) for name, (field, value) in named.items()}
    item = {**key, **{name: attr for name, attr in encoded.items() if attr is not None}}
    assert item_size(item) < MAX_ITEM_BYTES

    sender.put(table, item)
    stored = sender.get(table, key)

    assert set(stored) == set(item)
    for name, (field, value) in named.items():
        assert comparable(decode_value(stored[name], field)) == comparable(value), name


def test_edge_cases_round_trip_through_the_server(sender: Any, codec_table: str) -> None:
    """Empty strings, binaries and lists, "" and b"" set members, N at its limits, fallbacks."""
    named = {f"a{index}": (value.WhichOneof("val") or "", value) for index, (value, _) in enumerate(GOLDEN)}
    _round_trip(sender, codec_table, named)


# The table fixture is created once per test, not per example: every example writes its own key.
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(values=st.fixed_dictionaries({field: VALUE_STRATEGIES[field] for field in ROUND_TRIP_FIELDS}))
def test_every_field_round_trips_through_the_server(
    sender: Any, codec_table: str, values: dict[str, ValueProto]
) -> None:
    _round_trip(sender, codec_table, {field: (field, value) for field, value in values.items()})
