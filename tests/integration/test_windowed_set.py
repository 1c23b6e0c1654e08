"""Whole buckets set (a backfill's write) and the update cache of the process that sets them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from feast import FeatureStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.repo_config import RepoConfig

from feast_chalk_dynamo import windowed
from feast_chalk_dynamo.items.layout import encode_entity_key
from feast_chalk_dynamo.items.names import project_name
from feast_chalk_dynamo.items.slots import datetime_to_micros
from tests.feast_objects import repo_config
from tests.integration.test_windowed import push
from tests.servers import Endpoint
from tests.windowed_objects import DRIVER, tx_view
from tests.windowed_objects import TX_AGGREGATIONS as AGGREGATIONS


@pytest.fixture
def store(tmp_path: Path, moto_endpoint: Endpoint, table_name: str) -> Iterator[FeatureStore]:
    config: RepoConfig = repo_config(tmp_path, moto_endpoint.url, table_name)
    feast = FeatureStore(config=config)
    feast.apply([DRIVER, tx_view(tmp_path / "tx.parquet")])
    yield feast
    feast._get_provider().online_store.close_engines()  # type: ignore[attr-defined]


def test_a_bucket_set_empty_leaves_no_value_of_it_in_the_update_cache(store: FeatureStore) -> None:
    """A set that removes a bucket's minimum and sketch: the next push in the same process merges into
    nothing, not into the values its update cache held before the set."""
    when = datetime.now(timezone.utc) - timedelta(minutes=1)
    push(store, [{"driver_id": 1, "amount": 5.0, "rider": "a", "ts": when}], at=when)  # cached: min 5, a
    engine = store._get_provider().online_store.engine(store.config)  # type: ignore[attr-defined]
    view = store.get_stream_feature_view("tx")
    layout = windowed.page_layout(engine, store.project, view.name, view)
    project_id = engine.names.lookup(project_name(store.project))
    assert layout is not None and project_id is not None
    driver = EntityKey(join_keys=["driver_id"], entity_values=[Value(int64_val=1)])
    key = encode_entity_key(project_id, driver)
    bucket = layout.spec.bucket_of(datetime_to_micros(when))

    engine.run(engine.aggregates.set(layout, {(key, bucket): {}}))  # the bucket holds no event now
    push(store, [{"driver_id": 1, "amount": 9.0, "rider": "b", "ts": when}], at=when)

    names = [a.resolved_name(a.time_window) for a in AGGREGATIONS]
    answer = store.get_online_features([f"tx:{name}" for name in names], [{"driver_id": 1}]).to_dict()
    assert {name: answer[name][0] for name in names} == {
        "sum_amount_3600s": 9.0,
        "count_amount_3600s": 1,
        "mean_amount_86400s": 9.0,
        "min_amount_3600s": 9.0,
        "max_amount_86400s": 9.0,
        "std_amount_86400s": None,
        "count_distinct_rider_604800s": 1,
    }


def test_a_set_writes_each_entitys_newest_event_as_its_row_as_a_push_does(store: FeatureStore) -> None:
    """A backfill's entity rows carry the raw columns of the newest event it set, as a push's do: the
    raw columns then read that event's values (a row of its time alone would leave them unwritten)."""
    now = datetime.now(timezone.utc)
    when = now - timedelta(minutes=30)
    view = store.get_stream_feature_view("tx")
    engine = store._get_provider().online_store.engine(store.config)  # type: ignore[attr-defined]
    engine.now = now.timestamp
    layout = windowed.page_layout(engine, store.project, view.name, view)
    assert layout is not None
    driver = EntityKey(join_keys=["driver_id"], entity_values=[Value(int64_val=1)])
    rows = [
        (driver, {"amount": Value(double_val=amount), "rider": Value(string_val=rider)}, at, None)
        for amount, rider, at in [(4.0, "x", when), (6.0, "y", when + timedelta(minutes=2))]
    ]
    first = layout.spec.bucket_of(datetime_to_micros(when))
    store._get_provider().online_store.set_buckets(store.config, view, [rows], range(first, first + 2))  # type: ignore[attr-defined]
    answer = store.get_online_features(["tx:amount", "tx:rider", "tx:count_amount_3600s"], [{"driver_id": 1}])
    assert answer.to_dict() == {"driver_id": [1], "amount": [6.0], "rider": ["y"], "count_amount_3600s": [2]}
