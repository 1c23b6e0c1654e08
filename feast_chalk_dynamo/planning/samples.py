"""Entity items as stored: a bounded Scan of a project's items, each split into its views' rows.

Real rows differ from representative ones (lists are shorter, strings
longer, features null), so where the table holds data the plan takes each
view's mean measured row over the estimate. A Scan is bounded: it stops at
``limit`` entity items of the project or after reading ``10 × limit +
1,000`` items of the table, whichever comes first, so sampling a large
table (or one shared by many projects) costs a few pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from feast_chalk_dynamo.items.codec import item_size
from feast_chalk_dynamo.items.layout import ENTITY_SK, PK, SK, decode_entity_key, project_prefix
from feast_chalk_dynamo.planning.estimates import ItemShape
from feast_chalk_dynamo.planning.planner import EntityItem, ViewRow

DEFAULT_SAMPLE = 100
MAX_PAGE = 1000

Item = dict[str, Any]


def scan_budget(limit: int) -> int:
    """The most items a sample of ``limit`` reads."""
    return 10 * limit + 1000


def sample_items(client: Any, table: str, project_id: str, limit: int) -> list[Item]:
    """Up to ``limit`` entity items of the project, by one bounded, eventually consistent Scan."""
    budget = scan_budget(limit)
    found: list[Item] = []
    scanned = 0
    pages = client.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="begins_with(#pk, :prefix) AND #sk = :sk",
        ExpressionAttributeNames={"#pk": PK, "#sk": SK},
        ExpressionAttributeValues={":prefix": {"S": project_prefix(project_id)}, ":sk": {"S": ENTITY_SK}},
        PaginationConfig={"PageSize": min(budget, MAX_PAGE)},
    )
    for page in pages:
        found += page["Items"]
        scanned += page["ScannedCount"]
        if len(found) >= limit or scanned >= budget:
            break
    return found[:limit]


@dataclass(frozen=True)
class SampledItem:
    """One kind of entity item for the plan, and the sizes of its sampled items (none: estimates only)."""

    item: EntityItem
    sampled_sizes: list[int]


def measure(shapes: Sequence[ItemShape], items: Sequence[Item]) -> list[SampledItem]:
    """Each kind of item with its views' measured rows where the sample has some, else the estimate."""
    by_keys: dict[tuple[str, ...], list[Item]] = {}
    for item in items:
        _, key = decode_entity_key(item[PK]["S"])
        by_keys.setdefault(tuple(sorted(key.join_keys)), []).append(item)
    return [_measured(shape, by_keys.get(shape.join_keys, [])) for shape in shapes]


def _measured(shape: ItemShape, items: list[Item]) -> SampledItem:
    if not items:
        views = [ViewRow(view.namespace, view.estimated_bytes) for view in shape.views]
        return SampledItem(EntityItem(shape.join_keys, views, shape.key_bytes, shape.other_bytes), [])
    keys = [item_size({PK: item[PK], SK: item[SK]}) for item in items]
    claimed = list(keys)  # per item: the bytes of its key and of its views' rows
    views = []
    for view in shape.views:
        rows = []
        for n, item in enumerate(items):
            row = item_size({name: item[name] for name in view.attributes if name in item})
            claimed[n] += row
            if view.ts_attr in item:
                rows.append(row)
        views.append(ViewRow(view.namespace, view.estimated_bytes, fmean(rows) if rows else None, len(rows)))
    sizes = [item_size(item) for item in items]
    other = fmean(size - own for size, own in zip(sizes, claimed, strict=True))
    return SampledItem(EntityItem(shape.join_keys, views, fmean(keys), other), sizes)
