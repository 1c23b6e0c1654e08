"""Windowed aggregations: Feast's StreamFeatureView aggregations served from buckets (issue 19).

Real Feast, moto behind the strict proxy (and a counting proxy where
requests are counted). Every value is held to the pandas oracle
(``tests.windowed_oracle``) for the store's clock, which most tests set
(``engine.now``): pushes, and reads through every path Feast has
(``get_online_features``, its async form, ``online_read``, a real ``feast
serve`` on the real clock), with namespace caches and Bloom filters, as that
clock moves; the update cache counted; what ``feast apply`` refuses. Two
processes pushing at once: ``test_windowed_processes.py``.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pandas as pd
import pytest
import yaml
from feast import FeatureStore
from feast.aggregation import Aggregation
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.types import Float64
from prometheus_client import REGISTRY

from feast_chalk_dynamo import windowed
from feast_chalk_dynamo.aggregates.writer import ATTRIBUTES_PER_UPDATE
from feast_chalk_dynamo.dynamo.metrics import PREFIX
from feast_chalk_dynamo.engine import Engine
from feast_chalk_dynamo.errors import InvalidWindowedView
from feast_chalk_dynamo.items.slots import datetime_to_micros
from feature_repo_example import demo
from tests.fault_proxy import FaultProxy
from tests.feast_objects import STORE_TYPE, repo_config
from tests.servers import Endpoint
from tests.windowed_objects import (
    DRIVER,
    HOP,
    HOUR,
    TX_AGGREGATIONS,
    distinct_counts,
    output_name,
    push_frame,
    tx_view,
    windowed_view,
    write_source,
)
from tests.windowed_oracle import agrees, expected

REFS = [f"tx:{output_name(a)}" for a in TX_AGGREGATIONS]
FUNCTION = {output_name(a): a.function for a in TX_AGGREGATIONS}
OUTPUTS = list(FUNCTION)
RAW = ["amount", "rider"]  # the raw columns the aggregations read
# The store's clock in these tests: 7 minutes into a bucket near the real time (pages' TTL is real).
NOW = datetime.fromtimestamp(
    (datetime.now(timezone.utc).timestamp() // HOP.total_seconds()) * HOP.total_seconds(), timezone.utc
) + timedelta(minutes=7)
# Driver 1 in every window, two events leaving the hour's window in the next bucket; 2 only two days
# ago (in the week's window, no other); 3 never pushed; 4 only late (8 days before the push: dropped, so
# never seen); 5 only tomorrow (a skewed clock: in no window now, on pages a read now does not fetch).
EVENTS = [
    {"driver_id": 1, "amount": 10.0, "rider": "a", "ts": NOW - timedelta(minutes=2)},
    {"driver_id": 1, "amount": 2.5, "rider": "b", "ts": NOW - timedelta(minutes=8)},  # the previous bucket
    {"driver_id": 1, "amount": None, "rider": "c", "ts": NOW - timedelta(minutes=50)},  # the hour's first
    {"driver_id": 1, "amount": 20.0, "rider": "a", "ts": NOW - timedelta(minutes=55)},  # bucket
    {"driver_id": 1, "amount": -4.0, "rider": None, "ts": NOW - timedelta(hours=5)},
    {"driver_id": 1, "amount": 40.0, "rider": "d", "ts": NOW - timedelta(days=3)},
    {"driver_id": 2, "amount": 7.0, "rider": "c", "ts": NOW - timedelta(days=2)},
    {"driver_id": 2, "amount": 9.0, "rider": "e", "ts": NOW - timedelta(days=2, minutes=1)},
    {"driver_id": 4, "amount": 1.0, "rider": "f", "ts": NOW - timedelta(days=8)},
    {"driver_id": 5, "amount": 3.0, "rider": "g", "ts": NOW + timedelta(days=1)},
]  # fmt: skip
DRIVERS = [1, 2, 3, 4, 5]
# Later reads: the next bucket (same pages), past the hour's edge, two days on (other pages).
LATER = [timedelta(0), timedelta(minutes=4), timedelta(minutes=15), timedelta(days=2)]


def windowed_store(tmp_path: Path, endpoint_url: str, table: str, **knobs: Any) -> FeatureStore:
    feast = FeatureStore(config=repo_config(tmp_path, endpoint_url, table, **knobs))
    feast.apply([DRIVER, tx_view(write_source(tmp_path / "tx.parquet"))])
    return feast


@pytest.fixture
def store(tmp_path: Path, proxy: FaultProxy, table_name: str) -> Iterator[FeatureStore]:
    feast = windowed_store(tmp_path, proxy.url, table_name)
    yield feast
    feast._get_provider().online_store.close_engines()  # type: ignore[attr-defined]


def engine(store: FeatureStore) -> Engine:
    online_store = store._get_provider().online_store
    found: Engine = online_store.engine(store.config)  # type: ignore[attr-defined]
    return found


def clock(store: FeatureStore, moment: datetime) -> None:
    engine(store).now = lambda: moment.timestamp()


def push(store: FeatureStore, events: Sequence[dict[str, Any]], at: datetime = NOW) -> None:
    clock(store, at)
    store.push("tx_push", push_frame(store.get_stream_feature_view("tx"), events))


T = TypeVar("T")
Answer = dict[str, tuple[Any, str, int | None]]  # feature -> (value, status, event time µs or None)


def answers(response: Any, features: Sequence[str] = OUTPUTS) -> list[Answer]:
    """Each entity's answer of a ``get_online_features`` response (its proto)."""
    names = list(response.proto.metadata.feature_names.val)
    rows: list[Answer] = [{} for _ in response.proto.results[0].values]
    for name, vector in zip(names, response.proto.results, strict=True):
        for row, value, status, stamp in zip(
            rows, vector.values, vector.statuses, vector.event_timestamps, strict=True
        ):
            found = FieldStatus.Name(status) != "NOT_FOUND"
            row[name] = (plain(value), FieldStatus.Name(status), micros(stamp) if found else None)
    return [{name: row[name] for name in features} for row in rows]


def plain(value: ValueProto) -> Any:
    field = value.WhichOneof("val")
    return getattr(value, field) if field else None


def micros(stamp: Any) -> int:
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1000


def assert_as_pandas(
    got: Sequence[Answer], drivers: Sequence[int], now: datetime, events: Sequence[dict[str, Any]] = EVENTS,
    pushed_at: datetime = NOW,
) -> None:  # fmt: skip
    """Each driver's answer is the oracle's at ``now``: values, statuses, event time."""
    oracle = expected(pd.DataFrame(events), ["driver_id"], TX_AGGREGATIONS, HOP, now, pushed_at)
    for driver, answer in zip(drivers, got, strict=True):
        want = oracle.get((driver,))
        for name, (value, status, stamp) in answer.items():
            where = (driver, name, now)
            if want is None:
                assert (value, status) == (None, "NOT_FOUND"), where
                continue
            assert (status, stamp) == ("PRESENT", datetime_to_micros(want.event_time)), where
            assert agrees(FUNCTION[name], value, want.values[name], want.windows[name]), (
                *where, value, want.values[name]
            )  # fmt: skip


def read(
    store: FeatureStore, now: datetime, drivers: Sequence[int] = DRIVERS, how: str = "sync",
    features: Sequence[str] = OUTPUTS,
) -> list[Answer]:  # fmt: skip
    clock(store, now)
    rows = [{"driver_id": driver} for driver in drivers]
    refs = [f"tx:{name}" for name in features]
    if how == "async":
        return answers(asyncio.run(store.get_online_features_async(refs, rows)), features)
    if how == "online_read":
        return online_read(store, drivers, features)
    return answers(store.get_online_features(refs, rows), features)


def online_read(store: FeatureStore, drivers: Sequence[int], features: Sequence[str]) -> list[Answer]:
    """The online store's own ``online_read`` (what Feast calls under ``get_online_features``): a feature
    the found row lacks is left out of its dict, as Feast's stores do (NOT_FOUND)."""
    keys = [EntityKeyProto(join_keys=["driver_id"], entity_values=[ValueProto(int64_val=d)]) for d in drivers]
    view = store.get_stream_feature_view("tx")
    rows = store._get_provider().online_store.online_read(store.config, view, keys, list(features))
    got: list[Answer] = []
    for stamp, values in rows:
        if values is None:
            got.append(dict.fromkeys(features, (None, "NOT_FOUND", None)))
            continue
        assert stamp is not None
        got.append({
            name: (plain(values[name]), "PRESENT", datetime_to_micros(stamp)) if name in values
            else (None, "NOT_FOUND", None)
            for name in features
        })  # fmt: skip
    return got


def on_the_real_clock(read: Callable[[], T]) -> tuple[T, datetime]:
    """A read on the real clock, and a time in the bucket it was made in (read again if a bucket began
    during it: the answer could be either bucket's)."""
    while True:
        before = datetime.now(timezone.utc)
        answer = read()
        if before.timestamp() // HOP.total_seconds() == time.time() // HOP.total_seconds():
            return answer, before


def test_pushed_events_read_back_as_windowed_aggregates_on_the_real_clock(store: FeatureStore) -> None:
    """The store's own clock (no fake): a push through Feast, then a read through Feast, is pandas'
    answer for the time of the read (read again if a bucket began during it)."""
    pushed_at = datetime.now(timezone.utc)
    events = [{**event, "ts": event["ts"] - NOW + pushed_at} for event in EVENTS]
    store.push("tx_push", push_frame(store.get_stream_feature_view("tx"), events))
    rows = [{"driver_id": driver} for driver in DRIVERS]
    got, now = on_the_real_clock(lambda: answers(store.get_online_features(REFS, rows)))
    assert_as_pandas(got, DRIVERS, now, events, pushed_at)
    assert got[0]["count_amount_3600s"][0] >= 2 and got[0]["count_distinct_rider_604800s"][0] == 4


@pytest.mark.parametrize("how", ["sync", "async", "online_read"])
def test_every_read_path_answers_as_pandas_as_now_moves(store: FeatureStore, how: str) -> None:
    """Statuses: PRESENT for a driver with buckets (2, with none in the hour, reads 0 and nulls there),
    NOT_FOUND for one never pushed (3) or only late (4); event time: the newest kept event's."""
    push(store, EVENTS)
    for later in LATER:
        assert_as_pandas(read(store, NOW + later, how=how), DRIVERS, NOW + later)


@pytest.mark.parametrize("how", ["sync", "async", "online_read"])
def test_raw_columns_read_as_the_newest_pushed_row(store: FeatureStore, how: str) -> None:
    """As Feast's stores answer a pushed view's raw columns: the newest row pushed (of the kept events);
    an older event pushed later changes no raw column, a newer one with a null reads null."""
    later = [
        {"driver_id": 1, "amount": 99.0, "rider": "z", "ts": NOW - timedelta(minutes=30)},  # older
        {"driver_id": 2, "amount": None, "rider": "y", "ts": NOW - timedelta(days=1)},  # newer, a null
    ]
    push(store, EVENTS)
    push(store, later)
    oracle = expected(pd.DataFrame(EVENTS + later), ["driver_id"], TX_AGGREGATIONS, HOP, NOW)
    got = read(store, NOW, how=how, features=RAW)
    for driver, answer in zip(DRIVERS, got, strict=True):
        want = oracle.get((driver,))
        if want is None:
            assert {status for _, status, _ in answer.values()} == {"NOT_FOUND"}, driver
            continue
        assert {name: value for name, (value, _, _) in answer.items()} in want.newest_rows, (driver, answer)
        assert {stamp for _, _, stamp in answer.values()} == {datetime_to_micros(want.event_time)}


@pytest.mark.parametrize(
    "knobs",
    [
        {"cached_namespaces": [{"namespace": "tx", "ttl_seconds": 3600}]},
        {"bloom_filters": [{"namespace": "tx", "expected_keys": 100}], "bloom_filter_refresh_seconds": 3600},
    ],
    ids=["cached", "bloom"],
)
def test_a_cached_or_bloom_filtered_view_is_merged_for_each_reads_time(
    tmp_path: Path, proxy: FaultProxy, table_name: str, knobs: dict[str, Any]
) -> None:
    """A cached view keeps page items, not answers: each read merges them for its own time. A Bloom
    filter spares the read of the pages of drivers never pushed, and changes no answer."""
    feast = windowed_store(tmp_path, proxy.url, table_name, **knobs)
    try:
        push(feast, EVENTS)
        blooms = engine(feast).blooms
        if blooms is not None:
            read(feast, NOW)
            assert blooms.wait_loaded(60)
        for later in LATER:
            assert_as_pandas(read(feast, NOW + later), DRIVERS, NOW + later)
            before = proxy.faults.seen["BatchGetItem"]
            assert_as_pandas(read(feast, NOW + later), DRIVERS, NOW + later)  # again, from the cache if any
            if "cached_namespaces" in knobs:
                assert proxy.faults.seen["BatchGetItem"] == before
        if blooms is not None:
            before = proxy.faults.seen["BatchGetItem"]
            assert_as_pandas(read(feast, NOW, drivers=[3, 4]), [3, 4], NOW)
            assert proxy.faults.seen["BatchGetItem"] == before  # neither is in the filter: nothing read
    finally:
        feast._get_provider().online_store.close_engines()  # type: ignore[attr-defined]


def test_a_push_drops_the_pages_a_cached_view_holds(
    tmp_path: Path, proxy: FaultProxy, table_name: str
) -> None:
    feast = windowed_store(tmp_path, proxy.url, table_name, cached_namespaces=[{"namespace": "tx"}])
    try:
        push(feast, EVENTS[:2])
        assert_as_pandas(read(feast, NOW), DRIVERS, NOW, EVENTS[:2])
        push(feast, EVENTS[2:])
        assert_as_pandas(read(feast, NOW), DRIVERS, NOW)
    finally:
        feast._get_provider().online_store.close_engines()  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["write_to_online_store", "write_to_online_store_async", "push_async"])
def test_every_write_path_updates_the_buckets(store: FeatureStore, how: str) -> None:
    clock(store, NOW)
    frame = push_frame(store.get_stream_feature_view("tx"), EVENTS)
    if how == "write_to_online_store":
        store.write_to_online_store("tx", frame)
    elif how == "write_to_online_store_async":
        asyncio.run(store.write_to_online_store_async("tx", frame))
    else:
        asyncio.run(store.push_async("tx_push", frame))
    assert_as_pandas(read(store, NOW), DRIVERS, NOW)


def test_output_columns_in_a_pushed_frame_are_ignored(store: FeatureStore) -> None:
    """Feast wants every schema column in a push; outputs given values there change nothing."""
    clock(store, NOW)
    frame = push_frame(store.get_stream_feature_view("tx"), EVENTS)
    for name in FUNCTION:
        frame[name] = 999
    store.push("tx_push", frame)
    assert_as_pandas(read(store, NOW), DRIVERS, NOW)


def test_a_page_filled_in_one_push_and_a_hundred_entities_read_stay_within_dynamodbs_limits(
    store: FeatureStore, proxy: FaultProxy
) -> None:
    """Every bucket of a page (126 buckets x 6 parts: more than one UpdateItem may carry) in one push,
    and a read of 100 drivers' pages (about 900 keys: several BatchGetItems), all through the strict
    proxy, which fails any request AWS would refuse."""
    spec = windowed.spec_of(store.get_stream_feature_view("tx"))
    first = spec.page_of(spec.bucket_of(datetime_to_micros(NOW))) * spec.page_buckets
    page = [
        {"driver_id": 1, "amount": float(slot), "rider": f"r{slot}",
         "ts": datetime.fromtimestamp((first + slot) * spec.hop_ms / 1000, timezone.utc)}
        for slot in range(spec.page_buckets)
    ]  # fmt: skip
    others = [
        {"driver_id": d, "amount": 1.0, "rider": "a", "ts": NOW - timedelta(minutes=d)} for d in range(2, 101)
    ]
    updates = proxy.faults.seen["UpdateItem"]
    push(store, page)
    changes = spec.page_buckets * len(spec.parts)
    assert proxy.faults.seen["UpdateItem"] - updates >= math.ceil(changes / ATTRIBUTES_PER_UPDATE) > 1
    push(store, others)
    drivers = list(range(1, 101))
    assert_as_pandas(read(store, NOW, drivers), drivers, NOW, page + others)


def test_removing_a_windowed_view_deletes_its_pages(store: FeatureStore, moto_endpoint: Endpoint) -> None:
    push(store, [{"driver_id": d, "amount": 1.0, "rider": "a", "ts": NOW} for d in (1, 2, 3)])
    config = store.config.online_store
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint.url, region_name="us-east-1")

    def items() -> list[dict[str, Any]]:
        pages = client.get_paginator("scan").paginate(TableName=config.table_name)
        return [item for page in pages for item in page["Items"] if not item["pk"]["S"].startswith("~")]

    assert sum("@" in item["sk"]["S"] for item in items()) == 3  # a page each
    store.apply([], objects_to_delete=[store.get_stream_feature_view("tx")], partial=False)
    assert items() == []  # pages, and the entity items left with no view


def test_a_distinct_count_past_the_sketchs_exact_range_is_within_3_sigma(store: FeatureStore) -> None:
    """2,800 riders over 3 buckets of a week (some in two): the merged sketch's estimate,
    through Feast, within 3 standard deviations of its documented error (``windowed_oracle.agrees``)."""
    events = [
        {"driver_id": 1, "amount": 1.0, "rider": f"r{rider}", "ts": NOW - timedelta(days=day, minutes=1)}
        for day in range(3) for rider in range(day * 800, day * 800 + 1200)
    ]  # fmt: skip
    push(store, events)
    assert_as_pandas(read(store, NOW, [1]), [1], NOW, events)  # 2,800 riders: past the exact 192


def aggregate_metric(store: FeatureStore, name: str) -> float:
    labels = {"table": store.config.online_store.table_name, "region": "us-east-1", "view": "tx"}
    return REGISTRY.get_sample_value(f"{PREFIX}aggregate_{name}_total", labels) or 0.0


def test_the_update_cache_saves_the_read_of_a_hot_page_and_counts_it(
    store: FeatureStore, proxy: FaultProxy
) -> None:
    """A push merging into a page (min, max, sketch) reads it first unless the update cache has it:
    misses and hits counted on ``engine.aggregates.counts`` and in the Prometheus metrics alike."""
    counts = engine(store).aggregates.counts
    metrics_before = {
        name: aggregate_metric(store, name) for name in ("update_cache_hits", "update_cache_misses")
    }
    reads = proxy.faults.seen["BatchGetItem"]
    push(store, [{"driver_id": 1, "amount": 1.0, "rider": "a", "ts": NOW}])
    assert (counts.cache_misses, counts.cache_hits, proxy.faults.seen["BatchGetItem"] - reads) == (1, 0, 1)
    for number, rider in enumerate(["b", "c"]):
        event = {"driver_id": 1, "amount": -1.0 - number, "rider": rider, "ts": NOW - timedelta(seconds=1)}
        push(store, [event])
    assert (counts.cache_misses, counts.cache_hits, proxy.faults.seen["BatchGetItem"] - reads) == (1, 2, 1)
    assert aggregate_metric(store, "update_cache_misses") - metrics_before["update_cache_misses"] == 1
    assert aggregate_metric(store, "update_cache_hits") - metrics_before["update_cache_hits"] == 2
    answer = read(store, NOW, [1])[0]
    assert answer["min_amount_3600s"][0] == -2.0 and answer["count_distinct_rider_604800s"][0] == 3


@pytest.mark.parametrize("size", [0, 1])
def test_a_small_update_cache_reads_the_page_each_time(
    tmp_path: Path, proxy: FaultProxy, table_name: str, size: int
) -> None:
    """Size 1 and two drivers taking turns: each push evicts the other's page and reads its own.
    Size 0: no cache, every merge reads the page."""
    feast = windowed_store(tmp_path, proxy.url, table_name, aggregate_update_cache_size=size)
    try:
        counts = engine(feast).aggregates.counts
        reads = proxy.faults.seen["BatchGetItem"]
        events = [{"driver_id": 1 + number % 2, "amount": float(number), "rider": f"r{number}", "ts": NOW}
                  for number in range(4)]  # fmt: skip
        for event in events:
            push(feast, [event])
        assert proxy.faults.seen["BatchGetItem"] - reads == 4
        assert counts.cache_hits == 0
        assert counts.cache_evictions == (3 if size else 0)
        assert_as_pandas(read(feast, NOW), DRIVERS, NOW, events)
    finally:
        feast._get_provider().online_store.close_engines()  # type: ignore[attr-defined]


def test_late_events_are_counted_and_dropped(store: FeatureStore) -> None:
    late_metric = aggregate_metric(store, "events_late")
    push(store, EVENTS)
    assert engine(store).aggregates.counts.late_events == 1
    assert aggregate_metric(store, "events_late") - late_metric == 1
    assert_as_pandas(read(store, NOW), DRIVERS, NOW)


TIP_FIELDS = {"amount": Float64, "sum_tip_3600s": Float64}  # no tip: the column is not in the schema
TOO_WIDE, TOO_WIDE_FIELDS = distinct_counts(360)  # a bucket of 360 sketches: past 400 KB on its own


@pytest.mark.parametrize(
    ("aggregation", "hop", "fields", "says"),
    [
        (Aggregation(column="amount", function="sum", time_window=timedelta(minutes=25)), HOP, None,
         "is not a whole number of buckets"),
        (Aggregation(column="amount", function="median", time_window=HOUR), HOP, None,
         "is not one this store computes"),
        (Aggregation(column="tip", function="sum", time_window=HOUR), HOP, TIP_FIELDS,
         "add Field(name='tip'"),
        (TOO_WIDE, HOP, TOO_WIDE_FIELDS, "past DynamoDB's 409,600-byte item limit"),
    ],
    ids=["window", "function", "column", "item-limit"],
)  # fmt: skip
def test_feast_apply_refuses_a_view_it_cannot_keep_and_changes_nothing(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, aggregation: Aggregation | list[Aggregation],
    hop: timedelta, fields: dict[str, Any] | None, says: str,
) -> None:  # fmt: skip
    """The error names the view and the fix; the registry does not get the view."""
    config = repo_config(tmp_path, moto_endpoint.url, table_name)
    aggregations = aggregation if isinstance(aggregation, list) else [aggregation]
    view = windowed_view("bad", [DRIVER], aggregations, write_source(tmp_path / "bad.parquet"), hop, fields)
    feast = FeatureStore(config=config)
    try:
        with pytest.raises(InvalidWindowedView, match=f"^view 'bad': .*{re.escape(says)}"):
            feast.apply([DRIVER, view])
        assert "bad" not in [v.name for v in FeatureStore(config=config).list_stream_feature_views()]
    finally:
        feast._get_provider().online_store.close_engines()  # type: ignore[attr-defined]


def test_feast_serve_pushes_and_reads_windowed_aggregates(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    """A real ``feast serve`` (its async push and read paths, the real clock): events pushed over HTTP
    read back over HTTP as pandas' answer for the time of the read."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(
        yaml.safe_dump({
            "project": "served", "provider": "local", "registry": str(repo / "registry.db"),
            "online_store": {"type": STORE_TYPE, "table_name": table_name, "endpoint_url": moto_endpoint.url,
                             "create_tables_if_not_exists": True},
            "entity_key_serialization_version": 3,
        })
    )  # fmt: skip
    feast = FeatureStore(repo_path=str(repo))
    feast.apply([DRIVER, tx_view(write_source(tmp_path / "tx.parquet"))])
    processes: list[demo.ManagedProcess] = []
    try:
        _, port = demo.start_feast_serve(repo, tmp_path / "feast_serve.log", demo.child_env(), processes)
        pushed_at = datetime.now(timezone.utc)
        events = [{**event, "ts": event["ts"] - NOW + pushed_at} for event in EVENTS]
        frame = push_frame(feast.get_stream_feature_view("tx"), events)
        columns = {name: [None if pd.isna(v) else v for v in frame[name]] for name in frame if name != "ts"}
        post(port, "/push", {"push_source_name": "tx_push", "df": {**columns,
             "ts": [t.isoformat() for t in frame["ts"]]}, "to": "online"})  # fmt: skip
        request = {"features": REFS, "entities": {"driver_id": DRIVERS}}
        served, now = on_the_real_clock(lambda: post(port, "/get-online-features", request))
    finally:
        for process in processes:
            process.stop()
    got: list[Answer] = [{} for _ in DRIVERS]
    for name, result in zip(served["metadata"]["feature_names"], served["results"], strict=True):
        for row, value, status, stamp in zip(got, result["values"], result["statuses"],
                                             result["event_timestamps"], strict=True):  # fmt: skip
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            row[name] = (value, status, datetime_to_micros(when) if status != "NOT_FOUND" else None)
    rows = [{name: row[name] for name in FUNCTION} for row in got]
    assert_as_pandas(rows, DRIVERS, now, events, pushed_at)


def post(port: int, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"http://{demo.HOST}:{port}{path}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
    return json.loads(text) if text else None
