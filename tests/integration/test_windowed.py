"""Windowed aggregations: Feast's StreamFeatureView aggregations served from buckets (issue 19)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from feast import FeatureStore
from feast.repo_config import RepoConfig

from tests.feast_objects import repo_config
from tests.servers import Endpoint
from tests.windowed_objects import DRIVER, TX_AGGREGATIONS, output_name, push_frame, tx_view, write_source


@pytest.fixture
def store(tmp_path: Path, moto_endpoint: Endpoint, table_name: str) -> Iterator[FeatureStore]:
    config: RepoConfig = repo_config(tmp_path, moto_endpoint.url, table_name)
    feast = FeatureStore(config=config)
    feast.apply([DRIVER, tx_view(write_source(tmp_path / "tx.parquet"))])
    yield feast
    feast._get_provider().online_store.close_engines()  # type: ignore[attr-defined]


def push(store: FeatureStore, events: list[dict[str, Any]]) -> None:
    store.push("tx_push", push_frame(store.get_stream_feature_view("tx"), events))


def test_pushed_events_read_back_as_windowed_aggregates(store: FeatureStore) -> None:
    now = datetime.now(timezone.utc)
    push(store, [
        {"driver_id": 1, "amount": 10.0, "rider": "a", "ts": now - timedelta(minutes=5)},
        {"driver_id": 1, "amount": 20.0, "rider": "b", "ts": now - timedelta(minutes=30)},
        {"driver_id": 1, "amount": 40.0, "rider": "a", "ts": now - timedelta(hours=3)},
        {"driver_id": 2, "amount": 7.0, "rider": "c", "ts": now - timedelta(days=2)},
    ])  # fmt: skip
    refs = [f"tx:{output_name(a)}" for a in TX_AGGREGATIONS]
    answer = store.get_online_features(refs, [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}]).to_dict()
    assert answer["sum_amount_3600s"][0] == pytest.approx(30.0)
    assert answer["count_amount_3600s"][:2] == [2, 0]
    assert answer["count_distinct_rider_604800s"][:2] == [2, 1]
