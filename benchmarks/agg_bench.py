"""``make bench-agg``: windowed aggregations — pushes a second, reading windows against a plain read, units.

What it measures:

* **Pushes** (events/s at store level: ``online_write_batch`` of a push's
  events, as ``store.push`` hands them over): on dynalite, and on the
  SIMULATED endpoint (``benchmarks.simulated_dynamodb``: writes answered after
  8 ms, concurrently, the way DynamoDB answers them), where the client's own
  work and concurrency bound the rate. The simulator does not evaluate
  conditions and stores nothing readable: a push there always wins its merge
  and reads no page back (a write-only measure, as its module says).
* **Reads**: ``get_online_features`` of 100 entities × 8 windowed features
  (windows of 1 hour, 1 day and 7 days over 1-hour buckets: the pages of 7
  days per entity) against a plain read of 8 features (5 floats, 2 ints, a
  string) of the same entities, interleaved in one run on dynalite.
* **Units and bytes**: write units per event (the simulator's count, by
  DynamoDB's rules: an update billed on the larger of the item before and
  after), and the sizes of the pages and entity items on dynalite.

Targets (issue 19): the windowed read at most 1.5× the plain read; at least
2,000 events/s on the simulated endpoint.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource, ValueType
from feast.aggregation import Aggregation
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.stream_feature_view import StreamFeatureView
from feast.types import Float64, Int64, String

from benchmarks.feature_stores import close, online_store, our_config, use_fake_aws_credentials
from benchmarks.simulated_dynamodb import SimulatedDynamo
from benchmarks.timing import Summary, time_interleaved
from tests.dynamodb_limits import item_size
from tests.servers import start_dynalite

HOP = timedelta(hours=1)
WINDOWS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}
AGGREGATIONS = [
    Aggregation(column="amount", function="sum", time_window=WINDOWS["1h"]),
    Aggregation(column="amount", function="count", time_window=WINDOWS["1h"]),
    Aggregation(column="amount", function="mean", time_window=WINDOWS["1d"]),
    Aggregation(column="amount", function="max", time_window=WINDOWS["1d"]),
    Aggregation(column="amount", function="min", time_window=WINDOWS["1d"]),
    Aggregation(column="amount", function="std", time_window=WINDOWS["7d"]),
    Aggregation(column="amount", function="sum", time_window=WINDOWS["7d"]),
    Aggregation(column="rider", function="count_distinct", time_window=WINDOWS["7d"]),
]
INT_OUTPUTS = ("count", "count_distinct")
PLAIN_FEATURES = [*(Field(name=f"f{i}", dtype=Float64) for i in range(5)),
                  Field(name="trips", dtype=Int64), Field(name="rank", dtype=Int64),
                  Field(name="city", dtype=String)]  # fmt: skip
CITIES = ("Lisbon", "Porto", "Madrid", "Berlin", "Austin", "Osaka", "Lagos")
DRIVER = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
SIM_DELAY_MS = 8.0
TARGET_READ_RATIO = 1.5
TARGET_EVENTS_PER_SECOND = 2_000


@dataclass(frozen=True)
class Plan:
    entities: int
    events_per_entity: int
    push_size: int  # events per online_write_batch call, as one push hands them over
    reads: int
    read_entities: int

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            return cls(entities=200, events_per_entity=10, push_size=100, reads=40, read_entities=100)
        return cls(entities=1_000, events_per_entity=30, push_size=100, reads=300, read_entities=100)


def log(message: str) -> None:
    print(message, flush=True)


def output_name(aggregation: Aggregation) -> str:
    return aggregation.resolved_name(aggregation.time_window)


def views(data_dir: Path) -> tuple[StreamFeatureView, FeatureView]:
    """The windowed view (8 outputs) and the plain one (8 features), over the same drivers."""
    raw = data_dir / "tx.parquet"
    pd.DataFrame(
        {"driver_id": [0], "amount": [0.0], "rider": ["r"], "ts": [datetime.now(timezone.utc)]}
    ).to_parquet(raw)
    schema = [Field(name="driver_id", dtype=Int64), Field(name="amount", dtype=Float64),
              Field(name="rider", dtype=String)]  # fmt: skip
    schema += [
        Field(name=output_name(a), dtype=Int64 if a.function in INT_OUTPUTS else Float64)
        for a in AGGREGATIONS
    ]
    push = PushSource(name="tx_push", batch_source=FileSource(path=str(raw), timestamp_field="ts"))
    windowed = StreamFeatureView(
        name="tx", entities=[DRIVER], source=push, aggregations=AGGREGATIONS, timestamp_field="ts",
        schema=schema, tiling_hop_size=HOP,
    )  # fmt: skip
    plain = FeatureView(
        name="stats",
        entities=[DRIVER],
        schema=[Field(name="driver_id", dtype=Int64), *PLAIN_FEATURES],
        source=FileSource(path=str(data_dir / "stats.parquet"), timestamp_field="ts"),
        ttl=timedelta(days=365),
    )
    return windowed, plain


def key(driver: int) -> EntityKeyProto:
    return EntityKeyProto(join_keys=["driver_id"], entity_values=[ValueProto(int64_val=driver)])


def events(plan: Plan, now: datetime, seed: int) -> list[tuple[Any, ...]]:
    """Feast's rows of a push: amounts as floats, riders as strings, times over the last week
    (a fifth in the last hour), the outputs null as Feast hands them."""
    rng = random.Random(seed)
    riders = [f"rider-{n:05d}" for n in range(5_000)]
    rows = []
    for driver in range(plan.entities):
        for _ in range(plan.events_per_entity):
            age = rng.uniform(0, 3600) if rng.random() < 0.2 else rng.uniform(0, 7 * 86_400 - 7_200)
            values = {
                "amount": ValueProto(double_val=round(rng.lognormvariate(2.5, 0.8), 2)),
                "rider": ValueProto(string_val=rng.choice(riders)),
                **{output_name(a): ValueProto() for a in AGGREGATIONS},
            }
            rows.append((key(driver), values, (now - timedelta(seconds=age)).replace(tzinfo=None), None))
    rng.shuffle(rows)
    return rows


def plain_rows(plan: Plan, now: datetime, seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    return [
        (
            key(driver),
            {
                **{f"f{i}": ValueProto(double_val=rng.uniform(-1e3, 1e3)) for i in range(5)},
                "trips": ValueProto(int64_val=rng.randrange(10_000)),
                "rank": ValueProto(int64_val=rng.randrange(100)),
                "city": ValueProto(string_val=rng.choice(CITIES)),
            },
            now.replace(tzinfo=None),
            None,
        )
        for driver in range(plan.entities)
    ]


def push(store: FeatureStore, view: StreamFeatureView, rows: Sequence[Any], push_size: int) -> float:
    """Push ``rows`` in calls of ``push_size``; events per second."""
    writer = online_store(store)
    started = time.perf_counter()
    for start in range(0, len(rows), push_size):
        writer.online_write_batch(store.config, view, list(rows[start : start + push_size]), None)
    return len(rows) / (time.perf_counter() - started)


def stores_on(
    endpoint_url: str, registry: Path, data_dir: Path
) -> tuple[FeatureStore, StreamFeatureView, FeatureView]:
    store = FeatureStore(config=our_config(registry, endpoint_url))
    windowed, plain = views(data_dir)
    store.apply([DRIVER, windowed, plain])
    return store, windowed, plain


def part_dynalite(plan: Plan, tmp: Path, summary: dict[str, float]) -> None:
    server = start_dynalite()
    try:
        store, windowed, plain = stores_on(server.endpoint.url, tmp / "dynalite.db", tmp)
        now = datetime.now(timezone.utc)
        rows = events(plan, now, seed=1)
        log(f"\n[a] dynalite on {server.endpoint.url}: {plan.entities:,} drivers, {len(rows):,} events "
            f"over the last 7 days, pushed {plan.push_size} a call")  # fmt: skip
        rate = push(store, windowed, rows, plan.push_size)
        online_store(store).online_write_batch(store.config, plain, plain_rows(plan, now, seed=2), None)
        counts = online_store(store).engine(store.config).aggregates.counts
        log(f"  pushes: {rate:,.0f} events/s (update cache: {counts.cache_hits:,} hits, "
            f"{counts.cache_misses:,} misses; {counts.version_conflicts} version conflicts)")  # fmt: skip
        summary["events/s dynalite"] = rate
        read_windows(store, plan, summary)
        sizes(server.endpoint.url, store)
        close(store)
    finally:
        server.stop()


def read_windows(store: FeatureStore, plan: Plan, summary: dict[str, float]) -> None:
    rng = random.Random(3)
    requests = [[{"driver_id": d} for d in rng.sample(range(plan.entities), plan.read_entities)]
                for _ in range(plan.reads)]  # fmt: skip
    windowed_refs = [f"tx:{output_name(a)}" for a in AGGREGATIONS]
    plain_refs = [f"stats:{field.name}" for field in PLAIN_FEATURES]
    samples = time_interleaved(
        {
            "windowed": lambda rows: store.get_online_features(windowed_refs, rows),
            "plain": lambda rows: store.get_online_features(plain_refs, rows),
        },
        requests,
        warmup=10,
    )
    windowed, plain = Summary.of(samples["windowed"]), Summary.of(samples["plain"])
    ratio = windowed.ratio(plain)
    log(f"\n== Read latency (ms): get_online_features of {plan.read_entities} entities x 8 features ==")
    log(f"{'':28}{'n':>6}{'p50':>9}{'p95':>9}{'p99':>9}")
    for label, summary_ in (
        ("8 windowed (1h, 1d, 7d)", windowed),
        ("8 plain", plain),
        ("windowed / plain", ratio),
    ):
        log(f"{label:28}{summary_.n:>6}{summary_.median:>9.2f}{summary_.p95:>9.2f}{summary_.p99:>9.2f}")
    summary["read windowed / plain p50"] = ratio.median


def sizes(endpoint_url: str, store: FeatureStore) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint_url, region_name="us-east-1")
    table = store.config.online_store.table_name
    pages: list[int] = []
    entities: list[int] = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            sort_key = item["sk"]["S"]
            if "@" in sort_key:
                pages.append(item_size(item))
            elif sort_key == "#":
                entities.append(item_size(item))
    if pages:
        page_mean, entity_mean = sum(pages) / len(pages), sum(entities) / len(entities)
        log(f"\n== Item bytes (dynalite): {len(pages):,} pages, mean {page_mean:,.0f}, "
            f"largest {max(pages):,}; "
            f"{len(entities):,} entity items, mean {entity_mean:,.0f} ==")  # fmt: skip


def part_simulation(plan: Plan, tmp: Path, summary: dict[str, float]) -> None:
    backend = start_dynalite()
    try:
        with SimulatedDynamo(backend.endpoint.url, delay_ms=SIM_DELAY_MS) as sim:
            store, windowed, _ = stores_on(sim.url, tmp / "sim.db", tmp)
            rows = events(plan, datetime.now(timezone.utc), seed=1)
            sim.reset()
            rate = push(store, windowed, rows, plan.push_size)
            stats = sim.stats()
            log(f"\n[b] SIMULATED DynamoDB on {sim.url} ({SIM_DELAY_MS:g} ms a data write): "
                f"{len(rows):,} events pushed {plan.push_size} a call")  # fmt: skip
            log(f"  pushes: {rate:,.0f} events/s; {stats.write_units / len(rows):.2f} WCU per event "
                f"({stats.write_units:,} WCU, {dict(stats.requests)} requests answered)")  # fmt: skip
            summary["events/s simulation"] = rate
            summary["WCU/event"] = stats.write_units / len(rows)
            close(store)
    finally:
        backend.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="fewer drivers, events and reads (for a smoke run)"
    )
    args = parser.parse_args(argv)
    plan = Plan.of(args.quick)
    use_fake_aws_credentials()
    summary: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        part_dynalite(plan, tmp, summary)
        part_simulation(plan, tmp, summary)
    read_ratio = summary["read windowed / plain p50"]
    events_rate = summary["events/s simulation"]
    log("\n== Targets ==")
    log(f"  windowed read / plain read, p50: {read_ratio:.2f} (target <= {TARGET_READ_RATIO}: "
        f"{'met' if read_ratio <= TARGET_READ_RATIO else 'missed'})")  # fmt: skip
    met = "met" if events_rate >= TARGET_EVENTS_PER_SECOND else "missed"
    log(f"  pushes on the simulated endpoint: {events_rate:,.0f} events/s "
        f"(target >= {TARGET_EVENTS_PER_SECOND:,}: {met})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
