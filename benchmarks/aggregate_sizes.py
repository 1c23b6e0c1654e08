"""Item sizes and capacity units of a windowed view, by DynamoDB's rules, from the store's own pages.

The view is issue 19's (point 4): four aggregations over 1 hour, 1 day and
7 days, 1-hour buckets, ``count_distinct`` included. No endpoint: a week of
representative events is folded into buckets by ``aggregates.partials`` and
laid on pages by ``aggregates.pages`` exactly as a push writes them, with ids
of 3 characters (as ``capacity`` assumes where the table cannot be read), and
each item is sized by ``items.codec.item_size``. The largest page any events
can make is ``aggregates.spec.max_page_bytes``, the bound ``feast apply``
checks against DynamoDB's 400 KB.

Units, as ``planning.capacity`` applies AWS's rules: a read costs each
item's size in 4 KB units, halved when eventually consistent (BatchGetItem
bills every item on its own); an UpdateItem costs the larger of the item
before and after, in 1 KB units.

    python -m benchmarks.aggregate_sizes
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from statistics import fmean

import numpy as np
from feast import Entity, Field, FileSource, PushSource, ValueType
from feast.aggregation import Aggregation
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.stream_feature_view import StreamFeatureView
from feast.types import Float64, Int64, String

from feast_chalk_dynamo.aggregates.pages import VERSION_ATTR, Item, PageLayout, encode_part
from feast_chalk_dynamo.aggregates.partials import SKETCH_MAX_BYTES, Parts, fold
from feast_chalk_dynamo.aggregates.spec import max_page_bytes, windowed_view
from feast_chalk_dynamo.items.codec import item_size
from feast_chalk_dynamo.items.layout import ENTITY_SK, EXPIRY_ATTR, encode_entity_key, ts_attr
from feast_chalk_dynamo.planning.capacity import read_units, write_units

ID = "a1b"  # every id of the name mapping: 3 characters
HOUR = timedelta(hours=1)
NOW = datetime(2026, 12, 1, 10, 47, tzinfo=timezone.utc)  # 10:47: the current bucket is 47 minutes old
SEED = 19


def view() -> StreamFeatureView:
    """The view, declared with Feast's API (its warning that stream feature views are experimental aside)."""
    warnings.filterwarnings("ignore", "Stream feature views are experimental", RuntimeWarning)
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    aggregations = [
        Aggregation(column="amount", function="sum", time_window=HOUR),
        Aggregation(column="amount", function="count", time_window=timedelta(days=1)),
        Aggregation(column="amount", function="max", time_window=timedelta(days=7)),
        Aggregation(column="rider_id", function="count_distinct", time_window=timedelta(days=7)),
    ]
    types = {"sum": Float64, "count": Int64, "max": Float64, "count_distinct": Int64}
    outputs = [Field(name=a.resolved_name(a.time_window), dtype=types[a.function]) for a in aggregations]
    source = FileSource(path="transactions.parquet", timestamp_field="ts")
    return StreamFeatureView(
        name="transactions",
        entities=[driver],
        source=PushSource(name="transactions_push", batch_source=source),
        aggregations=aggregations,
        tiling_hop_size=HOUR,
        timestamp_field="ts",
        schema=[Field(name="driver_id", dtype=Int64), Field(name="amount", dtype=Float64),
                Field(name="rider_id", dtype=String), *outputs],
    )  # fmt: skip


@dataclass(frozen=True)
class Case:
    """An entity's events: so many an hour, every rider a new one (a sketch of as many values)."""

    name: str
    events_per_hour: int


CASES = (Case("a driver, 6 trips an hour", 6), Case("a shop, 60 sales an hour", 60),
         Case("a busy shop, 600 sales an hour", 600))  # fmt: skip


def page_item(layout: PageLayout, key: str, page: int, buckets: dict[int, Parts]) -> Item:
    """The page as a push leaves it: its key, each part of each bucket, its version and its expiry."""
    item: Item = layout.key(key, page)
    for bucket, parts in buckets.items():
        for part, value in parts.items():
            item[layout.attribute(part, bucket)] = encode_part(part, value)
    item[VERSION_ATTR] = {"N": "123"}
    item[EXPIRY_ATTR] = {"N": str(layout.expiry(page))}
    return item


def events(case: Case, rng: np.random.Generator, hours: int) -> list[tuple[int, dict[str, object]]]:
    """``case``'s events of the ``hours`` before NOW (hour index from the epoch, raw values), in order."""
    first = int(NOW.timestamp()) // 3600 - hours + 1
    found = []
    rider = 0
    for hour in range(first, first + hours):
        for _ in range(case.events_per_hour):
            rider += 1
            amount = round(float(rng.lognormal(np.log(18), 0.5)), 2)
            found.append((hour, {"amount": amount, "rider_id": f"r{rider}"}))
    return found


def measure(layout: PageLayout, key: str, case: Case) -> dict[str, float]:
    spec = layout.spec
    rng = np.random.default_rng(SEED)
    newest = spec.bucket_of(int(NOW.timestamp() * 1_000_000))
    read_pages = spec.pages_for(newest, spec.longest_buckets)
    # Every bucket of every page a read of the longest window touches, filled up to the current one.
    hours = (newest - read_pages[0] * spec.page_buckets) + 1
    buckets: dict[int, Parts] = {}
    for bucket, values in events(case, rng, hours):
        fold(buckets.setdefault(bucket, {}), spec.parts, values)
    pages = [
        item_size(page_item(layout, key, page, {b: p for b, p in buckets.items() if spec.page_of(b) == page}))
        for page in read_pages
    ]
    # A full page's life, one event a push: each update billed on the larger of before and after.
    page = read_pages[-2]
    filling: dict[int, Parts] = {}
    size = item_size(layout.key(key, page))
    units = []
    for bucket in range(page * spec.page_buckets, (page + 1) * spec.page_buckets):
        for _, values in events(case, rng, 1):
            fold(filling.setdefault(bucket, {}), spec.parts, values)
            after = item_size(page_item(layout, key, page, filling))
            units.append(write_units(max(size, after)))
            size = after
    full = item_size(page_item(layout, key, page, filling))
    return {
        "pages": len(pages),
        "full page": max(pages),
        "read bytes": sum(pages),
        "read RCU": sum(read_units(b) for b in pages),
        "WCU per event": fmean(units),
        "cache miss RCU": read_units(full, consistent=True),
    }


def main() -> None:
    spec = windowed_view(view(), SKETCH_MAX_BYTES)
    layout = PageLayout(spec, ID, {part: ID for part in spec.parts})
    key = encode_entity_key(ID, EntityKey(join_keys=["driver_id"], entity_values=[Value(int64_val=1001)]))
    entity = item_size({"pk": {"S": key}, "sk": {"S": ENTITY_SK}, ts_attr(ID): {"N": "1764585600123456"}})
    largest = max_page_bytes(spec, SKETCH_MAX_BYTES)
    parts = ", ".join(part.name for part in spec.parts)
    minutes = spec.hop_ms // 60_000
    print(
        f"view: {len(spec.outputs)} aggregations, {minutes}-minute buckets, longest window "
        f"{spec.longest_buckets} buckets; {spec.page_buckets} buckets a page; parts a bucket: {parts}"
    )
    print(
        f"entity item (its key and the view's event time): {entity} B, {read_units(entity)} RCU to read, "
        f"{write_units(entity)} WCU to write"
    )
    print(
        f"largest page possible (every part at its largest, a sketch {SKETCH_MAX_BYTES:,} B): "
        f"{largest:,} B, {read_units(largest)} RCU to read, {write_units(largest)} WCU to write"
    )
    print(f"read at {NOW:%H:%M}: the entity item and the pages of the last {spec.longest_buckets} buckets\n")
    header = ("case", "pages", "full page B", "read B", "read RCU", "WCU/event", "miss RCU")
    print(f"{header[0]:<32}" + "".join(f"{h:>12}" for h in header[1:]))
    for case in CASES:
        found = measure(layout, key, case)
        cells = [
            f"{found['pages']:.0f}",
            f"{found['full page']:,.0f}",
            f"{found['read bytes'] + entity:,.0f}",
            f"{found['read RCU'] + read_units(entity):g}",
            f"{found['WCU per event'] + write_units(entity):.2f}",
            f"{found['cache miss RCU']:g}",
        ]
        print(f"{case.name:<32}" + "".join(f"{cell:>12}" for cell in cells))


if __name__ == "__main__":
    main()
