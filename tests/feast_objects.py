"""Real Feast objects for the integration tests: a repo config, entities and views."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.repo_config import RepoConfig
from feast.types import Array, Float32, Float64, Int64, String

STORE_TYPE = "feast_chalk_dynamo.ChalkDynamoOnlineStore"

DRIVER = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)


def repo_config(
    tmp_path: Path,
    endpoint_url: str,
    table: str,
    project: str = "proj",
    registry: dict[str, Any] | None = None,
    **knobs: Any,
) -> RepoConfig:
    """A repo on this store; ``registry``: its section, else a file registry of its own in ``tmp_path``."""
    return RepoConfig(
        project=project,
        provider="local",
        registry=registry or str(tmp_path / f"registry-{project}.db"),
        online_store={
            "type": STORE_TYPE,
            "table_name": table,
            "endpoint_url": endpoint_url,
            "create_tables_if_not_exists": True,
            **knobs,
        },
        entity_key_serialization_version=3,
    )


def driver_view(name: str, n_features: int = 3, ttl: timedelta | None = timedelta(days=1)) -> FeatureView:
    """A view of ``n_features`` Float64 features f0..fN plus a string list."""
    schema = [Field(name="driver_id", dtype=Int64)]
    schema += [Field(name=f"f{i}", dtype=Float64) for i in range(n_features)]
    schema += [Field(name="tags", dtype=Array(String)), Field(name="rate", dtype=Float32)]
    return FeatureView(
        name=name,
        entities=[DRIVER],
        schema=schema,
        source=FileSource(path=f"/nonexistent/{name}.parquet", timestamp_field="ts"),
        ttl=ttl,
    )


def feature_store(config: RepoConfig, *objects: Any) -> FeatureStore:
    store = FeatureStore(config=config)
    store.apply([DRIVER, *objects])
    return store
