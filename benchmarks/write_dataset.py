"""The write benchmark's data: 5 views of 20 mixed-type features, as parquet and as Feast rows.

Reads are dominated by floats; what a write costs depends as much on lists,
maps and strings (their encoding, and the item size DynamoDB charges on), so
each view mixes the types a real driver-stats repo has. The same data exists
twice: as parquet files for ``FeatureStore.materialize``, and as the rows
``online_write_batch`` receives, converted once by Feast's own converter from
those very files, so every store is handed identical protos.
"""

from __future__ import annotations

import json
import random
import string
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]  # no stubs among the extras
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs among the extras
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.types import Array, Float64, Int64, Map, String
from feast.utils import _convert_arrow_to_proto

from benchmarks import dataset
from benchmarks.dataset import OUR_TYPE, REGION

PROJECT = "bench_write"
OUR_TABLE = "bench-write-chalk"
JOIN_KEY = "driver_id"
TIMESTAMP_FIELD = "event_timestamp"
CREATED_FIELD = "created"
N_VIEWS = 5
FIRST_DRIVER_ID = 2_000_000
# Event times lie within this window before "now"; materialize asks for a slightly wider one.
EVENT_SPREAD = timedelta(hours=1)

TIERS = ("gold", "silver", "bronze", "new")
CITIES = ("Lisbon", "Porto", "Madrid", "Berlin", "Austin", "Osaka", "Lagos")
TAGS = ("ev", "hybrid", "xl", "pet-friendly", "wheelchair", "premium", "quiet")
ID_ALPHABET = string.ascii_lowercase + string.digits

# Feast's rows for online_write_batch: entity key, values, event time, created time.
Row = tuple[EntityKeyProto, dict[str, ValueProto], datetime, "datetime | None"]


def view_names() -> list[str]:
    return [f"w{i}" for i in range(N_VIEWS)]


def feature_fields() -> list[Field]:
    """20 features: 10 Float64, 3 Int64, 3 String, 2 Array(Float64), 1 Array(String), 1 Map."""
    return [
        *(Field(name=f"f{i}", dtype=Float64) for i in range(10)),
        *(Field(name=f"n{i}", dtype=Int64) for i in range(3)),
        Field(name="tier", dtype=String),
        Field(name="city", dtype=String),
        Field(name="last_trip_id", dtype=String),
        Field(name="recent_speeds", dtype=Array(Float64)),
        Field(name="recent_fares", dtype=Array(Float64)),
        Field(name="tags", dtype=Array(String)),
        Field(name="attrs", dtype=Map),
    ]


def parquet_path(data_dir: Path, view: str) -> Path:
    return data_dir / f"{view}.parquet"


def definitions(data_dir: Path) -> tuple[Entity, list[FeatureView]]:
    """Fresh objects on every call (``FeatureStore.apply`` mutates what it is given)."""
    driver = Entity(name="driver", join_keys=[JOIN_KEY], value_type=ValueType.INT64)
    views = [
        FeatureView(
            name=name,
            entities=[driver],
            schema=[Field(name=JOIN_KEY, dtype=Int64), *feature_fields()],
            source=FileSource(
                path=str(parquet_path(data_dir, name)),
                timestamp_field=TIMESTAMP_FIELD,
                created_timestamp_column=CREATED_FIELD,
            ),
            # Far longer than the data's age: nothing is filtered out as expired.
            ttl=timedelta(days=365),
        )
        for name in view_names()
    ]
    return driver, views


def driver_ids(n_entities: int) -> list[int]:
    return list(range(FIRST_DRIVER_ID, FIRST_DRIVER_ID + n_entities))


def _row_values(rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {f"f{i}": rng.uniform(-1000, 1000) for i in range(10)}
    values.update({f"n{i}": rng.randrange(1_000_000) for i in range(3)})
    values["tier"] = rng.choice(TIERS)
    values["city"] = rng.choice(CITIES)
    values["last_trip_id"] = "trip_" + "".join(rng.choices(ID_ALPHABET, k=15))
    values["recent_speeds"] = [round(rng.uniform(0, 130), 3) for _ in range(rng.randint(3, 8))]
    values["recent_fares"] = [round(rng.uniform(3, 80), 2) for _ in range(rng.randint(3, 8))]
    values["tags"] = rng.sample(TAGS, rng.randint(1, 4))
    # Parquet map<> columns reach Feast as (key, value) pairs, which its MAP
    # conversion rejects; a JSON object per row is what it accepts from files
    # (feature_repo_example does the same). Mixed value types on purpose.
    values["attrs"] = json.dumps({"score": round(rng.uniform(0, 5), 2), "band": rng.choice("abcde")})
    return values


def frames(n_entities: int, seed: int, now: datetime) -> dict[str, pd.DataFrame]:
    """One DataFrame per view, a row per driver, event times within the hour before ``now``."""
    rng = random.Random(seed)
    ids = driver_ids(n_entities)
    result = {}
    for name in view_names():
        events = [now - timedelta(seconds=rng.randrange(int(EVENT_SPREAD.total_seconds()))) for _ in ids]
        rows = [_row_values(rng) for _ in ids]
        columns: dict[str, Any] = {
            JOIN_KEY: ids,
            TIMESTAMP_FIELD: events,
            CREATED_FIELD: [event + timedelta(seconds=1) for event in events],
        }
        for feature in rows[0]:
            columns[feature] = [row[feature] for row in rows]
        result[name] = pd.DataFrame(columns)
    return result


def write_parquet(data_dir: Path, data: dict[str, pd.DataFrame]) -> None:
    """The materialize sources, one file per view, with timestamps in UTC microseconds."""
    for name, frame in data.items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for column in (TIMESTAMP_FIELD, CREATED_FIELD):
            index = table.schema.get_field_index(column)
            table = table.set_column(index, column, table.column(column).cast(pa.timestamp("us", tz="UTC")))
        pq.write_table(table, parquet_path(data_dir, name))


def write_rows(data_dir: Path, views: list[FeatureView]) -> dict[str, list[Row]]:
    """Each view's rows as ``online_write_batch`` gets them, read back from its parquet file.

    Converted by the same Feast function the local materialization engine
    calls (``feast.utils._convert_arrow_to_proto``), so the protos, the
    timestamps and the created column are what ``materialize`` would hand over.
    """
    rows = {}
    for view in views:
        table = pq.read_table(parquet_path(data_dir, view.name))
        join_keys = {column.name: column.dtype.to_value_type() for column in view.entity_columns}
        rows[view.name] = _convert_arrow_to_proto(table, view, join_keys)
    return rows


def materialize_window(now: datetime) -> tuple[datetime, datetime]:
    """A window holding every event time of ``frames(now=now)``."""
    return now - EVENT_SPREAD - timedelta(minutes=5), now + timedelta(minutes=1)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


# -- configurations -------------------------------------------------------------------------------


def our_config(registry: Path, endpoint_url: str, table: str = OUR_TABLE, **knobs: Any) -> RepoConfig:
    """This store; ``knobs`` go into the online_store section (pydantic rejects unknown ones)."""
    return repo_config(
        registry,
        {
            "type": OUR_TYPE,
            "table_name": table,
            "endpoint_url": endpoint_url,
            "create_tables_if_not_exists": True,
            **knobs,
        },
    )


def feast_config(registry: Path, endpoint_url: str) -> RepoConfig:
    """Feast's built-in store: one table per view, ``<project>.<view>``, created on apply."""
    return repo_config(registry, {"type": "dynamodb", "region": REGION, "endpoint_url": endpoint_url})


def discard_config(registry: Path) -> RepoConfig:
    """An online store that drops what it is given: Feast's materialize pipeline alone."""
    return repo_config(registry, {"type": "benchmarks.discard_store.DiscardOnlineStore"})


def repo_config(registry: Path, online_store: dict[str, Any], project: str = PROJECT) -> RepoConfig:
    return dataset.repo_config(registry, online_store, project)


def applied_store(config: RepoConfig, data_dir: Path) -> FeatureStore:
    store = FeatureStore(config=config)
    driver, views = definitions(data_dir)
    store.apply([driver, *views])
    return store
