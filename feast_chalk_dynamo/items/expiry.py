"""Chalk-style expiry (opt-in): the item expiry attribute ``_x`` follows the views' current ttls.

Feast's stores never expire online rows, so by default no item carries
``_x``. With ``chalk_style_expiry`` an item gets ``_x`` (DynamoDB's TTL
attribute) once every view on it has a ttl, and DynamoDB deletes it when all
of them have expired. Writes set ``_x`` from the live view list; when an
apply changes a ttl, removes a view, or turns the knob on or off, the items
already written must follow, or DynamoDB would delete valid data: ``follow``
walks the project's items with a parallel Scan and recomputes each one.

Which ttls items were last computed with is kept in ``~meta`` as
``expiry/<project>``, so an apply that changes nothing scans nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from tqdm import tqdm

from feast_chalk_dynamo.dynamo.expressions import fits
from feast_chalk_dynamo.items.layout import ENTITY_SK, EXPIRY_ATTR, META_PK, PK, SK, ts_attr
from feast_chalk_dynamo.items.lifecycle import TableAdmin
from feast_chalk_dynamo.items.names import NamespaceInfo, name_component

log = logging.getLogger(__name__)

# Conditional recomputes that lose to concurrent writers before we give up
# and take the always-safe choice: no expiry on that item.
MAX_CONFLICTS = 5

Item = dict[str, Any]


def expiry_state_name(project: str) -> str:
    return f"expiry/{name_component(project)}"


def signature(live: Mapping[str, NamespaceInfo], enabled: bool) -> str:
    """What item expiry depends on: the knob, and each live view's id, ttl and join keys."""
    if not enabled:
        return "off"
    return ";".join(
        sorted(f"{info.id}:{info.ttl_seconds}:{','.join(info.join_keys)}" for info in live.values())
    )


def item_expiry(item: Item, ttls: Mapping[str, int]) -> int | None:
    """When an item may go (epoch s): after every live view on it has expired; None if one never does."""
    present = [(int(item[attr]["N"]), ttl) for attr, ttl in ttls.items() if attr in item]
    if not present or not all(ttl for _, ttl in present):
        return None
    return math.ceil(max(micros / 1e6 + ttl for micros, ttl in present))


class ExpiryFollower:
    """Recomputes ``_x`` on a project's items after the views' ttls changed."""

    def __init__(self, admin: TableAdmin, client: Any, table: str) -> None:
        self._admin = admin
        self._client = client
        self._table = table

    def follow(
        self,
        project: str,
        project_id: str,
        live: Mapping[str, NamespaceInfo],
        enabled: bool,
        scan: bool,
    ) -> int:
        """Bring every item of the project in line with ``live``; returns how many items changed.

        ``scan`` is False for a project that had no data before this apply:
        then only the state is recorded.
        """
        wanted = signature(live, enabled)
        key = {PK: {"S": META_PK}, SK: {"S": expiry_state_name(project)}}
        state = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if state is not None and state["sig"]["S"] == wanted:
            return 0
        # No state: items written by a version that always set _x, or a new project (no scan then).
        changed = self._recompute(project_id, live, enabled) if scan else 0
        self._client.put_item(TableName=self._table, Item={**key, "sig": {"S": wanted}})
        return changed

    def _recompute(self, project_id: str, live: Mapping[str, NamespaceInfo], enabled: bool) -> int:
        ttls = {ts_attr(info.id): info.ttl_seconds if enabled else 0 for info in live.values()}
        families = {ts_attr(info.id): info.join_keys for info in live.values()}
        changed: list[bool] = []  # appended from the scan's segment threads: list.append is atomic
        with tqdm(desc="Recomputing item expiry", unit="item", leave=False) as bar:

            def handle(item: Item) -> None:
                if self._recompute_item(item, ttls, families):
                    changed.append(True)
                bar.update(1)

            self._admin.scan_each(f"{project_id}/", handle)
        log.info("item expiry recomputed: %d items changed", len(changed))
        return len(changed)

    def _recompute_item(self, item: Item, ttls: Mapping[str, int], families: Mapping[str, Any]) -> bool:
        key = {PK: item[PK], SK: {"S": ENTITY_SK}}
        for _ in range(MAX_CONFLICTS):
            expiry = item_expiry(item, ttls)
            current = item.get(EXPIRY_ATTR)
            if (current is None and expiry is None) or (current == {"N": str(expiry)}):
                return False
            try:
                self._update(key, item, expiry, ttls, families)
                return True
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
            # A writer got there first: look again at what it left.
            item = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
            if item is None:
                return False
        self._client.update_item(  # always safe: an item without _x is never deleted
            TableName=self._table,
            Key=key,
            UpdateExpression="REMOVE #x",
            ExpressionAttributeNames={"#x": EXPIRY_ATTR},
        )
        return True

    def _update(
        self, key: Item, item: Item, expiry: int | None, ttls: Mapping[str, int], families: Mapping[str, Any]
    ) -> None:
        """Set or remove ``_x`` on condition that no view came or went and ``_x`` is as read."""
        present = [attr for attr in ttls if attr in item]
        family = {families[attr] for attr in present}
        siblings = [attr for attr in ttls if families[attr] in family]
        names = {"#x": EXPIRY_ATTR, **{f"#t{i}": attr for i, attr in enumerate(siblings)}}
        values: dict[str, Any] = {}
        clauses = []
        for i, attr in enumerate(siblings):
            if attr in item:
                clauses.append(f"#t{i} = :t{i}")
                values[f":t{i}"] = item[attr]
            else:
                clauses.append(f"attribute_not_exists(#t{i})")
        if EXPIRY_ATTR in item:
            clauses.append("#x = :old")
            values[":old"] = item[EXPIRY_ATTR]
        else:
            clauses.append("attribute_not_exists(#x)")
        update = "REMOVE #x" if expiry is None else "SET #x = :x"
        if expiry is not None:
            values[":x"] = {"N": str(expiry)}
        condition = " AND ".join(clauses)
        if not fits(condition):  # too many views to guard: the safe choice
            names, values, update, condition = {"#x": EXPIRY_ATTR}, {}, "REMOVE #x", ""
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": key,
            "UpdateExpression": update,
            "ExpressionAttributeNames": names,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        if condition:
            request["ConditionExpression"] = condition
        self._client.update_item(**request)
