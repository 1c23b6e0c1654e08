"""The table as this layout keeps it: who made it, its expiry attribute, the views on its items.

Builds on ``dynamo.tables.Table`` (DynamoDB's side of the table). The marker
item says this store created the table, so ``feast teardown`` drops only a
table it made and nobody's data is left in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from feast_chalk_dynamo.dynamo.client import RetryPolicy
from feast_chalk_dynamo.dynamo.expressions import fits, placeholder_suffix, update_fits
from feast_chalk_dynamo.dynamo.tables import PK, SK, Table, delete_keys
from feast_chalk_dynamo.errors import TableNotFound
from feast_chalk_dynamo.items.layout import EXPIRY_ATTR, META_PK, TS_PREFIX

CREATED_MARKER_SK = "~created-by"
CREATOR = "feast_chalk_dynamo"


class TableAdmin(Table):
    ttl_attribute = EXPIRY_ATTR

    def created(self) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={PK: {"S": META_PK}, SK: {"S": CREATED_MARKER_SK}, "by": {"S": CREATOR}},
        )

    def remove_attributes(
        self, prefix: str, ts_attr: str, attributes: Sequence[str], sibling_ts_attrs: Sequence[str]
    ) -> int:
        """Strip a view's attributes from every item of a project; delete items left with no view.

        The removals of one item go in as many updates as 4 KB expressions
        need, the timestamp last: the view is gone from reads by then, so a
        half-stripped item is never served. Returns how many items were touched.
        """
        touched = 0
        chunks = _removal_chunks([*attributes, ts_attr])
        for item in self.scan({"#t": ts_attr}, "attribute_exists(#t)", prefix):
            for names in chunks:
                response = self._client.update_item(
                    TableName=self._table,
                    Key={PK: item[PK], SK: item[SK]},
                    UpdateExpression="REMOVE " + ", ".join(names),
                    ExpressionAttributeNames=names,
                    ReturnValues="ALL_NEW",
                )
            remaining = response.get("Attributes", {})
            if not any(name.startswith(TS_PREFIX) for name in remaining):
                self._delete_if_no_view(item, sibling_ts_attrs)
            touched += 1
        return touched

    def _delete_if_no_view(self, item: dict[str, Any], sibling_ts_attrs: Sequence[str]) -> None:
        # The condition keeps an item a concurrent writer has just given a live view.
        names = {f"#{placeholder_suffix(i)}": attr for i, attr in enumerate(sibling_ts_attrs)}
        condition = " AND ".join(f"attribute_not_exists({n})" for n in names)
        if not fits(condition):
            return  # too many views to guard the delete: an empty item costs less than a lost row
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={PK: item[PK], SK: item[SK]},
                **({"ConditionExpression": condition, "ExpressionAttributeNames": names} if names else {}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def delete_sorted_under(self, prefix: str, sort_key_prefix: str) -> int:
        """Delete every item of a project (``prefix``) whose sort key starts with ``sort_key_prefix``
        (a windowed view's bucket pages); returns how many."""
        found = self.scan({"#sk": SK}, "begins_with(#sk, :sk)", prefix, {":sk": {"S": sort_key_prefix}})
        keys = [{PK: item[PK], SK: item[SK]} for item in found]
        delete_keys(self._client, self._table, keys, RetryPolicy.from_settings(self._settings))
        return len(keys)

    def drop_if_ours_and_empty(self) -> bool:
        """Delete the table only if this store created it and no data of anyone is left in it."""
        try:
            marker = self._client.get_item(
                TableName=self._table, Key={PK: {"S": META_PK}, SK: {"S": CREATED_MARKER_SK}}
            ).get("Item")
        except TableNotFound:
            return False
        if not marker or marker.get("by", {}).get("S") != CREATOR:
            return False
        others = self.scan({}, "#pk <> :meta", None, {":meta": {"S": META_PK}})
        if next(iter(others), None) is not None:
            return False
        if any(name.startswith(("proj/", "ns/", "fqn/", "expiry/")) for name in self._meta_names()):
            return False  # another project still has its names here
        self._client.delete_table(TableName=self._table)
        return True

    def _meta_names(self) -> list[str]:
        return [item[SK]["S"] for item in self.partition_keys(META_PK)]


def _removal_chunks(attributes: Sequence[str]) -> list[dict[str, str]]:
    """Placeholder maps for REMOVE expressions of ``attributes``, each within the update limits, in order."""
    chunks: list[dict[str, str]] = [{}]
    for index, attr in enumerate(attributes):
        grown = {**chunks[-1], f"#{placeholder_suffix(index)}": attr}
        if update_fits("REMOVE " + ", ".join(grown), grown):
            chunks[-1] = grown
        else:
            chunks.append({f"#{placeholder_suffix(index)}": attr})
    return chunks
