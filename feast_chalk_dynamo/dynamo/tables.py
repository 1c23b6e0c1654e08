"""The one table as DynamoDB sees it: its keys, creating it, scanning it, deleting from it.

Production tables come from Terraform, so by default a missing table is an
error; creation is opt-in (``create_tables_if_not_exists``) for demos and
tests. Removal walks the table with a parallel Scan: DynamoDB has no other
way to find every item carrying a view's attributes. What the layout keeps
in it (marker, expiry attribute, views) is ``items.lifecycle``'s business.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from feast_chalk_dynamo.dynamo.client import RetryPolicy
from feast_chalk_dynamo.errors import TableNotFound, TableSchemaMismatch, ThroughputExceeded
from feast_chalk_dynamo.settings import DynamoSettings

log = logging.getLogger(__name__)

# The table's keys, the same in every layout this store has had (and in the Terraform module).
PK = "pk"
SK = "sk"
SCAN_SEGMENTS = 4
TERRAFORM_HINT = (
    "provision it with the Terraform module `feast-chalk-dynamo terraform` writes (see README, "
    "'Provisioning the table'), or set create_tables_if_not_exists: true "
    "(DYNAMODB_CREATE_TABLES_IF_NOT_EXISTS=true) to let the store create it"
)
EXPECTED_KEYS = [{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}]


# DynamoDB's limit on the requests of one BatchWriteItem.
MAX_BATCH_WRITE = 25


def delete_keys(client: Any, table: str, keys: Sequence[dict[str, Any]], retry: RetryPolicy) -> None:
    """Delete items by key, 25 a request, resending what DynamoDB leaves unprocessed on the retry schedule."""
    for start in range(0, len(keys), MAX_BATCH_WRITE):
        pending = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + MAX_BATCH_WRITE]]
        delays = retry.delays()
        while pending:
            response = client.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if pending:
                delay = next(delays, None)
                if delay is None:
                    cause = f"{len(pending)} deletes still unprocessed"
                    raise ThroughputExceeded(table, "BatchWriteItem", cause)
                time.sleep(delay)


def missing_table(table: str) -> TableNotFound:
    return TableNotFound(f"DynamoDB table {table!r} does not exist: {TERRAFORM_HINT}")


def is_missing_table(error: BaseException) -> bool:
    return isinstance(error, ClientError) and error.response["Error"]["Code"] == "ResourceNotFoundException"


# Operations whose callers ask whether the table exists, and expect DynamoDB's own answer.
_TABLE_LIFECYCLE_OPERATIONS = frozenset({"DescribeTable", "CreateTable", "DeleteTable"})


def report_missing_table(client: Any, table: str) -> None:
    """Make every data call of ``client`` raise ``TableNotFound`` for a missing table.

    One hook on the client rather than a try in every caller, so a lazy name
    lookup, a warm-up, a teardown and a write all fail the same clear way.
    """

    def after_call(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        code = parsed.get("Error", {}).get("Code")
        if code == "ResourceNotFoundException" and model.name not in _TABLE_LIFECYCLE_OPERATIONS:
            raise missing_table(table)

    client.meta.events.register("after-call.dynamodb", after_call)


class Table:
    """Whether the table exists, creating it when allowed, and walking or emptying parts of it.

    ``ttl_attribute`` and ``created`` are the layout's to set (``items.lifecycle.TableAdmin``).
    """

    ttl_attribute: str | None = None

    def __init__(self, client: Any, settings: DynamoSettings, pool: ThreadPoolExecutor) -> None:
        self._client = client
        self._settings = settings
        self._pool = pool
        self._table = settings.table_name

    # -- existence ----------------------------------------------------------

    def exists(self) -> bool:
        try:
            self._client.describe_table(TableName=self._table)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return False
            raise
        return True

    def ensure(self) -> bool:
        """Make sure the table exists with the right keys; True if this call created it."""
        try:
            description = self._client.describe_table(TableName=self._table)["Table"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            if not self._settings.create_tables_if_not_exists:
                raise missing_table(self._table) from None
            self._create()
            return True
        keys = sorted(description["KeySchema"], key=lambda k: k["KeyType"])
        types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
        if keys != EXPECTED_KEYS or types.get(PK) != "S" or types.get(SK) != "S":
            raise TableSchemaMismatch(
                f"DynamoDB table {self._table!r} is keyed {description['KeySchema']} "
                f"{types}; this store needs string keys pk (HASH) and sk (RANGE): {TERRAFORM_HINT}"
            )
        return False

    def _create(self) -> None:
        log.info("creating DynamoDB table %s (on-demand capacity)", self._table)
        try:
            self._client.create_table(
                TableName=self._table,
                KeySchema=EXPECTED_KEYS,
                AttributeDefinitions=[
                    {"AttributeName": PK, "AttributeType": "S"},
                    {"AttributeName": SK, "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as error:  # a concurrent apply created it first
            if error.response["Error"]["Code"] != "ResourceInUseException":
                raise
        self._client.get_waiter("table_exists").wait(
            TableName=self._table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        self.created()
        if self.ttl_attribute is None:
            return
        try:
            self._client.update_time_to_live(
                TableName=self._table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": self.ttl_attribute},
            )
        except ClientError as error:
            # Some local emulators lack TTL; reads still honour each view's ttl.
            log.warning("could not enable TTL on %s.%s: %s", self._table, self.ttl_attribute, error)

    def created(self) -> None:
        """Called once the table this call created is active, before its TTL is set."""

    # -- removal ------------------------------------------------------------

    def delete_items(self, prefix: str) -> int:
        """Delete every item whose partition key starts with ``prefix``; returns how many."""
        keys = [{PK: item[PK], SK: item[SK]} for item in self.scan({}, None, prefix)]
        delete_keys(self._client, self._table, keys, RetryPolicy.from_settings(self._settings))
        return len(keys)

    def delete_partition(self, pk: str) -> None:
        """Delete every item of one partition (a Bloom filter's snapshot and log)."""
        keys = [{PK: item[PK], SK: item[SK]} for item in self.partition_keys(pk)]
        delete_keys(self._client, self._table, keys, RetryPolicy.from_settings(self._settings))

    def partition_keys(self, pk: str) -> list[dict[str, Any]]:
        """The keys of every item in one partition, by a paginated Query."""
        paginator = self._client.get_paginator("query")
        return [
            item
            for page in paginator.paginate(
                TableName=self._table,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": PK, "#sk": SK},
                ExpressionAttributeValues={":pk": {"S": pk}},
                ProjectionExpression="#pk, #sk",
            )
            for item in page["Items"]
        ]

    def scan(
        self,
        names: dict[str, str],
        condition: str | None,
        prefix: str | None,
        values: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Keys of matching items, scanning segments in parallel."""
        found: list[dict[str, Any]] = []
        self._scan_segments(names, condition, prefix, values, found.append, keys_only=True)
        yield from found

    def scan_each(self, prefix: str, handle: Callable[[dict[str, Any]], None]) -> None:
        """Hand every whole item whose partition key starts with ``prefix`` to ``handle``, on the pool.

        Segments are scanned in parallel and each hands its items on as its
        pages arrive, so ``handle`` runs on several threads at once.
        """
        self._scan_segments({}, None, prefix, None, handle, keys_only=False)

    def keys_with(self, attribute: str, handle: Callable[[str], None]) -> None:
        """Hand the partition key of every item that has ``attribute`` to ``handle``, on several threads."""
        self._scan_segments(
            {"#a": attribute},
            "attribute_exists(#a)",
            None,
            None,
            lambda item: handle(item[PK]["S"]),
            keys_only=True,
        )

    def _scan_segments(
        self,
        names: dict[str, str],
        condition: str | None,
        prefix: str | None,
        values: dict[str, Any] | None,
        handle: Callable[[dict[str, Any]], None],
        keys_only: bool,
    ) -> None:
        names = dict(names)
        values = dict(values or {})
        filters = [condition] if condition else []
        request: dict[str, Any] = {"TableName": self._table, "TotalSegments": SCAN_SEGMENTS}
        if keys_only:
            request["ProjectionExpression"] = "#pk, #sk"
            names.update({"#pk": PK, "#sk": SK})
        if prefix is not None:
            filters.append("begins_with(#pk, :prefix)")
            values[":prefix"] = {"S": prefix}
            names["#pk"] = PK
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values

        def segment(number: int) -> None:
            for page in self._client.get_paginator("scan").paginate(**request, Segment=number):
                for item in page["Items"]:
                    handle(item)

        for _ in self._pool.map(segment, range(SCAN_SEGMENTS)):
            pass
