"""Deterministic parquet source data for the driver-ranking example.

Values come from a seeded generator so runs are comparable, but event times are
offsets from a caller-supplied ``now``: Feast only serves rows whose event time
is within the view's ttl, so fixed dates would silently age out of the demo.

The transactions behind the windowed view are raw events (an amount, a rider)
spread over the last week, most recent for busy drivers, with a few older
than the view's longest window: a push counts those as late and drops them.

Run as ``python -m feature_repo_example.data_gen [DATA_DIR]`` to (re)write the
files the Feast CLI definitions point at.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from feature_repo_example.features import (
    CREATED_FIELD,
    DEFAULT_DATA_DIR,
    JOIN_KEY,
    PROFILE_FILE,
    STATS_FILE,
    TIMESTAMP_FIELD,
    TRANSACTIONS_FILE,
    WEEK,
)

DEFAULT_SEED = 20240611
FIRST_DRIVER_ID = 1001
CITIES = ("Lisbon", "Porto", "Madrid", "Berlin", "Austin", "Osaka", "Lagos")
TAGS = ("ev", "hybrid", "xl", "pet-friendly", "wheelchair", "premium", "quiet")
MAKES = ("Toyota", "Tesla", "Kia", "Skoda", "Ford")

# Offsets of each stats row before `now`: exactly one row older than this split
# and the rest newer, so re-materializing a window that ends at the split writes
# strictly older values for every driver.
OLD_NEW_SPLIT = timedelta(hours=12)

STATS_SCHEMA = pa.schema(
    [
        pa.field(JOIN_KEY, pa.int64(), nullable=False),
        pa.field(TIMESTAMP_FIELD, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(CREATED_FIELD, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("conv_rate", pa.float32()),
        pa.field("acc_rate", pa.float32()),
        pa.field("avg_daily_trips", pa.int64()),
    ]
)

TRANSACTIONS_SCHEMA = pa.schema(
    [
        pa.field(JOIN_KEY, pa.int64(), nullable=False),
        pa.field(TIMESTAMP_FIELD, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("amount", pa.float64()),  # null: a fare not settled yet, which no aggregate counts
        pa.field("rider_id", pa.string(), nullable=False),
    ]
)
RIDERS = 2_000
# Drivers whose index falls in these classes: quiet this week but for days ago (nothing in the last
# day: their 1-hour and 1-day windows are empty), or seen only before the week (every event late).
QUIET_DRIVER, GONE_DRIVER = 4, 9

PROFILE_SCHEMA = pa.schema(
    [
        pa.field(JOIN_KEY, pa.int64(), nullable=False),
        pa.field(TIMESTAMP_FIELD, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(CREATED_FIELD, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("recent_trip_ids", pa.list_(pa.int64())),
        pa.field("vehicle_tags", pa.list_(pa.string())),
        # Feast's MAP conversion wants a dict or a JSON object string per row; a
        # parquet map<> column arrives as a list of (key, value) tuples and is
        # rejected, so the map is stored as JSON text.
        pa.field("rating_by_city", pa.string()),
        pa.field("home_city", pa.string()),
        pa.field("signup_ts", pa.timestamp("us", tz="UTC")),
        pa.field("preferences", pa.string()),
        pa.field(
            "vehicle",
            pa.struct([pa.field("make", pa.string()), pa.field("year", pa.int64())]),
        ),
    ]
)


@dataclass(frozen=True)
class SourceData:
    """Where the generated files are and which instant they are relative to."""

    data_dir: Path
    now: datetime
    driver_ids: tuple[int, ...]

    @property
    def stats_path(self) -> Path:
        """Parquet file backing ``driver_hourly_stats``."""
        return self.data_dir / STATS_FILE

    @property
    def profile_path(self) -> Path:
        """Parquet file backing ``driver_profile``."""
        return self.data_dir / PROFILE_FILE

    @property
    def transactions_path(self) -> Path:
        """Parquet file of raw transactions: the batch source of ``driver_transactions``' push source."""
        return self.data_dir / TRANSACTIONS_FILE


def _whole_seconds(ts: datetime) -> datetime:
    """Drop sub-second precision: Feast stores UnixTimestamp features as seconds,
    and whole-second event times keep expected-vs-served comparisons exact."""
    return ts.replace(microsecond=0)


def _stats_rows(rng: np.random.Generator, driver_ids: list[int], now: datetime) -> list[dict[str, object]]:
    """Four hourly-stats rows per driver: one older than the split, three newer."""
    rows: list[dict[str, object]] = []
    split_h = OLD_NEW_SPLIT.total_seconds() / 3600
    for driver_id in driver_ids:
        old = rng.uniform(split_h + 1, 22)
        newer = sorted(rng.uniform(0.1, split_h - 1, size=3), reverse=True)
        for hours_ago in [old, *newer]:
            event_ts = _whole_seconds(now - timedelta(hours=float(hours_ago)))
            rows.append(
                {
                    JOIN_KEY: driver_id,
                    TIMESTAMP_FIELD: event_ts,
                    CREATED_FIELD: event_ts + timedelta(seconds=5),
                    "conv_rate": float(np.float32(rng.uniform(0, 1))),
                    "acc_rate": float(np.float32(rng.uniform(0, 1))),
                    "avg_daily_trips": int(rng.integers(0, 1000)),
                }
            )
    return rows


def _profile_rows(rng: np.random.Generator, driver_ids: list[int], now: datetime) -> list[dict[str, object]]:
    """Two profile rows per driver with a sprinkling of nulls and empty lists.

    Nulls and empty collections are deliberate: an online store has to keep
    "missing" distinct from "present but empty" for Feast to return the same
    thing as its reference stores.
    """
    rows: list[dict[str, object]] = []
    for index, driver_id in enumerate(driver_ids):
        signup = _whole_seconds(now - timedelta(days=float(rng.uniform(30, 900))))
        for hours_ago in (rng.uniform(26, 40), rng.uniform(0.5, 10)):
            event_ts = _whole_seconds(now - timedelta(hours=float(hours_ago)))
            n_trips = int(rng.integers(0, 6))
            n_tags = int(rng.integers(0, 4))
            cities = rng.choice(CITIES, size=int(rng.integers(1, 4)), replace=False)
            ratings = {str(c): round(float(rng.uniform(3, 5)), 2) for c in cities}
            rows.append(
                {
                    JOIN_KEY: driver_id,
                    TIMESTAMP_FIELD: event_ts,
                    CREATED_FIELD: event_ts + timedelta(seconds=5),
                    "recent_trip_ids": (
                        None if index % 17 == 3 else [int(t) for t in rng.integers(10**6, 10**9, n_trips)]
                    ),
                    "vehicle_tags": [str(t) for t in rng.choice(TAGS, size=n_tags, replace=False)],
                    "rating_by_city": (None if index % 13 == 5 else json.dumps(ratings, sort_keys=True)),
                    "home_city": None if index % 11 == 7 else str(rng.choice(CITIES)),
                    "signup_ts": signup,
                    "preferences": json.dumps(
                        {
                            "music": bool(rng.integers(0, 2)),
                            "max_passengers": int(rng.integers(1, 7)),
                            "languages": ["en", "pt"][: int(rng.integers(1, 3))],
                        },
                        sort_keys=True,
                    ),
                    "vehicle": {
                        "make": str(rng.choice(MAKES)),
                        "year": int(rng.integers(2010, 2025)),
                    },
                }
            )
    return rows


def _transaction_rows(
    rng: np.random.Generator, driver_ids: list[int], now: datetime
) -> list[dict[str, object]]:
    """Each driver's trips of the last week, busier lately; a few regular riders among many others.

    Times are drawn as ages (seconds before ``now``): most spread over the
    week, a share in the last day and the last hour, so every window has
    something to add up. The list is in no particular order, as pushes are.
    """
    week_s = WEEK.total_seconds()
    rows: list[dict[str, object]] = []
    for index, driver_id in enumerate(driver_ids):
        regulars = [f"rider-{r:05d}" for r in rng.integers(0, RIDERS, size=4)]
        trips = int(rng.integers(15, 60))
        if index % 10 == GONE_DRIVER:
            ages = rng.uniform(week_s + 7_200, week_s + 3 * 86_400, size=3)
        elif index % 10 == QUIET_DRIVER:
            ages = rng.uniform(86_400 + 600, week_s - 7_200, size=trips)
        else:
            ages = np.concatenate(
                [
                    rng.uniform(0, 3_600, size=trips // 6),  # the last hour
                    rng.uniform(3_600, 86_400, size=trips // 3),  # the rest of the day
                    rng.uniform(86_400, week_s - 7_200, size=trips - trips // 6 - trips // 3),
                    rng.uniform(week_s + 7_200, week_s + 86_400, size=int(rng.integers(0, 2))),  # late
                ]
            )
        for age in ages:
            rider = (
                str(rng.choice(regulars))
                if rng.uniform() < 0.3
                else f"rider-{int(rng.integers(0, RIDERS)):05d}"
            )
            amount = None if rng.uniform() < 0.02 else round(float(rng.lognormal(np.log(18), 0.5)), 2)
            rows.append(
                {
                    JOIN_KEY: driver_id,
                    TIMESTAMP_FIELD: _whole_seconds(now - timedelta(seconds=float(age))),
                    "amount": amount,
                    "rider_id": rider,
                }
            )
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def generate(
    data_dir: Path | str = DEFAULT_DATA_DIR,
    *,
    now: datetime | None = None,
    n_drivers: int = 50,
    seed: int = DEFAULT_SEED,
) -> SourceData:
    """Write the parquet sources into ``data_dir``; all event times precede ``now``.

    The same ``seed`` always yields the same values; only the timestamps move
    with ``now``.
    """
    now = _whole_seconds(now or datetime.now(timezone.utc))
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    driver_ids = list(range(FIRST_DRIVER_ID, FIRST_DRIVER_ID + n_drivers))
    stats = pa.Table.from_pylist(_stats_rows(rng, driver_ids, now), STATS_SCHEMA)
    profile = pa.Table.from_pylist(_profile_rows(rng, driver_ids, now), PROFILE_SCHEMA)
    transactions = pa.Table.from_pylist(_transaction_rows(rng, driver_ids, now), TRANSACTIONS_SCHEMA)
    source = SourceData(data_dir=data_dir, now=now, driver_ids=tuple(driver_ids))
    pq.write_table(stats, source.stats_path)
    pq.write_table(profile, source.profile_path)
    pq.write_table(transactions, source.transactions_path)
    return source


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: write the data files and say where they went."""
    args = sys.argv[1:] if argv is None else argv
    source = generate(Path(args[0]) if args else DEFAULT_DATA_DIR)
    written = (source.stats_path, source.profile_path, source.transactions_path)
    print(f"wrote {', '.join(map(str, written))} (now={source.now})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
