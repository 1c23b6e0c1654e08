"""The cache benchmark's data: many drivers x 5 views of 14 mixed-type features.

What a namespace cache saves is the decoding as much as the round trip, and
lists, maps and strings cost far more to decode than numbers; so each view
mixes floats, counts, labels, a list of ints, a list of strings and a map, as
a real driver-stats repo does. The rows reach every store as the same protos:
written to parquet and converted by Feast's own converter
(``write_dataset.write_rows``), once per view, then handed to each store's
``online_write_batch``, so loading thousands of drivers converts them once, not
once per store.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]  # no stubs among the extras
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.repo_config import RepoConfig
from feast.types import Array, Float64, Int64, Map, String

from benchmarks import write_dataset
from benchmarks.dataset import JOIN_KEY, N_VIEWS
from benchmarks.write_dataset import CITIES, TAGS, TIERS

FIRST_DRIVER_ID = 3_000_000
# Drivers that are never written: the absent half of the absent-keys scenario.
# A pool this large keeps repeats rare, so a Bloom filter's false-positive
# rate is measured over many distinct keys, not the same few again.
FIRST_ABSENT_ID = 10_000_000
ABSENT_POOL = 1_000_000


def view_names() -> list[str]:
    return [f"c{i}" for i in range(N_VIEWS)]


def feature_fields() -> list[Field]:
    """14 features: 6 Float64, 3 Int64, 2 String, Array(Int64), Array(String), Map."""
    return [
        *(Field(name=f"f{i}", dtype=Float64) for i in range(6)),
        *(Field(name=f"n{i}", dtype=Int64) for i in range(3)),
        Field(name="tier", dtype=String),
        Field(name="city", dtype=String),
        Field(name="trips_by_hour", dtype=Array(Int64)),
        Field(name="tags", dtype=Array(String)),
        Field(name="attrs", dtype=Map),
    ]


def feature_refs(views: list[str]) -> list[str]:
    return [f"{view}:{field.name}" for view in views for field in feature_fields()]


def definitions(data_dir: Path) -> tuple[Entity, list[FeatureView]]:
    """Fresh objects on every call (``FeatureStore.apply`` mutates what it is given)."""
    driver = Entity(name="driver", join_keys=[JOIN_KEY], value_type=ValueType.INT64)
    views = [
        FeatureView(
            name=name,
            entities=[driver],
            schema=[Field(name=JOIN_KEY, dtype=Int64), *feature_fields()],
            source=FileSource(
                path=str(write_dataset.parquet_path(data_dir, name)),
                timestamp_field=write_dataset.TIMESTAMP_FIELD,
                created_timestamp_column=write_dataset.CREATED_FIELD,
            ),
            # Far longer than the data's age: every row reads as live during the run.
            ttl=timedelta(days=365),
        )
        for name in view_names()
    ]
    return driver, views


def applied_store(config: RepoConfig, data_dir: Path) -> FeatureStore:
    store = FeatureStore(config=config)
    driver, views = definitions(data_dir)
    store.apply([driver, *views])
    return store


def driver_ids(n_entities: int) -> list[int]:
    return list(range(FIRST_DRIVER_ID, FIRST_DRIVER_ID + n_entities))


def _row(rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {f"f{i}": rng.uniform(-1000, 1000) for i in range(6)}
    values.update({f"n{i}": rng.randrange(1_000_000) for i in range(3)})
    values["tier"] = rng.choice(TIERS)
    values["city"] = rng.choice(CITIES)
    values["trips_by_hour"] = [rng.randrange(12) for _ in range(rng.randint(4, 12))]
    values["tags"] = rng.sample(TAGS, rng.randint(1, 4))
    # A JSON object per row, as write_dataset explains: what Feast's converter
    # accepts for a Map from a file. Mixed value types on purpose.
    values["attrs"] = json.dumps(
        {"score": round(rng.uniform(0, 5), 2), "band": rng.choice("abcde"), "trips_7d": rng.randrange(200)}
    )
    return values


def frame(ids: list[int], rng: random.Random, now: datetime) -> pd.DataFrame:
    """One view's rows, a row per driver of ``ids``, event times within the hour before ``now``."""
    spread = int(write_dataset.EVENT_SPREAD.total_seconds())
    events = [now - timedelta(seconds=rng.randrange(spread)) for _ in ids]
    rows = [_row(rng) for _ in ids]
    columns: dict[str, Any] = {
        JOIN_KEY: ids,
        write_dataset.TIMESTAMP_FIELD: events,
        write_dataset.CREATED_FIELD: [event + timedelta(seconds=1) for event in events],
    }
    for feature in rows[0]:
        columns[feature] = [row[feature] for row in rows]
    return pd.DataFrame(columns)


def view_rows(
    data_dir: Path, views: list[FeatureView], ids: list[int], seed: int
) -> Iterator[tuple[FeatureView, list[write_dataset.Row]]]:
    """Each view with its rows as ``online_write_batch`` takes them, one view at a time.

    One view at a time so that the drivers' protos for one view, not all
    five, are in memory at once.
    """
    rng = random.Random(seed)
    now = write_dataset.utc_now()
    for view in views:
        write_dataset.write_parquet(data_dir, {view.name: frame(ids, rng, now)})
        yield view, write_dataset.write_rows(data_dir, [view])[view.name]
