"""The benchmark's data set and the two FeatureStores that serve it.

Both stores get the same Feast definitions and the same rows, written through
``FeatureStore.write_to_online_store``, so any difference in read latency comes
from the online store and not from what it holds.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]  # no stubs among the extras
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.types import Float64, Int64, String

PROJECT = "bench"
REGION = "us-east-1"
OUR_TABLE = "bench-chalk"
OUR_TYPE = "feast_chalk_dynamo.ChalkDynamoOnlineStore"
JOIN_KEY = "driver_id"
N_VIEWS = 5
# 20 features per view, mixed as real driver stats are: mostly floats, some counts, one label.
N_FLOATS, N_INTS, N_STRINGS = 16, 3, 1
FIRST_DRIVER_ID = 1_000_000

# Forced, not setdefault: with real credentials in the environment a store
# that dropped its endpoint_url would reach AWS. Same values as tests/conftest.py.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
REAL_AWS_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def use_fake_aws_credentials() -> None:
    os.environ.update(FAKE_AWS_ENV)
    for name in REAL_AWS_ENV:
        os.environ.pop(name, None)


def view_names() -> list[str]:
    return [f"v{i}" for i in range(N_VIEWS)]


def feature_names() -> list[str]:
    return (
        [f"f{i}" for i in range(N_FLOATS)]
        + [f"n{i}" for i in range(N_INTS)]
        + [f"s{i}" for i in range(N_STRINGS)]
    )


def definitions() -> tuple[Entity, list[FeatureView]]:
    """Fresh objects on every call: ``FeatureStore.apply`` mutates what it is given."""
    driver = Entity(name="driver", join_keys=[JOIN_KEY], value_type=ValueType.INT64)
    schema = [Field(name=JOIN_KEY, dtype=Int64)]
    schema += [Field(name=f"f{i}", dtype=Float64) for i in range(N_FLOATS)]
    schema += [Field(name=f"n{i}", dtype=Int64) for i in range(N_INTS)]
    schema += [Field(name=f"s{i}", dtype=String) for i in range(N_STRINGS)]
    views = [
        FeatureView(
            name=name,
            entities=[driver],
            schema=list(schema),
            source=FileSource(path=f"/nonexistent/{name}.parquet", timestamp_field="event_timestamp"),
            # Far longer than the data's age, so every row reads as live during the run.
            ttl=timedelta(days=365),
        )
        for name in view_names()
    ]
    return driver, views


def driver_ids(n_entities: int) -> list[int]:
    return list(range(FIRST_DRIVER_ID, FIRST_DRIVER_ID + n_entities))


def frames(n_entities: int, seed: int) -> dict[str, pd.DataFrame]:
    """One DataFrame per view with a row per driver, event time a few minutes ago."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ids = driver_ids(n_entities)
    result = {}
    for name in view_names():
        columns: dict[str, Any] = {
            JOIN_KEY: ids,
            "event_timestamp": [now - timedelta(minutes=rng.randrange(60)) for _ in ids],
        }
        for i in range(N_FLOATS):
            columns[f"f{i}"] = [rng.uniform(-1000, 1000) for _ in ids]
        for i in range(N_INTS):
            columns[f"n{i}"] = [rng.randrange(1_000_000) for _ in ids]
        for i in range(N_STRINGS):
            columns[f"s{i}"] = [rng.choice(["gold", "silver", "bronze", "new"]) for _ in ids]
        result[name] = pd.DataFrame(columns)
    return result


def our_config(tmp_dir: Path, endpoint_url: str, **knobs: Any) -> RepoConfig:
    """This store; extra ``knobs`` (e.g. racing) go into the online_store section."""
    return repo_config(
        tmp_dir / "registry-ours.db",
        {
            "type": OUR_TYPE,
            "table_name": OUR_TABLE,
            "endpoint_url": endpoint_url,
            "create_tables_if_not_exists": True,
            **knobs,
        },
    )


def feast_config(tmp_dir: Path, endpoint_url: str) -> RepoConfig:
    """Feast's built-in store: one table per view, ``<project>.<view>``, created on apply."""
    return repo_config(
        tmp_dir / "registry-feast.db",
        {"type": "dynamodb", "region": REGION, "endpoint_url": endpoint_url},
    )


def repo_config(registry: Path, online_store: dict[str, Any], project: str = PROJECT) -> RepoConfig:
    # materialization_config left at its default: online_write_batch_size None
    # hands each view's rows to the online store in one call, as a user gets.
    return RepoConfig(
        project=project,
        provider="local",
        registry=str(registry),
        online_store=online_store,
        entity_key_serialization_version=3,
    )


def applied_store(config: RepoConfig) -> FeatureStore:
    store = FeatureStore(config=config)
    driver, views = definitions()
    store.apply([driver, *views])
    return store


def load(store: FeatureStore, data: dict[str, pd.DataFrame], log: Callable[[str], None]) -> None:
    for name, frame in data.items():
        store.write_to_online_store(name, frame)
        log(f"  {name}: {len(frame)} rows")


def entity_key(driver_id: int) -> EntityKeyProto:
    return EntityKeyProto(join_keys=[JOIN_KEY], entity_values=[ValueProto(int64_val=driver_id)])


def feature_refs(views: list[str]) -> list[str]:
    return [f"{view}:{feature}" for view in views for feature in feature_names()]


def online_store(store: FeatureStore) -> Any:
    """The store's OnlineStore object, for calling ``online_read`` directly."""
    return store._get_provider().online_store


def close(store: FeatureStore) -> None:
    """Release the online store's clients and pools (Feast's public, async, close)."""
    asyncio.run(store.close())
