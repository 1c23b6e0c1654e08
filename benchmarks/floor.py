"""The floor: one signed BatchGetItem over a kept-alive connection, parsed with json.loads.

This is the least any Python client must do for a read (sign, send, receive,
parse), so ``online_read`` divided by it is what the store's own work costs:
botocore's request pipeline, decoding values into protos, and thread hand-offs.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

TARGET = "DynamoDB_20120810.BatchGetItem"
ENTITY_SK = "#"
META_PK = "~meta"


class RawBatchGet:
    """BatchGetItem of one table, signed with botocore but sent and parsed by hand."""

    def __init__(self, endpoint_url: str, region: str, table: str, projection: dict[str, Any]) -> None:
        """``projection``: ProjectionExpression and ExpressionAttributeNames (``view_projection``)."""
        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials in the environment (dummy ones are enough)")
        self._signer = SigV4Auth(credentials, "dynamodb", region)
        self._url = endpoint_url.rstrip("/") + "/"
        parts = urlsplit(endpoint_url)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        self._table = table
        self._projection = projection

    def __call__(self, partition_keys: Sequence[str]) -> dict[str, Any]:
        keys = [{"pk": {"S": pk}, "sk": {"S": ENTITY_SK}} for pk in partition_keys]
        body = json.dumps({"RequestItems": {self._table: {"Keys": keys, **self._projection}}}).encode()
        request = AWSRequest(
            method="POST",
            url=self._url,
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TARGET},
        )
        self._signer.add_auth(request)
        self._connection.request("POST", "/", body, dict(request.headers.items()))
        response = self._connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"BatchGetItem answered {response.status}: {payload[:300]!r}")
        parsed: dict[str, Any] = json.loads(payload)
        if parsed.get("UnprocessedKeys"):
            raise RuntimeError("the floor does not retry; the server left keys unprocessed")
        return parsed

    def close(self) -> None:
        self._connection.close()


def view_projection(
    endpoint_url: str, region: str, table: str, project: str, views: Sequence[str]
) -> dict[str, Any]:
    """The attributes a read of ``views`` needs, found from the table's documented layout.

    A view's observed-at time is ``_t<view id>`` and each feature sits under
    its own id; the ids are in the ``~meta`` items ``ns/<project>/<view>`` and
    ``fqn/<project>/<view>/<feature>/<dtype>``. Asking for the same attributes
    as the store keeps the two responses the same size.
    """
    ids = _short_ids(endpoint_url, region, table)
    attributes = []
    for view in views:
        prefix = f"fqn/{project}/{view}/"
        attributes += [_time_attribute(ids, table, project, view)] + sorted(
            attr for name, attr in ids.items() if name.startswith(prefix)
        )
    names = {f"#{i}": attr for i, attr in enumerate(attributes)}
    return {
        "ProjectionExpression": ",".join(["#pk", *names]),
        "ExpressionAttributeNames": {"#pk": "pk", **names},
    }


def entity_partition_keys(endpoint_url: str, region: str, table: str, project: str, view: str) -> list[str]:
    """The pk of every entity item in ``table`` holding a row of ``view``, so the floor reads real data.

    An entity item has sk "#", and a row of a view is on it when the view's
    observed-at attribute is; items of other data sets' entities are left out.
    """
    time_attribute = _time_attribute(_short_ids(endpoint_url, region, table), table, project, view)
    client = boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region)
    keys: list[str] = []
    for page in client.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="sk = :entity AND attribute_exists(#t)",
        ExpressionAttributeNames={"#t": time_attribute},
        ExpressionAttributeValues={":entity": {"S": ENTITY_SK}},
        ProjectionExpression="pk",
    ):
        keys.extend(item["pk"]["S"] for item in page["Items"])
    client.close()
    return sorted(keys)


def _short_ids(endpoint_url: str, region: str, table: str) -> dict[str, str]:
    """The name mapping: each ``~meta`` item's sk (``ns/…``, ``fqn/…``) to its short id."""
    client = boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region)
    ids: dict[str, str] = {}
    for page in client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :meta",
        ExpressionAttributeValues={":meta": {"S": META_PK}},
    ):
        ids.update({item["sk"]["S"]: item["id"]["S"] for item in page["Items"] if "id" in item})
    client.close()
    return ids


def _time_attribute(ids: dict[str, str], table: str, project: str, view: str) -> str:
    """The view's observed-at attribute, ``_t<view id>``."""
    namespace = ids.get(f"ns/{project}/{view}")
    if namespace is None:
        raise RuntimeError(f"no ns/{project}/{view} item in {table}: was the view written?")
    return "_t" + namespace
