"""Written nulls and features a found row lacks, through real Feast beside Feast's own stores (issue 17).

Feast's stores answer a feature written as null PRESENT with an empty Value,
a feature the found row does not have NOT_FOUND (the row was written before
the feature joined the view, or without it), and a row never written
NOT_FOUND. Both stores here are handed the same rows through Feast's own
write call and read through every path: ``get_online_features`` and
``online_read``, sync and async, cached and not, for a view of every type
written attribute by attribute and one too wide for that (one map).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from feast import FeatureStore, FeatureView, Field, FileSource
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.types import VALUE_TYPES_TO_FEAST_TYPES, Float64, Int64, String, Struct
from feast.value_type import ValueType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feast_chalk_dynamo.items.codec import value_field_for
from feast_chalk_dynamo.items.layout import ENTITY_SK
from tests.feast_objects import DRIVER, STORE_TYPE
from tests.servers import Endpoint
from tests.unit.test_codec import VALUE_STRATEGIES, comparable

PROJECT = "nulls"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
NEVER_WRITTEN = 999_999

# One feature per type a feature can be declared with (a struct too), named after its Value field.
TYPES: dict[str, Any] = {
    value_field_for(value_type): feast_type
    for value_type, feast_type in VALUE_TYPES_TO_FEAST_TYPES.items()
    if value_type not in (ValueType.UNKNOWN, ValueType.PDF_BYTES, ValueType.IMAGE_BYTES)
}
TYPES["struct_val"] = Struct({"make": String, "year": Int64})
WIDE_PADDING = 150  # doubles that make a row too wide to SET one by one: it goes in as one map
ADDED = "added"  # joins the view after the rows are written


def view(name: str, wide: bool, added: bool = False) -> FeatureView:
    fields = [Field(name=field, dtype=dtype) for field, dtype in TYPES.items()]
    fields += [Field(name=f"pad{i}", dtype=Float64) for i in range(WIDE_PADDING if wide else 0)]
    fields += [Field(name=ADDED, dtype=Int64)] if added else []
    return FeatureView(
        name=name,
        entities=[DRIVER],
        schema=[Field(name="driver_id", dtype=Int64), *fields],
        source=FileSource(path=f"/nonexistent/{name}.parquet", timestamp_field="ts"),
        ttl=timedelta(days=1),
    )


def field_of(feature: str) -> str:
    return "double_val" if feature.startswith("pad") else feature


def store(run_dir: Path, online_store: dict[str, Any]) -> FeatureStore:
    run_dir.mkdir(parents=True)
    return FeatureStore(
        config=RepoConfig(
            project=PROJECT,
            provider="local",
            registry=str(run_dir / "registry.db"),
            online_store=online_store,
            entity_key_serialization_version=3,
        )
    )


def sqlite_store(tmp_path: Path) -> FeatureStore:
    return store(tmp_path / "sqlite", {"type": "sqlite", "path": str(tmp_path / "online.db")})


def ours(tmp_path: Path, endpoint: Endpoint, table: str, **knobs: Any) -> FeatureStore:
    section = {"type": STORE_TYPE, "table_name": table, "endpoint_url": endpoint.url, **knobs}
    return store(tmp_path / "ours", {**section, "create_tables_if_not_exists": True})


def key(driver: int) -> EntityKeyProto:
    return EntityKeyProto(join_keys=["driver_id"], entity_values=[ValueProto(int64_val=driver)])


def write(fs: FeatureStore, fv: FeatureView, rows: dict[int, dict[str, ValueProto]]) -> None:
    """The rows through Feast's own write call (what materialize and push call)."""
    data = [(key(driver), values, NOW, None) for driver, values in rows.items()]
    fs._get_provider().online_write_batch(fs.config, fv, data, None)


def response(fs: FeatureStore, name: str, drivers: list[int], use_async: bool) -> Any:
    refs = [f"{name}:{field.name}" for field in fs.get_feature_view(name).features]
    rows = [{"driver_id": driver} for driver in drivers]
    if use_async:
        return asyncio.run(fs.get_online_features_async(features=refs, entity_rows=rows)).proto
    return fs.get_online_features(features=refs, entity_rows=rows).proto


def same_response(theirs: Any, mine: Any) -> None:
    assert mine.metadata == theirs.metadata
    for expected, actual in zip(theirs.results, mine.results, strict=True):
        assert list(actual.statuses) == list(expected.statuses)
        assert list(actual.event_timestamps) == list(expected.event_timestamps)
        assert [comparable(v) for v in actual.values] == [comparable(v) for v in expected.values]


def online_rows(fs: FeatureStore, name: str, drivers: list[int], use_async: bool) -> list[Any]:
    provider, table = fs._get_provider(), fs.get_feature_view(name)
    keys = [key(driver) for driver in drivers]
    if use_async:
        return asyncio.run(provider.online_read_async(fs.config, table, keys))  # type: ignore[no-any-return]
    return provider.online_read(fs.config, table, keys)  # type: ignore[no-any-return]


def same_rows(theirs: list[Any], mine: list[Any]) -> None:
    assert [ts for ts, _ in mine] == [ts for ts, _ in theirs]
    for (_, expected), (_, actual) in zip(theirs, mine, strict=True):
        if expected is None:
            assert actual is None
        else:
            assert actual is not None and sorted(actual) == sorted(expected)
            assert {n: comparable(v) for n, v in actual.items()} == {
                n: comparable(v) for n, v in expected.items()
            }


def feature_states(features: list[str]) -> st.SearchStrategy[dict[str, ValueProto | None]]:
    """A row: per feature a value, Feast's null, or None (the row does not have it); some feature at least.

    (A row of no feature at all is where Feast's stores disagree: sqlite stores nothing, Feast's
    DynamoDB store an item with the event time, as this store does.)"""
    return st.fixed_dictionaries(
        {
            feature: st.one_of(VALUE_STRATEGIES[field_of(feature)], st.just(ValueProto()), st.none())
            for feature in features
        }
    ).filter(lambda row: any(value is not None for value in row.values()))


VIEW_NAMES = (f"every{n}" for n in itertools.count())


@pytest.mark.parametrize("wide", [False, True], ids=["attributes", "one-map"])
@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_nulls_and_features_a_row_lacks_read_as_in_sqlite(
    tmp_path_factory: pytest.TempPathFactory,
    dynalite_endpoint: Endpoint,
    table_name: str,
    wide: bool,
    cached: bool,
    data: st.DataObject,
) -> None:
    """Rows of every type, nulls and features left out mixed in, then a feature added to the view:
    every read path answers each feature with sqlite's status, value and event time.

    On dynalite: moto 5.1 answers 500 to a projection naming a binary set."""
    tmp_path = tmp_path_factory.mktemp("nulls")
    name = next(VIEW_NAMES)
    knobs = {"cached_namespaces": [{"namespace": name}]} if cached else {}
    mine, theirs = ours(tmp_path, dynalite_endpoint, table_name, **knobs), sqlite_store(tmp_path)
    before = view(name, wide)
    features = [field.name for field in before.features]
    rows = {driver: data.draw(feature_states(features)) for driver in range(1, 4)}
    written = {driver: {f: v for f, v in values.items() if v is not None} for driver, values in rows.items()}
    for fs in (mine, theirs):
        fs.apply([DRIVER, before])
        write(fs, before, written)
        fs.apply([DRIVER, view(name, wide, added=True)])  # the rows were written before it joined
    if wide:
        items = entity_items(dynalite_endpoint, table_name)
        assert any(attr.startswith("_v") for item in items for attr in item)  # the map form

    drivers = [*rows, NEVER_WRITTEN, 1]
    expected, expected_rows = (
        response(theirs, name, drivers, False),
        online_rows(theirs, name, drivers, False),
    )
    for use_async in (False, True):
        for _ in range(2 if cached else 1):  # cached: the second read is answered from the cache
            same_response(expected, response(mine, name, drivers, use_async))
            same_rows(expected_rows, online_rows(mine, name, drivers, use_async))
    if cached:
        online = mine._get_provider().online_store
        assert online.namespace_counters(mine.config)[name]["cache_hits"] > 0


def entity_items(endpoint: Endpoint, table: str) -> Iterator[dict[str, Any]]:
    client = boto3.client("dynamodb", endpoint_url=endpoint.url, region_name="us-east-1")
    for page in client.get_paginator("scan").paginate(TableName=table):
        yield from (item for item in page["Items"] if item["sk"]["S"] == ENTITY_SK)


@pytest.mark.parametrize("wide", [False, True], ids=["attributes", "one-map"])
def test_a_newer_row_without_a_feature_leaves_it_not_found_as_feast_s_dynamodb_store_does(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, wide: bool
) -> None:
    """Feast's DynamoDB store puts a view's row whole, so a feature the newer row leaves out is
    NOT_FOUND, never the older value under the newer time; so here, in both row forms. (sqlite
    upserts feature by feature and keeps the older value: Feast's stores disagree on this one.)"""
    plain = ["a", "b", "c", *(f"pad{i}" for i in range(WIDE_PADDING if wide else 0))]
    stats = FeatureView(
        name="stats",
        entities=[DRIVER],
        schema=[Field(name="driver_id", dtype=Int64), *(Field(name=n, dtype=Float64) for n in plain)],
        source=FileSource(path="/nonexistent/stats.parquet", timestamp_field="ts"),
    )
    feast_dynamodb = store(
        tmp_path / "feast", {"type": "dynamodb", "region": "us-east-1", "endpoint_url": moto_endpoint.url}
    )
    mine = ours(tmp_path, moto_endpoint, table_name)
    older = {name: ValueProto(double_val=1.0) for name in plain}
    newer = {name: ValueProto(double_val=2.0) for name in plain if name != "b"}
    newer["c"] = ValueProto()
    for fs in (feast_dynamodb, mine):
        fs.apply([DRIVER, stats])
        provider = fs._get_provider()
        provider.online_write_batch(fs.config, stats, [(key(1), older, NOW - timedelta(hours=1), None)], None)
        provider.online_write_batch(fs.config, stats, [(key(1), newer, NOW, None)], None)
    expected = response(feast_dynamodb, "stats", [1, NEVER_WRITTEN], False)
    same_response(expected, response(mine, "stats", [1, NEVER_WRITTEN], False))
    names = list(expected.metadata.feature_names.val)
    b, c = expected.results[names.index("b")], expected.results[names.index("c")]
    assert (b.statuses[0], b.values[0]) == (FieldStatus.NOT_FOUND, ValueProto())
    assert (c.statuses[0], c.values[0]) == (FieldStatus.PRESENT, ValueProto())
    same_rows(online_rows(feast_dynamodb, "stats", [1], False), online_rows(mine, "stats", [1], False))
    asyncio.run(feast_dynamodb.close())
