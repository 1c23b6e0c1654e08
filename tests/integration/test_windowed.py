"""Windowed aggregations: Feast's StreamFeatureView aggregations served from buckets (issue 19)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from feast import Entity, FeatureStore, Field, FileSource, PushSource, ValueType
from feast.aggregation import Aggregation
from feast.repo_config import RepoConfig
from feast.stream_feature_view import StreamFeatureView
from feast.types import Float64, Int64, String

from tests.feast_objects import repo_config
from tests.integration.test_store import key
from tests.servers import Endpoint

HOP = timedelta(minutes=10)
DRIVER = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
AGGREGATIONS = [
    Aggregation(column="amount", function="sum", time_window=timedelta(hours=1)),
    Aggregation(column="amount", function="count", time_window=timedelta(hours=1)),
    Aggregation(column="amount", function="mean", time_window=timedelta(days=1)),
    Aggregation(column="amount", function="min", time_window=timedelta(hours=1)),
    Aggregation(column="amount", function="max", time_window=timedelta(days=1)),
    Aggregation(column="amount", function="std", time_window=timedelta(days=1)),
    Aggregation(column="rider", function="count_distinct", time_window=timedelta(days=7)),
]
OUTPUT_TYPES = {"sum": Float64, "count": Int64, "mean": Float64, "min": Float64, "max": Float64,
                "std": Float64, "count_distinct": Int64}  # fmt: skip


def transactions(source: Path, aggregations: list[Aggregation] = AGGREGATIONS) -> StreamFeatureView:
    schema = [Field(name="driver_id", dtype=Int64), Field(name="amount", dtype=Float64),
              Field(name="rider", dtype=String)]  # fmt: skip
    schema += [
        Field(name=a.resolved_name(a.time_window), dtype=OUTPUT_TYPES[a.function]) for a in aggregations
    ]
    push = PushSource(name="tx_push", batch_source=FileSource(path=str(source), timestamp_field="ts"))
    return StreamFeatureView(
        name="tx", entities=[DRIVER], source=push, aggregations=aggregations, timestamp_field="ts",
        schema=schema, tiling_hop_size=HOP,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path, moto_endpoint: Endpoint, table_name: str) -> Iterator[FeatureStore]:
    source = tmp_path / "tx.parquet"
    pd.DataFrame(
        {"driver_id": [1], "amount": [1.0], "rider": ["r"], "ts": [datetime.now(timezone.utc)]}
    ).to_parquet(source)
    config: RepoConfig = repo_config(tmp_path, moto_endpoint.url, table_name)
    feast = FeatureStore(config=config)
    feast.apply([DRIVER, transactions(source)])
    yield feast
    feast._get_provider().online_store.close_engines()  # type: ignore[attr-defined]


def push(store: FeatureStore, events: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(events)
    for aggregation in AGGREGATIONS:
        frame[aggregation.resolved_name(aggregation.time_window)] = None
    store.push("tx_push", frame)


def test_pushed_events_read_back_as_windowed_aggregates(store: FeatureStore) -> None:
    now = datetime.now(timezone.utc)
    push(store, [
        {"driver_id": 1, "amount": 10.0, "rider": "a", "ts": now - timedelta(minutes=5)},
        {"driver_id": 1, "amount": 20.0, "rider": "b", "ts": now - timedelta(minutes=30)},
        {"driver_id": 1, "amount": 40.0, "rider": "a", "ts": now - timedelta(hours=3)},
        {"driver_id": 2, "amount": 7.0, "rider": "c", "ts": now - timedelta(days=2)},
    ])  # fmt: skip
    refs = [f"tx:{a.resolved_name(a.time_window)}" for a in AGGREGATIONS]
    answer = store.get_online_features(refs, [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}]).to_dict()
    print(answer)
    assert answer["sum_amount_3600s"][0] == pytest.approx(30.0)
    assert answer["count_amount_3600s"][:2] == [2, 0]
    assert answer["count_distinct_rider_604800s"][:2] == [2, 1]


def test_removing_a_windowed_view_deletes_its_pages(store: FeatureStore, moto_endpoint: Endpoint) -> None:
    now = datetime.now(timezone.utc)
    push(store, [{"driver_id": d, "amount": 1.0, "rider": "a", "ts": now} for d in (1, 2, 3)])
    config = store.config.online_store
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint.url, region_name="us-east-1")

    def items() -> list[dict[str, Any]]:
        pages = client.get_paginator("scan").paginate(TableName=config.table_name)
        return [item for page in pages for item in page["Items"] if not item["pk"]["S"].startswith("~")]

    assert sum("@" in item["sk"]["S"] for item in items()) == 3  # a page each
    store.apply([], objects_to_delete=[store.get_stream_feature_view("tx")], partial=False)
    assert items() == []  # pages, and the entity items left with no view


def test_raw_columns_read_as_the_newest_pushed_row(store: FeatureStore) -> None:
    """As Feast's stores answer a view's own columns: the row of the newest event, whatever the windows."""
    now = datetime.now(timezone.utc)
    push(store, [
        {"driver_id": 1, "amount": 10.0, "rider": "newest", "ts": now - timedelta(minutes=1)},
        {"driver_id": 1, "amount": 20.0, "rider": "older", "ts": now - timedelta(minutes=30)},
    ])  # fmt: skip
    push(store, [{"driver_id": 1, "amount": 5.0, "rider": "late-but-older", "ts": now - timedelta(hours=2)}])
    answer = store.get_online_features(["tx:amount", "tx:rider", "tx:sum_amount_3600s"], [{"driver_id": 1}])
    assert answer.to_dict() == {
        "driver_id": [1],
        "amount": [10.0],
        "rider": ["newest"],
        "sum_amount_3600s": [30.0],
    }
    online = store._get_provider().online_store  # type: ignore[attr-defined]
    view = store.get_stream_feature_view("tx")
    [(ts, values)] = online.online_read(
        store.config, view, [key(1)], ["amount", "rider", "count_amount_3600s"]
    )
    read = (values["amount"].double_val, values["rider"].string_val, values["count_amount_3600s"].int64_val)
    assert read == (10.0, "newest", 2)
