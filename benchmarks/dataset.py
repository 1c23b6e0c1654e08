"""The benchmarks' data: drivers with views of mixed-type features, and the drivers each request asks for.

Every benchmark draws from here, so they all measure the same kind of data:
what a real driver-stats repo holds, floats and counts beside labels, an id,
lists of ints, floats and strings and a map. Lists, maps and strings cost a
store far more to decode, encode and bill than numbers, so a benchmark of
numbers alone flatters whichever store decodes numbers fastest (an outside
run found this store 0.85x of Feast's where numbers said 0.58x).

What a benchmark varies is an argument, not a copy: views, features per view
(``mixed``), drivers written and the seed (``DataSet.write_sources``), and the
drivers of each request (``uniform_draws``, ``zipf_draws``). ``NUMERIC``, the
read benchmark's original all-number rows, is kept to show the numeric path
on its own.

The rows exist as parquet files, one per view (what ``materialize`` reads),
and as the rows ``online_write_batch`` takes, converted from those files by
Feast's own converter (``feast_rows``), so every store is handed identical
protos and a benchmark that loads several stores converts once.
"""

from __future__ import annotations

import json
import random
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs among the extras
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs among the extras
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.types import Array, FeastType, Float64, Int64, Map, String
from feast.utils import _convert_arrow_to_proto

JOIN_KEY = "driver_id"
TIMESTAMP_FIELD = "event_timestamp"
CREATED_FIELD = "created"
N_VIEWS = 5
# Event times lie within this window before "now"; materialize asks for a slightly wider one.
EVENT_SPREAD = timedelta(hours=1)
# Drivers that are never written: requests for absent keys draw from here. A pool this
# large keeps repeats rare, so a Bloom filter's false-positive rate is measured over many
# distinct keys, not the same few again.
ABSENT_DRIVER_IDS = range(10_000_000, 11_000_000)

TIERS = ("gold", "silver", "bronze", "new")
CITIES = ("Lisbon", "Porto", "Madrid", "Berlin", "Austin", "Osaka", "Lagos")
TAGS = ("ev", "hybrid", "xl", "pet-friendly", "wheelchair", "premium", "quiet")
ID_ALPHABET = string.ascii_lowercase + string.digits

# Feast's rows for online_write_batch: entity key, values, event time, created time.
Row = tuple[EntityKeyProto, dict[str, ValueProto], datetime, "datetime | None"]


@dataclass(frozen=True)
class Feature:
    """One feature of every view of a data set: its name, its type, and how a value is drawn."""

    name: str
    dtype: FeastType
    draw: Callable[[random.Random], Any]


def _float(rng: random.Random) -> float:
    return rng.uniform(-1000, 1000)


def _count(rng: random.Random) -> int:
    return rng.randrange(1_000_000)


def _tier(rng: random.Random) -> str:
    return rng.choice(TIERS)


def _attrs(rng: random.Random) -> str:
    # Parquet map<> columns reach Feast as (key, value) pairs, which its MAP conversion
    # rejects; a JSON object per row is what it accepts from files (feature_repo_example
    # does the same). Mixed value types on purpose: a map's values are self-describing.
    return json.dumps(
        {"score": round(rng.uniform(0, 5), 2), "band": rng.choice("abcde"), "trips_7d": rng.randrange(200)}
    )


# Every mixed view has these; floats make up the rest of its features.
_NOT_FLOATS = (
    *(Feature(f"n{i}", Int64, _count) for i in range(3)),
    Feature("tier", String, _tier),
    Feature("city", String, lambda rng: rng.choice(CITIES)),
    Feature("last_trip_id", String, lambda rng: "trip_" + "".join(rng.choices(ID_ALPHABET, k=15))),
    Feature(
        "trips_by_hour", Array(Int64), lambda rng: [rng.randrange(12) for _ in range(rng.randint(4, 12))]
    ),
    Feature(
        "recent_fares",
        Array(Float64),
        lambda rng: [round(rng.uniform(3, 80), 2) for _ in range(rng.randint(3, 8))],
    ),
    Feature("tags", Array(String), lambda rng: rng.sample(TAGS, rng.randint(1, 4))),
    Feature("attrs", Map, _attrs),
)


@dataclass(frozen=True)
class DataSet:
    """Views of the same features over a range of drivers; how their rows are drawn.

    Each data set has its own view names and its own range of driver ids, so
    one table can hold several without an item carrying another's features.
    """

    name: str
    view_prefix: str
    first_driver_id: int
    features: tuple[Feature, ...]
    n_views: int = N_VIEWS

    @property
    def summary(self) -> str:
        """The features of one view by type, e.g. ``10 Float64, 3 Int64, ..., 1 Map``."""
        counts = Counter(str(feature.dtype) for feature in self.features)
        return ", ".join(f"{count} {dtype}" for dtype, count in counts.items())

    def view_names(self) -> list[str]:
        return [f"{self.view_prefix}{i}" for i in range(self.n_views)]

    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def feature_refs(self, views: Sequence[str]) -> list[str]:
        return [f"{view}:{feature}" for view in views for feature in self.feature_names()]

    def driver_ids(self, n_entities: int) -> list[int]:
        return list(range(self.first_driver_id, self.first_driver_id + n_entities))

    def views(self, driver: Entity, data_dir: Path) -> list[FeatureView]:
        """The views, each reading its parquet file in ``data_dir`` (``write_sources``)."""
        fields = [
            Field(name=JOIN_KEY, dtype=Int64),
            *(Field(name=f.name, dtype=f.dtype) for f in self.features),
        ]
        return [
            FeatureView(
                name=name,
                entities=[driver],
                schema=fields,
                source=FileSource(
                    path=str(parquet_path(data_dir, name)),
                    timestamp_field=TIMESTAMP_FIELD,
                    created_timestamp_column=CREATED_FIELD,
                ),
                # Far longer than the data's age: every row reads as live, nothing is filtered as expired.
                ttl=timedelta(days=365),
            )
            for name in self.view_names()
        ]

    def write_sources(self, data_dir: Path, ids: Sequence[int], seed: int, now: datetime) -> None:
        """Each view's parquet file: a row per driver of ``ids``, event times in the hour before ``now``.

        One view at a time, so that the rows of one view, not all of them, are in memory at once.
        """
        rng = random.Random(seed)
        spread = int(EVENT_SPREAD.total_seconds())
        for name in self.view_names():
            events = [now - timedelta(seconds=rng.randrange(spread)) for _ in ids]
            columns: dict[str, Any] = {
                JOIN_KEY: list(ids),
                TIMESTAMP_FIELD: events,
                CREATED_FIELD: [event + timedelta(seconds=1) for event in events],
            }
            rows = [[feature.draw(rng) for feature in self.features] for _ in ids]
            for index, feature in enumerate(self.features):
                columns[feature.name] = [row[index] for row in rows]
            _write_parquet(parquet_path(data_dir, name), pd.DataFrame(columns))


def mixed(features_per_view: int = 20) -> DataSet:
    """The mixed data set: every type above once or more, and floats up to ``features_per_view``."""
    floats = features_per_view - len(_NOT_FLOATS)
    if floats < 1:
        raise ValueError(f"a mixed view has {len(_NOT_FLOATS) + 1} features or more, not {features_per_view}")
    return DataSet(
        name="mixed",
        view_prefix="m",
        first_driver_id=1_000_000,
        features=(*(Feature(f"f{i}", Float64, _float) for i in range(floats)), *_NOT_FLOATS),
    )


MIXED = mixed()
NUMERIC = DataSet(
    name="numeric",
    view_prefix="v",
    first_driver_id=3_000_000,
    features=(
        *(Feature(f"f{i}", Float64, _float) for i in range(16)),
        *(Feature(f"n{i}", Int64, _count) for i in range(3)),
        Feature("s0", String, _tier),
    ),
)
DATA_SETS = {data.name: data for data in (MIXED, NUMERIC)}


def definitions(data_sets: Sequence[DataSet], data_dir: Path) -> tuple[Entity, list[FeatureView]]:
    """Fresh objects on every call: ``FeatureStore.apply`` mutates what it is given."""
    driver = Entity(name="driver", join_keys=[JOIN_KEY], value_type=ValueType.INT64)
    return driver, [view for data in data_sets for view in data.views(driver, data_dir)]


def parquet_path(data_dir: Path, view: str) -> Path:
    return data_dir / f"{view}.parquet"


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """A materialize source, with its timestamps in UTC microseconds."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for column in (TIMESTAMP_FIELD, CREATED_FIELD):
        index = table.schema.get_field_index(column)
        table = table.set_column(index, column, table.column(column).cast(pa.timestamp("us", tz="UTC")))
    pq.write_table(table, path)


def feast_rows(data_dir: Path, view: FeatureView) -> list[Row]:
    """The view's rows as ``online_write_batch`` gets them, read back from its parquet file.

    Converted by the same Feast function the local materialization engine
    calls (``feast.utils._convert_arrow_to_proto``), so the protos, the
    timestamps and the created column are what ``materialize`` would hand over.
    """
    table = pq.read_table(parquet_path(data_dir, view.name))
    join_keys = {column.name: column.dtype.to_value_type() for column in view.entity_columns}
    rows: list[Row] = _convert_arrow_to_proto(table, view, join_keys)
    return rows


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def materialize_window(now: datetime) -> tuple[datetime, datetime]:
    """A window holding every event time of ``write_sources(now=now)``."""
    return now - EVENT_SPREAD - timedelta(minutes=5), now + timedelta(minutes=1)


def entity_key(driver_id: int) -> EntityKeyProto:
    return EntityKeyProto(join_keys=[JOIN_KEY], entity_values=[ValueProto(int64_val=driver_id)])


# -- the drivers of each request ---------------------------------------------------------------------


def uniform_draws(population: Sequence[Any], size: int, count: int, seed: int) -> list[list[Any]]:
    """``count`` random samples of ``size`` distinct elements, the same for every run."""
    rng = random.Random(seed)
    return [rng.sample(population, size) for _ in range(count)]


def zipf_draws(population: Sequence[int], size: int, count: int, s: float, seed: int) -> list[list[int]]:
    """``count`` requests of ``size`` distinct drivers, Zipf-distributed over ``population``.

    The driver of rank k (a random permutation, so the hottest ones are not
    neighbours) is drawn with probability proportional to k^-s; a repeat within
    a request is drawn again, as a request for ``size`` different drivers would be.
    """
    rng = np.random.default_rng(seed)
    by_rank = rng.permutation(np.asarray(population))
    weights = np.arange(1, len(population) + 1, dtype=np.float64) ** -s
    cumulative = np.cumsum(weights)
    cumulative /= cumulative[-1]
    requests = []
    for _ in range(count):
        chosen: dict[int, None] = {}
        while len(chosen) < size:
            ranks = np.searchsorted(cumulative, rng.random(size), side="right")
            for rank in ranks[: size - len(chosen)]:
                chosen.setdefault(int(by_rank[min(rank, len(population) - 1)]))
        requests.append(list(chosen))
    return requests
