"""Short stable ids for projects, feature views and features, kept in the table.

Items stay small because every attribute is named by a short id instead of
its fully-qualified name. An id is allocated once and never changes: a
counter hands out numbers, and a conditional put of the mapping item decides
races; the loser reads the winner's id. The mapping lives in the table itself
(partition ``~meta``), so every process that reads the table agrees on it.

Mapping items (``sk`` of partition ``~meta``):

- ``proj/<project>`` -> project id
- ``ns/<project>/<view>`` -> namespace id, plus ``ttl`` (s, 0 = none) and
  ``keys`` (the view's join keys) while the view is live
- ``fqn/<project>/<view>/<feature>/<dtype>`` -> feature id; the dtype is part
  of the name so that a feature whose type changes gets a new id and old
  bytes are never decoded as the new type.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from feast_chalk_dynamo.layout import META_PK, PK, SK, short_id

COUNTER_SK = "~counter"


def project_name(project: str) -> str:
    return f"proj/{project}"


def namespace_name(project: str, view: str) -> str:
    return f"ns/{project}/{view}"


def feature_name(project: str, view: str, feature: str, dtype: str) -> str:
    return f"fqn/{project}/{view}/{feature}/{dtype}"


@dataclass(frozen=True)
class NamespaceInfo:
    """What writers need to know of a live view to set its items' expiry."""

    id: str
    ttl_seconds: int
    join_keys: tuple[str, ...]


class NameRegistry:
    """Thread-safe view of the mapping items, filled by warm-up or on first use."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        # Projects whose namespaces are all in _items; None: every project (warmed up).
        self._namespaces_loaded: set[str] | None = set()

    # -- loading ------------------------------------------------------------

    def warm_up(self) -> int:
        """Load the whole mapping with one paginated Query; returns how many names."""
        items = self._query("")
        with self._lock:
            self._namespaces_loaded = None
        return len(items)

    def _query(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every mapping item whose name starts with ``prefix`` (all of them for ""), now cached."""
        condition = "#pk = :pk AND begins_with(#sk, :prefix)" if prefix else "#pk = :pk"
        prefix_value = {":prefix": {"S": prefix}} if prefix else {}
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            ConsistentRead=True,
            KeyConditionExpression=condition,
            ExpressionAttributeNames={"#pk": PK, **({"#sk": SK} if prefix else {})},
            ExpressionAttributeValues={":pk": {"S": META_PK}, **prefix_value},
        )
        found = {item[SK]["S"]: item for page in pages for item in page["Items"]}
        with self._lock:
            self._items.update(found)
        return found

    def _get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            cached = self._items.get(name)
        if cached is not None:
            return cached
        response = self._client.get_item(TableName=self._table, Key=_meta_key(name), ConsistentRead=True)
        item = response.get("Item")
        if item is not None:
            with self._lock:
                self._items[name] = item
        return item

    # -- allocation ---------------------------------------------------------

    def lookup(self, name: str) -> str | None:
        """The id of a name, or None if it was never allocated (no write, no allocation)."""
        item = self._get(name)
        return item["id"]["S"] if item else None

    def allocate(self, name: str) -> str:
        """The id of a name, allocating one if needed; safe against concurrent allocators."""
        existing = self.lookup(name)
        if existing is not None:
            return existing
        counter = self._client.update_item(
            TableName=self._table,
            Key=_meta_key(COUNTER_SK),
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        candidate = short_id(int(counter["Attributes"]["n"]["N"]))
        item = {**_meta_key(name), "id": {"S": candidate}}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # Another process won the race: its id is the one everybody uses.
            # The counter value we took is simply never used.
            with self._lock:
                self._items.pop(name, None)
            winner = self.lookup(name)
            assert winner is not None, f"mapping {name} vanished after a lost race"
            return winner
        with self._lock:
            self._items[name] = item
        return candidate

    # -- namespaces ---------------------------------------------------------

    def register_namespace(self, project: str, view: str, ttl_seconds: int, join_keys: list[str]) -> str:
        """Allocate (or keep) a view's id and record its ttl and join keys for writers."""
        name = namespace_name(project, view)
        namespace_id = self.allocate(name)
        response = self._client.update_item(
            TableName=self._table,
            Key=_meta_key(name),
            UpdateExpression="SET #ttl = :ttl, #keys = :keys",
            ExpressionAttributeNames={"#ttl": "ttl", "#keys": "keys"},
            ExpressionAttributeValues={
                ":ttl": {"N": str(ttl_seconds)},
                ":keys": {"L": [{"S": key} for key in sorted(join_keys)]},
            },
            ReturnValues="ALL_NEW",
        )
        with self._lock:
            self._items[name] = response["Attributes"]
        return namespace_id

    def retire_namespace(self, project: str, view: str) -> None:
        """Mark a removed view as no longer live; its ids stay reserved forever."""
        name = namespace_name(project, view)
        if self.lookup(name) is None:
            return
        response = self._client.update_item(
            TableName=self._table,
            Key=_meta_key(name),
            UpdateExpression="REMOVE #ttl, #keys",
            ExpressionAttributeNames={"#ttl": "ttl", "#keys": "keys"},
            ReturnValues="ALL_NEW",
        )
        with self._lock:
            self._items[name] = response["Attributes"]

    def live_namespaces(self, project: str) -> dict[str, NamespaceInfo]:
        """Every live view of a project by name, loading them once if warm-up did not."""
        prefix = namespace_name(project, "")
        loaded = self._namespaces_loaded
        if loaded is not None and project not in loaded:
            self._query(prefix)
            with self._lock:
                loaded.add(project)
        with self._lock:
            snapshot = [(name, item) for name, item in self._items.items() if name.startswith(prefix)]
        return {
            name[len(prefix) :]: NamespaceInfo(
                id=item["id"]["S"],
                ttl_seconds=int(item["ttl"]["N"]),
                join_keys=tuple(key["S"] for key in item["keys"]["L"]),
            )
            for name, item in snapshot
            if "keys" in item
        }

    def names_with_prefix(self, prefix: str) -> dict[str, str]:
        """Name -> id for every mapping item under a prefix, read fresh from the table."""
        return {name: item["id"]["S"] for name, item in self._query(prefix).items() if "id" in item}

    def forget(self, names: list[str]) -> None:
        """Delete mapping items (teardown of a project): their ids are never reused."""
        for name in names:
            self._client.delete_item(TableName=self._table, Key=_meta_key(name))
            with self._lock:
                self._items.pop(name, None)


def _meta_key(name: str) -> dict[str, Any]:
    return {PK: {"S": META_PK}, SK: {"S": name}}
