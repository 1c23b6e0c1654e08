"""Feast definitions for the driver-ranking example.

Two views are materialized from parquet files (``driver_hourly_stats``,
``driver_profile``); a third, ``driver_transactions``, is windowed: a stream
feature view whose aggregations (spend and trips over the last hour and day,
distinct riders over the last week) this store keeps as buckets, updated by
pushes of raw transactions. Feast's local engine refuses to materialize a
windowed view, so ``feast materialize`` names the other two (``--views``).

`feast apply` imports this file as the top-level module ``features`` (it puts the
repo directory on ``sys.path``), so it may import nothing from the surrounding
``feature_repo_example`` package. Everything else (demo, tests, data generator)
imports it as ``feature_repo_example.features``.

The objects are built by :func:`build_objects` so the integration tests can point
the same definitions at parquet files in a temporary directory; the module-level
names below are the instances the Feast CLI picks up, reading from ``data/``
next to this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.aggregation import Aggregation
from feast.feast_object import FeastObject
from feast.stream_feature_view import StreamFeatureView
from feast.types import (
    Array,
    Float32,
    Float64,
    Int64,
    Json,
    Map,
    String,
    Struct,
    UnixTimestamp,
)

DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"
STATS_FILE = "driver_hourly_stats.parquet"
PROFILE_FILE = "driver_profile.parquet"
TRANSACTIONS_FILE = "driver_transactions.parquet"

JOIN_KEY = "driver_id"
TIMESTAMP_FIELD = "event_timestamp"
CREATED_FIELD = "created"

# Materialized rows are only meaningful while "now" is within ttl of their event
# time, which is why the data generator writes timestamps relative to now.
STATS_TTL = timedelta(days=1)
PROFILE_TTL = timedelta(days=2)

# The windowed view's buckets: 10 minutes wide, so "the last hour" is the last 6 buckets.
TRANSACTIONS_HOP = timedelta(minutes=10)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def _stats_features() -> list[Field]:
    """Fresh Field objects per build, since Feast may mutate projections."""
    return [
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int64),
    ]


def _profile_features() -> list[Field]:
    """One feature per non-scalar shape Feast can materialize from parquet.

    The point is to make the online store's encoder see lists, maps, structs,
    JSON and timestamps, not just the scalars of ``driver_hourly_stats``.
    """
    return [
        Field(name="recent_trip_ids", dtype=Array(Int64)),
        Field(name="vehicle_tags", dtype=Array(String)),
        Field(name="rating_by_city", dtype=Map),
        Field(name="home_city", dtype=String),
        Field(name="signup_ts", dtype=UnixTimestamp),
        Field(name="preferences", dtype=Json),
        Field(name="vehicle", dtype=Struct({"make": String, "year": Int64})),
    ]


def _transaction_aggregations() -> list[Aggregation]:
    """Spend, trips and mean fare over the last hour and day; distinct riders over the last week."""
    return [
        *(
            Aggregation(column="amount", function=function, time_window=window)
            for window in (HOUR, DAY)
            for function in ("sum", "count", "mean")
        ),
        Aggregation(column="rider_id", function="count_distinct", time_window=WEEK),
    ]


# Each output's type, as the store answers it: counts are integers.
_OUTPUT_TYPES = {"sum": Float64, "count": Int64, "mean": Float64, "count_distinct": Int64}


def _transaction_features(aggregations: list[Aggregation]) -> list[Field]:
    """The raw columns the aggregations read, then each output under the name Feast gives it."""
    outputs = [
        Field(name=a.resolved_name(a.time_window), dtype=_OUTPUT_TYPES[a.function]) for a in aggregations
    ]
    return [Field(name="amount", dtype=Float64), Field(name="rider_id", dtype=String), *outputs]


@dataclass(frozen=True)
class RepoObjects:
    """The Feast objects of one instance of the example repo.

    Kept together so callers apply exactly the set the CLI would discover.
    """

    driver: Entity
    stats_source: FileSource
    profile_source: FileSource
    driver_hourly_stats: FeatureView
    driver_profile: FeatureView
    driver_ranking: FeatureService
    transactions_source: FileSource
    transactions_push: PushSource
    driver_transactions: StreamFeatureView
    driver_activity: FeatureService

    def all(self) -> list[FeastObject]:
        """Everything to pass to ``FeatureStore.apply``, in dependency order."""
        return [
            self.driver,
            self.stats_source,
            self.profile_source,
            self.driver_hourly_stats,
            self.driver_profile,
            self.driver_ranking,
            self.transactions_source,
            self.transactions_push,
            self.driver_transactions,
            self.driver_activity,
        ]

    def feature_views(self) -> list[FeatureView]:
        """The views materialized from their parquet files (the windowed view is pushed instead)."""
        return [self.driver_hourly_stats, self.driver_profile]

    def materialized(self) -> list[str]:
        """The names ``materialize`` is given: Feast's local engine refuses the windowed view."""
        return [view.name for view in self.feature_views()]

    def feature_refs(self) -> list[str]:
        """Every feature of every materialized view as ``view:feature`` references."""
        return [f"{fv.name}:{field.name}" for fv in self.feature_views() for field in fv.features]

    def windowed_outputs(self) -> list[Field]:
        """The windowed view's output features, in schema order (not its raw columns)."""
        view = self.driver_transactions
        outputs = {a.resolved_name(a.time_window) for a in view.aggregations}
        return [feature for feature in view.features if feature.name in outputs]

    def windowed_refs(self) -> list[str]:
        """The windowed view's output features as ``view:feature`` references."""
        return [f"{self.driver_transactions.name}:{field.name}" for field in self.windowed_outputs()]


def build_objects(data_dir: Path) -> RepoObjects:
    """Build the example's Feast objects reading parquet files from ``data_dir``.

    Absolute paths are used so the registry works no matter which directory a
    later ``feast`` command or test runs from.
    """
    data_dir = Path(data_dir).resolve()
    driver = Entity(
        name="driver",
        join_keys=[JOIN_KEY],
        value_type=ValueType.INT64,
        description="A driver on the platform",
    )
    stats_source = FileSource(
        name="driver_hourly_stats_source",
        path=str(data_dir / STATS_FILE),
        timestamp_field=TIMESTAMP_FIELD,
        created_timestamp_column=CREATED_FIELD,
    )
    profile_source = FileSource(
        name="driver_profile_source",
        path=str(data_dir / PROFILE_FILE),
        timestamp_field=TIMESTAMP_FIELD,
        created_timestamp_column=CREATED_FIELD,
    )
    driver_hourly_stats = FeatureView(
        name="driver_hourly_stats",
        entities=[driver],
        ttl=STATS_TTL,
        schema=[Field(name=JOIN_KEY, dtype=Int64), *_stats_features()],
        online=True,
        source=stats_source,
    )
    driver_profile = FeatureView(
        name="driver_profile",
        entities=[driver],
        ttl=PROFILE_TTL,
        schema=[Field(name=JOIN_KEY, dtype=Int64), *_profile_features()],
        online=True,
        source=profile_source,
    )
    driver_ranking = FeatureService(
        name="driver_ranking",
        features=[driver_hourly_stats, driver_profile],
    )
    transactions_source = FileSource(
        name="driver_transactions_source",
        path=str(data_dir / TRANSACTIONS_FILE),
        timestamp_field=TIMESTAMP_FIELD,
    )
    # Producers push raw transactions here; the parquet file is its batch source (for a backfill).
    transactions_push = PushSource(name="driver_transactions_push", batch_source=transactions_source)
    aggregations = _transaction_aggregations()
    driver_transactions = StreamFeatureView(
        name="driver_transactions",
        entities=[driver],
        source=transactions_push,
        aggregations=aggregations,
        tiling_hop_size=TRANSACTIONS_HOP,
        timestamp_field=TIMESTAMP_FIELD,
        schema=[Field(name=JOIN_KEY, dtype=Int64), *_transaction_features(aggregations)],
        online=True,
    )
    # The outputs alone: the raw columns are what the aggregations read, not what a model is served.
    outputs = [a.resolved_name(a.time_window) for a in aggregations]
    driver_activity = FeatureService(name="driver_activity", features=[driver_transactions[outputs]])
    return RepoObjects(
        driver=driver,
        stats_source=stats_source,
        profile_source=profile_source,
        driver_hourly_stats=driver_hourly_stats,
        driver_profile=driver_profile,
        driver_ranking=driver_ranking,
        transactions_source=transactions_source,
        transactions_push=transactions_push,
        driver_transactions=driver_transactions,
        driver_activity=driver_activity,
    )


_default = build_objects(DEFAULT_DATA_DIR)

# Module-level names are what `feast apply` discovers.
driver = _default.driver
driver_hourly_stats_source = _default.stats_source
driver_profile_source = _default.profile_source
driver_hourly_stats = _default.driver_hourly_stats
driver_profile = _default.driver_profile
driver_ranking = _default.driver_ranking
driver_transactions_source = _default.transactions_source
driver_transactions_push = _default.transactions_push
driver_transactions = _default.driver_transactions
driver_activity = _default.driver_activity
