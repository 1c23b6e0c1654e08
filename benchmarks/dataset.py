"""The benchmark's data sets and the two FeatureStores that serve them.

Both stores get the same Feast definitions and the same rows, written through
``FeatureStore.write_to_online_store``, so any difference in read latency comes
from the online store and not from what it holds.

Two data sets, each 5 views of 20 features on its own drivers:

* ``mixed`` (the main one): what a real driver-stats repo holds, floats and
  counts beside labels, an id, lists of ints, floats and strings and a map.
  Lists, maps and strings cost a store far more to decode than numbers, so a
  benchmark of numbers alone flatters whichever store decodes numbers fastest
  (an outside run found this store 0.85x of Feast's where numbers said 0.58x).
* ``numeric``: 16 floats, 3 ints and one short label per view, the original
  benchmark's data, kept to show the numeric path on its own.
"""

from __future__ import annotations

import asyncio
import os
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]  # no stubs among the extras
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.types import Array, FeastType, Float64, Int64, Map, String

PROJECT = "bench"
REGION = "us-east-1"
OUR_TABLE = "bench-chalk"
OUR_TYPE = "feast_chalk_dynamo.ChalkDynamoOnlineStore"
JOIN_KEY = "driver_id"
N_VIEWS = 5

TIERS = ("gold", "silver", "bronze", "new")
CITIES = ("Lisbon", "Porto", "Madrid", "Berlin", "Austin", "Osaka", "Lagos")
TAGS = ("ev", "hybrid", "xl", "pet-friendly", "wheelchair", "premium", "quiet")
ID_ALPHABET = string.ascii_lowercase + string.digits

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


# -- the data sets --------------------------------------------------------------------------------


def _numeric_row(rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {f"f{i}": rng.uniform(-1000, 1000) for i in range(16)}
    values.update({f"n{i}": rng.randrange(1_000_000) for i in range(3)})
    values["s0"] = rng.choice(TIERS)
    return values


def _mixed_row(rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {f"f{i}": rng.uniform(-1000, 1000) for i in range(10)}
    values.update({f"n{i}": rng.randrange(1_000_000) for i in range(3)})
    values["tier"] = rng.choice(TIERS)
    values["city"] = rng.choice(CITIES)
    values["last_trip_id"] = "trip_" + "".join(rng.choices(ID_ALPHABET, k=15))
    values["trips_by_hour"] = [rng.randrange(12) for _ in range(rng.randint(4, 12))]
    values["recent_fares"] = [round(rng.uniform(3, 80), 2) for _ in range(rng.randint(3, 8))]
    values["tags"] = rng.sample(TAGS, rng.randint(1, 4))
    # Mixed value types on purpose: a map's values are self-describing Values.
    values["attrs"] = {
        "score": round(rng.uniform(0, 5), 2),
        "band": rng.choice("abcde"),
        "trips_7d": rng.randrange(200),
    }
    return values


@dataclass(frozen=True)
class DataSet:
    """One data set: its views' schema, how a row is drawn, and whose drivers it is written for.

    Each data set has its own view names and its own range of driver ids, so
    one table can hold both without an item carrying the other set's features.
    """

    name: str
    summary: str
    view_prefix: str
    first_driver_id: int
    schema: tuple[tuple[str, FeastType], ...]
    draw_row: Callable[[random.Random], dict[str, Any]]

    def view_names(self) -> list[str]:
        return [f"{self.view_prefix}{i}" for i in range(N_VIEWS)]

    def feature_names(self) -> list[str]:
        return [name for name, _ in self.schema]

    def feature_refs(self, views: list[str]) -> list[str]:
        return [f"{view}:{feature}" for view in views for feature in self.feature_names()]

    def driver_ids(self, n_entities: int) -> list[int]:
        return list(range(self.first_driver_id, self.first_driver_id + n_entities))

    def views(self, driver: Entity) -> list[FeatureView]:
        fields = [Field(name=JOIN_KEY, dtype=Int64)] + [Field(name=n, dtype=t) for n, t in self.schema]
        return [
            FeatureView(
                name=name,
                entities=[driver],
                schema=fields,
                source=FileSource(path=f"/nonexistent/{name}.parquet", timestamp_field="event_timestamp"),
                # Far longer than the data's age, so every row reads as live during the run.
                ttl=timedelta(days=365),
            )
            for name in self.view_names()
        ]

    def frames(self, n_entities: int, seed: int) -> dict[str, pd.DataFrame]:
        """One DataFrame per view with a row per driver, event time a few minutes ago."""
        rng = random.Random(seed)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        ids = self.driver_ids(n_entities)
        result = {}
        for name in self.view_names():
            rows = [self.draw_row(rng) for _ in ids]
            columns: dict[str, Any] = {
                JOIN_KEY: ids,
                "event_timestamp": [now - timedelta(minutes=rng.randrange(60)) for _ in ids],
            }
            for feature in self.feature_names():
                columns[feature] = [row[feature] for row in rows]
            result[name] = pd.DataFrame(columns)
        return result


MIXED = DataSet(
    name="mixed",
    summary="10 floats, 3 ints, 3 strings, a list of ints, of floats and of strings, a map",
    view_prefix="m",
    first_driver_id=1_000_000,
    schema=(
        *((f"f{i}", Float64) for i in range(10)),
        *((f"n{i}", Int64) for i in range(3)),
        ("tier", String),
        ("city", String),
        ("last_trip_id", String),
        ("trips_by_hour", Array(Int64)),
        ("recent_fares", Array(Float64)),
        ("tags", Array(String)),
        ("attrs", Map),
    ),
    draw_row=_mixed_row,
)
NUMERIC = DataSet(
    name="numeric",
    summary="16 floats, 3 ints, 1 string",
    view_prefix="v",
    first_driver_id=3_000_000,
    schema=(
        *((f"f{i}", Float64) for i in range(16)),
        *((f"n{i}", Int64) for i in range(3)),
        ("s0", String),
    ),
    draw_row=_numeric_row,
)
DATA_SETS = {data.name: data for data in (MIXED, NUMERIC)}


def definitions(data_sets: list[DataSet]) -> tuple[Entity, list[FeatureView]]:
    """Fresh objects on every call: ``FeatureStore.apply`` mutates what it is given."""
    driver = Entity(name="driver", join_keys=[JOIN_KEY], value_type=ValueType.INT64)
    return driver, [view for data in data_sets for view in data.views(driver)]


# -- the stores -----------------------------------------------------------------------------------


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


def applied_store(config: RepoConfig, data_sets: list[DataSet]) -> FeatureStore:
    store = FeatureStore(config=config)
    driver, views = definitions(data_sets)
    store.apply([driver, *views])
    return store


def load(store: FeatureStore, data: dict[str, pd.DataFrame], log: Callable[[str], None]) -> None:
    for name, frame in data.items():
        store.write_to_online_store(name, frame)
        log(f"  {name}: {len(frame)} rows")


def entity_key(driver_id: int) -> EntityKeyProto:
    return EntityKeyProto(join_keys=[JOIN_KEY], entity_values=[ValueProto(int64_val=driver_id)])


def online_store(store: FeatureStore) -> Any:
    """The store's OnlineStore object, for calling ``online_read`` directly."""
    return store._get_provider().online_store


def close(store: FeatureStore) -> None:
    """Release the online store's clients and pools (Feast's public, async, close)."""
    asyncio.run(store.close())
