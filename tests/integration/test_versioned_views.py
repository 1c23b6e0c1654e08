"""Versioned feature views (``registry.enable_online_feature_view_versioning``) end to end.

Feast's sqlite store, which supports versions too, is the reference: both
stores go through the same applies and materializations, and must answer
``view@vN`` references, the latest version and the version metadata alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.repo_config import RepoConfig
from feast.types import Array, Float64, Int64, String

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.items.layout import ENTITY_SK, ts_attr
from tests.feast_objects import STORE_TYPE
from tests.servers import Endpoint

PROJECT = "versions"
DRIVERS = [1, 2, 3]
MISSING = 99


def _entity() -> Entity:
    return Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)


def _view(source: Path, version: int, legacy: bool = False) -> FeatureView:
    """``stats`` as its definition stands at each apply: every apply changes the schema (a new version).

    ``legacy``: version 0 has a feature that version 1 drops.
    """
    schema = [Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)]
    if version == 0 and legacy:
        schema.append(Field(name="legacy", dtype=Int64))
    if version >= 1:
        schema.append(Field(name="trips", dtype=Int64))
    if version >= 2:
        schema.append(Field(name="tags", dtype=Array(String)))
    return FeatureView(
        name="stats",
        entities=[_entity()],
        schema=schema,
        source=FileSource(path=str(source), timestamp_field="ts"),
        ttl=timedelta(days=1),
    )


def _write_source(path: Path, generation: int, now: datetime) -> None:
    """Source rows whose values say which generation of data they are."""
    pd.DataFrame(
        {
            "driver_id": DRIVERS,
            "ts": [now - timedelta(minutes=10 - generation)] * len(DRIVERS),
            "rate": [generation + d / 10 for d in DRIVERS],
            "legacy": [-d for d in DRIVERS],
            "trips": [100 * generation + d for d in DRIVERS],
            "tags": [[f"g{generation}", f"d{d}"] for d in DRIVERS],
        }
    ).to_parquet(path)


def _registry(path: Path) -> dict[str, Any]:
    return {"registry_type": "file", "path": str(path), "enable_online_feature_view_versioning": True}


def _ours(run_dir: Path, endpoint: Endpoint, table: str, **knobs: Any) -> FeatureStore:
    online_store = {"type": STORE_TYPE, "table_name": table, "endpoint_url": endpoint.url, **knobs}
    return _store(run_dir, {**online_store, "create_tables_if_not_exists": True})


def _sqlite(run_dir: Path) -> FeatureStore:
    return _store(run_dir, {"type": "sqlite", "path": str(run_dir / "online.db")})


def _store(run_dir: Path, online_store: dict[str, Any]) -> FeatureStore:
    """The same project and versioned registry, on either online store."""
    run_dir.mkdir(parents=True)
    return FeatureStore(
        config=RepoConfig(
            project=PROJECT,
            provider="local",
            registry=_registry(run_dir / "registry.db"),
            online_store=online_store,
            entity_key_serialization_version=3,
        )
    )


def _read(store: FeatureStore, refs: list[str], full_feature_names: bool = False) -> tuple[dict, list, list]:
    """The response as a dict, its version metadata as (view, version) pairs, and its statuses."""
    response = store.get_online_features(
        features=refs,
        entity_rows=[{"driver_id": d} for d in [*DRIVERS, MISSING]],
        full_feature_names=full_feature_names,
        include_feature_view_version_metadata=True,
    )
    metadata = [(m.name, m.version) for m in response.proto.metadata.feature_view_metadata]
    statuses = [list(vector.statuses) for vector in response.proto.results]
    return response.to_dict(), metadata, statuses


def _outcome(store: FeatureStore, refs: list[str], full_feature_names: bool) -> Any:
    """What a read answers, or the error it raises (two versions' ``rate`` collide without full names)."""
    try:
        return _read(store, refs, full_feature_names)
    except Exception as error:  # the same refusal from both stores is the same outcome
        return type(error).__name__, str(error)


# The reads the test compares, each with the first version it needs.
READS = [
    (0, ["stats:rate"]),
    (0, ["stats@v0:rate"]),
    (1, ["stats@v1:rate", "stats@v1:trips"]),
    (1, ["stats@v0:rate", "stats@v1:trips", "stats:rate"]),
    (2, ["stats:tags", "stats@v2:trips", "stats@v0:rate"]),
]


def _steps(source: Path, now: datetime, legacy: bool = False) -> list[Callable[[FeatureStore], None]]:
    """Apply v0 and materialize; apply v1 (new schema) and materialize newer data; the same for v2."""

    def version(n: int) -> Callable[[FeatureStore], None]:
        def step(store: FeatureStore) -> None:
            _write_source(source, n, now)
            store.apply([_entity(), _view(source, n, legacy)])
            store.materialize(now - timedelta(hours=1), now)

        return step

    return [version(0), version(1), version(2)]


def _namespace_ids(store: FeatureStore) -> dict[str, str]:
    engine = _online(store).engine(store.config)
    engine.ready()
    return {name: info.id for name, info in engine.names.live_namespaces(PROJECT).items()}


def test_versions_read_as_sqlite_reads_them_and_each_keeps_its_data(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ours = _ours(tmp_path / "ours", moto_endpoint, table_name)
    reference = _sqlite(tmp_path / "sqlite")
    source = tmp_path / "stats.parquet"
    seen_ids: dict[str, str] = {}
    for number, step in enumerate(_steps(source, now)):
        step(ours)
        step(reference)
        assert (ours.get_feature_view("stats").current_version_number or 0) == number
        for refs in [refs for needs, refs in READS if needs <= number]:
            for full in (False, True):
                assert _outcome(ours, refs, full) == _outcome(reference, refs, full), (number, refs, full)
        # A new version gets new ids; the older versions keep theirs.
        ids = _namespace_ids(ours)
        assert set(ids) == {"stats", *(f"stats@v{n}" for n in range(1, number + 1))}
        assert {name: ids[name] for name in seen_ids} == seen_ids
        assert len(set(ids.values())) == len(ids)
        seen_ids = ids

    # Materializing v1 and v2 left v0's rows as v0 wrote them: data generation 0.
    values, metadata, _ = _read(ours, ["stats@v0:rate", "stats@v1:trips", "stats:tags"])
    assert values["rate"] == [0.1, 0.2, 0.3, None]
    assert values["trips"] == [101, 102, 103, None]
    assert values["tags"] == [["g2", f"d{d}"] for d in DRIVERS] + [None]
    # One entry per view name, the first version read: Feast's helper fills it so (sqlite agreed above).
    assert metadata == [("stats", 0)]
    assert _read(ours, ["stats:tags"])[1] == [("stats", 2)]


def _two_versions(tmp_path: Path, endpoint: Endpoint, table: str, **knobs: Any) -> FeatureStore:
    store = _ours(tmp_path / "ours", endpoint, table, **knobs)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for step in _steps(tmp_path / "stats.parquet", now)[:2]:
        step(store)
    return store


def _read_both_versions(store: FeatureStore) -> None:
    assert _read(store, ["stats@v0:rate"])[0]["rate"] == [0.1, 0.2, 0.3, None]
    assert _read(store, ["stats@v1:rate"])[0]["rate"] == [1.1, 1.2, 1.3, None]


def _online(store: FeatureStore) -> ChalkDynamoOnlineStore:
    online = store._get_provider().online_store
    assert isinstance(online, ChalkDynamoOnlineStore)
    return online


def test_a_cached_view_has_a_cache_per_version(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    ours = _two_versions(tmp_path, moto_endpoint, table_name, cached_namespaces=[{"namespace": "stats"}])
    for _ in range(2):  # the second round is answered from the caches
        _read_both_versions(ours)
    counters = _online(ours).namespace_counters(ours.config)
    assert counters["stats"]["cache_hits"] == counters["stats@v1"]["cache_hits"] == len(DRIVERS)
    assert counters["stats"]["negative_hits"] == counters["stats@v1"]["negative_hits"] == 1


def test_a_pinned_version_resolves_its_layout_once(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feast builds a new view object for ``view@vN`` for every list of references it resolves (and
    after every registry refresh): the layout is memoised by the version's definition, and each
    version still reads its own rows."""
    ours = _two_versions(tmp_path, moto_endpoint, table_name)
    online = _online(ours)
    resolved: list[str] = []
    resolve = online._resolve_layout

    def counted(engine: Any, project: str, namespace: str, *rest: Any) -> Any:
        resolved.append(namespace)
        return resolve(engine, project, namespace, *rest)

    monkeypatch.setattr(online, "_resolve_layout", counted)
    for others in ([], ["stats@v0:rate"], ["stats:trips"], ["stats@v0:rate", "stats:trips"]):
        values, _, _ = _read(ours, ["stats@v1:rate", *others], full_feature_names=True)
        assert values["stats@v1__rate"] == [1.1, 1.2, 1.3, None]
        assert values.get("stats@v0__rate", [0.1, 0.2, 0.3, None]) == [0.1, 0.2, 0.3, None]
        assert values.get("stats__trips", [101, 102, 103, None]) == [101, 102, 103, None]
    # Once per version and requested features: v1's rate, v0's rate, and the current version's trips.
    assert sorted(resolved) == ["stats", "stats@v1", "stats@v1"]


def test_a_filtered_view_has_a_filter_per_version(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    ours = _two_versions(tmp_path, moto_endpoint, table_name, bloom_filters=[{"namespace": "stats"}])
    online = _online(ours)
    _read_both_versions(ours)  # starts loading each version's filter
    blooms = online.engine(ours.config).blooms
    assert blooms is not None and blooms.wait_loaded(30)
    _read_both_versions(ours)
    counters = online.namespace_counters(ours.config)
    # The unwritten driver, skipped by each version's filter in the second round (or both).
    assert counters["stats"]["bloom_skips"] >= 1 and counters["stats@v1"]["bloom_skips"] >= 1


def test_removing_a_view_removes_every_version(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    ours = _two_versions(tmp_path, moto_endpoint, table_name)
    ids = _namespace_ids(ours)
    assert set(ids) == {"stats", "stats@v1"}
    stored = [ts_attr(namespace_id) for namespace_id in ids.values()]
    assert all(any(attr in item for item in _entity_items(moto_endpoint, table_name)) for attr in stored)
    ours.apply([], objects_to_delete=[ours.get_feature_view("stats")], partial=False)
    assert _namespace_ids(ours) == {}
    assert not any(attr in item for item in _entity_items(moto_endpoint, table_name) for attr in stored)


def _entity_items(endpoint: Endpoint, table: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", endpoint_url=endpoint.url, region_name="us-east-1")
    pages = client.get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page["Items"] if item["sk"]["S"] == ENTITY_SK]


def test_an_unchanged_apply_that_resets_the_version_keeps_version_0_s_features(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    """Feast 0.67 sets the current version back to 0 when an unchanged view is applied again, so
    version 0's namespace is registered with the current schema; it must not lose its own features."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    source = tmp_path / "stats.parquet"
    ours = _ours(tmp_path / "ours", moto_endpoint, table_name)
    reference = _sqlite(tmp_path / "sqlite")
    for step in _steps(source, now, legacy=True)[:2]:
        step(ours)
        step(reference)
    for store in (ours, reference):
        store.apply([_entity(), _view(source, 1)])
        assert not store.get_feature_view("stats").current_version_number  # Feast's reset
    # `stats:trips` reads version 0's rows, written before trips joined: NOT_FOUND in both stores.
    for refs in (
        ["stats@v0:legacy", "stats@v0:rate"],
        ["stats:rate", "stats:trips"],
        ["stats@v1:trips", "stats@v1:rate"],
    ):
        assert _outcome(ours, refs, True) == _outcome(reference, refs, True), refs
    assert _read(ours, ["stats@v0:legacy"])[0]["legacy"] == [-1, -2, -3, None]
