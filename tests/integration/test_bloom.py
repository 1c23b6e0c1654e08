"""Bloom filters on a real server: built by Scan or loaded from the table, refreshed across processes."""

from __future__ import annotations

import multiprocessing
import queue
import statistics
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from feast.repo_config import RepoConfig

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.items.layout import ts_attr
from feast_chalk_dynamo.local import bloom
from feast_chalk_dynamo.local.bloom_table import BLOOM_PK_PREFIX
from tests.bloom_writer import (
    load_together,
    publish_keys,
    push_rows,
    refresh_together,
    wait_refreshed_since,
    write_keys,
)
from tests.fault_proxy import FaultProxy, fixed
from tests.feast_objects import driver_view, repo_config
from tests.integration.test_namespace_cache import batch_gets, f0
from tests.integration.test_store import applied, key, row
from tests.servers import Endpoint

LOAD_TIMEOUT = 60
SPAWN = multiprocessing.get_context("spawn")


def filtered(refresh: float = 3600, debug: bool = False, **entry: Any) -> dict[str, Any]:
    return {
        "bloom_filters": [{"namespace": "stats", "expected_keys": 1000, "error_rate": 0.001, **entry}],
        "bloom_filter_refresh_seconds": refresh,
        "bloom_filter_debug_mode": debug,
    }


def loaded(store: ChalkDynamoOnlineStore, config: RepoConfig) -> None:
    """First use starts loading the filters; wait until they are in."""
    store.online_read(config, driver_view("stats"), [key(0)])
    blooms = store.engine(config).blooms
    assert blooms is not None and blooms.wait_loaded(LOAD_TIMEOUT)


def bloom_items(proxy_url: str, table: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", endpoint_url=proxy_url, region_name="us-east-1")
    pages = client.get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page["Items"] if item["pk"]["S"].startswith(BLOOM_PK_PREFIX)]


@pytest.fixture
def written(tmp_path: Path, proxy: FaultProxy, table_name: str) -> Iterator[RepoConfig]:
    """Rows for drivers 0..49, written by a store without filters (so the filter must come from a Scan)."""
    plain = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name)
    applied(plain, config, driver_view("stats"))
    plain.online_write_batch(config, driver_view("stats"), [row(i, float(i)) for i in range(50)], None)
    plain.close_engines()
    yield config


def test_a_key_the_filter_never_saw_costs_no_request(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **filtered())
    scans_before = proxy.faults.seen["Scan"]
    loaded(store, config)
    assert proxy.faults.seen["Scan"] > scans_before  # built by a parallel Scan
    before = batch_gets(proxy)
    absent = [key(i) for i in range(1000, 1100)]
    assert store.online_read(config, driver_view("stats"), absent) == [(None, None)] * 100
    assert batch_gets(proxy) == before
    assert f0(store.online_read(config, driver_view("stats"), [key(7), key(2000)])) == [7.0, None]
    counts = store.namespace_counters(config)["stats"]
    assert counts["bloom_skips"] == 101 and counts["bloom_false_negatives"] == 0
    store.close_engines()


@pytest.mark.parametrize("expected_keys", [1000, 1_000_000], ids=["one-chunk", "default-size"])
def test_another_engine_loads_the_saved_snapshot_without_a_scan(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str, expected_keys: int
) -> None:
    """The default sizing saves a snapshot of several chunks (about 2 MB), which every server must take."""
    first = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **filtered(expected_keys=expected_keys))
    loaded(first, config)
    second = ChalkDynamoOnlineStore()
    other_config = repo_config(
        tmp_path, proxy.url, table_name, num_serde_threads=1, **filtered(expected_keys=expected_keys)
    )
    scans_before = proxy.faults.seen["Scan"]
    loaded(second, other_config)
    assert proxy.faults.seen["Scan"] == scans_before
    keys = [key(i) for i in range(45, 55)]
    assert (
        f0(second.online_read(other_config, driver_view("stats"), keys))
        == [45.0, 46, 47, 48, 49] + [None] * 5
    )
    assert second.namespace_counters(other_config)["stats"]["bloom_skips"] >= 5
    first.close_engines()
    second.close_engines()


def test_keys_written_in_another_process_are_seen_after_a_refresh(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    """Two stores in two processes: every key written before the reader's refresh reads back."""
    knobs = filtered(refresh=0.2)
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **knobs)
    loaded(store, config)
    assert store.online_read(config, driver_view("stats"), [key(500)]) == [(None, None)]
    new_ids = list(range(500, 540))
    spawn = multiprocessing.get_context("spawn")
    writer = spawn.Process(target=write_keys, args=(str(tmp_path), proxy.url, table_name, knobs, new_ids))
    writer.start()
    writer.join(120)
    assert writer.exitcode == 0
    blooms = store.engine(config).blooms
    assert blooms is not None
    wait_refreshed_since(blooms, time.monotonic())
    # The first refresh that began after the write ended knows every key it wrote.
    assert f0(store.online_read(config, driver_view("stats"), [key(i) for i in new_ids])) == new_ids
    store.close_engines()


def test_debug_mode_reads_anyway_and_counts_the_filter_s_mistakes(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **filtered(debug=True))
    loaded(store, config)
    # Written behind the filter's back (a writer without the filter configured): a false negative.
    write_keys(str(tmp_path), proxy.url, table_name, {}, [900])
    before = batch_gets(proxy)
    rows = store.online_read(config, driver_view("stats"), [key(900), key(901), key(3)])
    assert batch_gets(proxy) == before + 1
    assert f0(rows) == [900.0, None, 3.0]  # debug mode answers what DynamoDB holds
    counts = store.namespace_counters(config)["stats"]
    assert counts["bloom_false_negatives"] == 1 and counts["bloom_skips"] == 0
    store.close_engines()


def test_a_write_through_the_filtered_store_is_read_back_at_once(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **filtered())
    loaded(store, config)
    assert store.online_read(config, driver_view("stats"), [key(777)]) == [(None, None)]
    store.online_write_batch(config, driver_view("stats"), [row(777, 7.0)], None)
    assert f0(store.online_read(config, driver_view("stats"), [key(777)])) == [7.0]
    store.close_engines()


def test_many_keys_publish_in_chunks_within_the_item_limit(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    """30,000 keys of ~40 bytes: several chunks, each under 400 KB (the strict proxy checks)."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, moto_endpoint.url, table_name, **filtered())
    applied(store, config, driver_view("stats"))
    blooms = store.engine(config).blooms
    assert blooms is not None
    keys = [f"p1|k={i:036d}" for i in range(30_000)]
    namespace_id = store.engine(config).names.live_namespaces(config.project)["stats"].id
    blooms.written("stats", ts_attr(namespace_id), keys)
    chunks = [i for i in bloom_items(moto_endpoint.url, table_name) if i["sk"]["S"].startswith("keys/")]
    assert len(chunks) >= 3
    assert sorted(k for chunk in chunks for k in chunk["keys"]["SS"]) == sorted(keys)
    store.close_engines()


def test_removing_the_view_deletes_its_filter(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **filtered())
    loaded(store, config)
    assert bloom_items(proxy.url, table_name)
    store.close_engines()
    plain = ChalkDynamoOnlineStore()  # the filter's knob would now name a missing view
    plain.update(written, [driver_view("stats")], [driver_view("other")], [], [], partial=False)
    assert bloom_items(proxy.url, table_name) == []
    plain.close_engines()


def test_a_reader_saves_a_newer_snapshot_and_old_log_entries_go(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After enough published batches a reader compacts; a new reader loads the newer snapshot."""
    monkeypatch.setattr(bloom, "COMPACT_AFTER_BATCHES", 3)
    monkeypatch.setattr(bloom, "CLOCK_MARGIN_MS", 0)  # so compaction may delete every older log entry
    knobs = filtered(refresh=0.1)
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **knobs)
    loaded(store, config)
    for batch in range(4):
        store.online_write_batch(config, driver_view("stats"), [row(600 + batch, 1.0)], None)
    blooms = store.engine(config).blooms
    assert blooms is not None
    for _ in range(50):
        heads = [i for i in bloom_items(proxy.url, table_name) if i["sk"]["S"] == "head"]
        if heads and heads[0]["version"]["N"] == "2":
            break
        blooms.refreshed.clear()
        blooms.refreshed.wait(5)
    blooms.refreshed.clear()
    blooms.refreshed.wait(5)  # the pass that saved the head has finished its deletions
    items = bloom_items(proxy.url, table_name)
    (head,) = [i for i in items if i["sk"]["S"] == "head"]
    assert head["version"]["N"] == "2"
    assert not [i for i in items if i["sk"]["S"].startswith("snap/000000000001/")]
    logged = [int(i["sk"]["S"].split("/")[1]) for i in items if i["sk"]["S"].startswith("log/")]
    assert all(ms >= int(head["covered"]["N"]) for ms in logged) and len(logged) < 4
    fresh = ChalkDynamoOnlineStore()
    fresh_config = repo_config(tmp_path, proxy.url, table_name, num_serde_threads=1, **knobs)
    loaded(fresh, fresh_config)
    rows = fresh.online_read(fresh_config, driver_view("stats"), [key(600 + b) for b in range(4)])
    assert f0(rows) == [1.0] * 4
    store.close_engines()
    fresh.close_engines()


def test_teardown_deletes_the_project_s_filters(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    """Another project keeps the table alive; the torn-down project's filter items are gone."""
    neighbour = ChalkDynamoOnlineStore()
    neighbour_config = repo_config(tmp_path, proxy.url, table_name, project="neighbour")
    applied(neighbour, neighbour_config, driver_view("stats"))
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **filtered())
    loaded(store, config)
    assert bloom_items(proxy.url, table_name)
    store.teardown(config, [driver_view("stats")], [])
    assert bloom_items(proxy.url, table_name) == []
    neighbour.close_engines()


# -- several processes writing the same filter's items --------------------------------------------


@contextmanager
def running(processes: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """Start the processes; whatever happens, none outlives the block."""
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            if process.pid is not None:
                process.join()


def finished(processes: Sequence[Any], timeout: float = 120) -> None:
    """Wait for every process (in all, at most ``timeout`` s) and require that each succeeded."""
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    assert [process.exitcode for process in processes] == [0] * len(processes)


def run(processes: Sequence[Any]) -> None:
    with running(processes):
        finished(processes)


def snapshot_state(url: str, table: str) -> tuple[dict[str, Any], list[str]]:
    """The head, and the names of the snapshot chunks in the table."""
    items = bloom_items(url, table)
    (head,) = [item for item in items if item["sk"]["S"] == "head"]
    return head, sorted(item["sk"]["S"] for item in items if item["sk"]["S"].startswith("snap/"))


def assert_one_whole_snapshot(url: str, table: str, version: int) -> None:
    """The head names ``version``, and exactly its chunks are in the table: losers left none."""
    head, chunks = snapshot_state(url, table)
    assert head["version"]["N"] == str(version)
    assert len(chunks) == int(head["chunks"]["N"])
    assert all(chunk.startswith(f"snap/{version:012d}/{head['snapshot']['S']}/") for chunk in chunks)


def assert_loads_without_a_scan(tmp_path: Path, proxy: FaultProxy, table: str, knobs: dict[str, Any]) -> None:
    """A new process's filter comes from the saved snapshot and answers right."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table, num_serde_threads=1, **knobs)
    scans = proxy.faults.seen["Scan"]
    loaded(store, config)
    assert proxy.faults.seen["Scan"] == scans
    assert f0(store.online_read(config, driver_view("stats"), [key(7), key(49), key(5000)])) == [
        7.0,
        49.0,
        None,
    ]
    assert store.namespace_counters(config)["stats"]["bloom_skips"] == 1
    store.close_engines()


def test_processes_building_the_first_snapshot_at_once_leave_one_whole_snapshot(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    """Three processes find no snapshot, build by Scan and save version 1 at once (issue 17, point 3).

    Every saver wrote its chunks under the same names and each loser deleted
    them: the head named chunks that no longer existed, and every later
    process retried loading forever.
    """
    knobs = filtered(expected_keys=300_000)  # a snapshot of two chunks
    proxy.faults.update(operations=frozenset({"Scan"}), delay=fixed(1.0))  # the builds overlap
    barrier = SPAWN.Barrier(3, timeout=60)
    scans = proxy.faults.seen["Scan"]
    run(
        [
            SPAWN.Process(target=load_together, args=(str(tmp_path), proxy.url, table_name, knobs, barrier))
            for _ in range(3)
        ]
    )
    assert proxy.faults.seen["Scan"] - scans >= 2 * 4  # builds of four segments each: they raced
    proxy.faults.reset()
    assert_one_whole_snapshot(proxy.url, table_name, 1)
    assert_loads_without_a_scan(tmp_path, proxy, table_name, knobs)


def test_processes_compacting_at_once_leave_one_whole_snapshot(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    """Three readers pass the compaction threshold together and all save version 2 (issue 17, point 3)."""
    knobs = filtered(expected_keys=300_000)
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **knobs)  # never refreshes: saves version 1 only
    loaded(store, config)
    barrier = SPAWN.Barrier(4, timeout=60)
    readers = [
        SPAWN.Process(
            target=refresh_together,
            args=(
                str(tmp_path),
                proxy.url,
                table_name,
                filtered(refresh=0.2, expected_keys=300_000),
                3,
                barrier,
            ),
        )
        for _ in range(3)
    ]
    with running(readers):
        barrier.wait()  # every reader has loaded version 1
        puts = proxy.faults.seen["PutItem"]
        # Slow puts: every reader reads the head before any saver's head put lands.
        proxy.faults.update(operations=frozenset({"PutItem"}), delay=fixed(0.5))
        for batch in range(3):
            store.online_write_batch(config, driver_view("stats"), [row(600 + batch, 1.0)], None)
        barrier.wait()
        finished(readers)
    savers = (proxy.faults.seen["PutItem"] - puts - 3) // 3  # each save puts two chunks and a head
    print(f"{savers} readers saved version 2")
    proxy.faults.reset()
    assert_one_whole_snapshot(proxy.url, table_name, 2)
    assert_loads_without_a_scan(tmp_path, proxy, table_name, knobs)
    store.close_engines()


@pytest.mark.parametrize("damage", ["chunks-gone", "earlier-release", "earlier-release-chunks-gone"])
def test_a_snapshot_that_cannot_be_read_whole_is_rebuilt_by_a_scan(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str, damage: str
) -> None:
    """The head names chunks that are gone, or a head of an earlier release (whose chunk names savers
    shared): a loader builds by Scan and replaces it, instead of retrying forever (issue 17, point 3)."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **filtered())
    loaded(store, config)
    store.close_engines()
    client = boto3.client("dynamodb", endpoint_url=proxy.url, region_name="us-east-1")
    head, chunks = snapshot_state(proxy.url, table_name)
    pk = head["pk"]
    (chunk,) = chunks  # a filter sized for 1,000 keys
    data = client.get_item(TableName=table_name, Key={"pk": pk, "sk": {"S": chunk}})["Item"]["data"]
    client.delete_item(TableName=table_name, Key={"pk": pk, "sk": {"S": chunk}})
    if damage.startswith("earlier-release"):  # its layout: no snapshot name, chunks at snap/<version>/<i>
        client.put_item(TableName=table_name, Item={k: v for k, v in head.items() if k != "snapshot"})
    if damage == "earlier-release":
        client.put_item(
            TableName=table_name, Item={"pk": pk, "sk": {"S": "snap/000000000001/000000"}, "data": data}
        )
    rebuilder = ChalkDynamoOnlineStore()
    rebuilt_config = repo_config(tmp_path, proxy.url, table_name, num_serde_threads=2, **filtered())
    scans = proxy.faults.seen["Scan"]
    loaded(rebuilder, rebuilt_config)
    assert proxy.faults.seen["Scan"] > scans
    rebuilder.close_engines()
    assert_one_whole_snapshot(proxy.url, table_name, 2)
    assert_loads_without_a_scan(tmp_path, proxy, table_name, filtered())


def test_keys_written_while_the_filter_loads_are_in_it_when_it_is_put_in_place(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    """Keys published after the load's log read, while it reads the head, go in the filter it loads."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **filtered())
    engine = store.engine(config)
    blooms = engine.blooms
    assert blooms is not None
    attr = ts_attr(engine.names.live_namespaces(config.project)["stats"].id)
    # Slow head reads: many batches are published while the load runs, some after its log read.
    proxy.faults.update(operations=frozenset({"GetItem"}), delay=fixed(0.5))
    published: list[str] = []
    tail = 3  # batches after the filter is in place
    while tail:
        if blooms.filter_for("stats", attr) is not None:
            tail -= 1
        keys = [f"k{len(published) + i}" for i in range(4)]
        blooms.written("stats", attr, keys)
        published += keys
    bloom_filter = blooms.filter_for("stats", attr)
    assert bloom_filter is not None and all(bloom_filter.may_contain(published))
    store.close_engines()


def test_a_filter_that_cannot_load_holds_none_of_the_keys_written_meanwhile(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    """A load that keeps failing costs no memory per key written (issue 17, point 3: every key was
    kept aside for it, without bound); once it loads, every key is in."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, max_retries=0, **filtered(refresh=1))
    engine = store.engine(config)
    blooms = engine.blooms
    assert blooms is not None
    attr = ts_attr(engine.names.live_namespaces(config.project)["stats"].id)
    proxy.faults.update(operations=frozenset({"Scan"}), error_share=1.0)  # every build fails
    assert blooms.filter_for("stats", attr) is None
    while blooms.passes < 2:
        blooms.refreshed.clear()
        blooms.refreshed.wait(5)
    blooms.written("stats", attr, ["warm-up"])  # connections and caches in place before measuring
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for batch in range(50):  # each batch's keys made here and let go: only a holder keeps them
            blooms.written("stats", attr, batch_keys(batch))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    print(f"memory grown while writing 100,000 keys: {grown:,} bytes")
    assert blooms.filter_for("stats", attr) is None
    assert grown < 2_000_000  # the keys are some 8.5 MB of Python strings
    proxy.faults.reset()
    assert blooms.wait_loaded(LOAD_TIMEOUT)
    bloom_filter = blooms.filter_for("stats", attr)
    assert bloom_filter is not None
    assert all(bloom_filter.may_contain(key for batch in range(50) for key in batch_keys(batch)))
    store.close_engines()


def batch_keys(batch: int) -> list[str]:
    return [f"key-{batch}-{i:032d}" for i in range(2000)]


def test_a_forgotten_filter_is_loaded_afresh_from_the_table(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str
) -> None:
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **filtered())
    loaded(store, config)
    blooms = store.engine(config).blooms
    assert blooms is not None
    scans, queries = proxy.faults.seen["Scan"], proxy.faults.seen["Query"]
    blooms.forget_all()
    assert blooms.refreshed_since(float("-inf"))  # no namespace left
    loaded(store, config)
    assert proxy.faults.seen["Scan"] == scans and proxy.faults.seen["Query"] > queries  # its snapshot
    assert f0(store.online_read(config, driver_view("stats"), [key(3), key(3000)])) == [3.0, None]
    store.close_engines()


# -- how long a key published elsewhere reads absent ----------------------------------------------


def reader_queries(store: ChalkDynamoOnlineStore, config: RepoConfig) -> int:
    return store.engine(config).requests.snapshot()["Query"]


def test_a_reader_keeps_up_with_400_pushes_in_10_seconds(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every key pushed is present after the first refresh pass that began after the push, and each
    pass reads the log with one Query however many batches it holds (issue 17, point 4: one Query
    per batch, in sequence, fell behind without bound)."""
    monkeypatch.setattr(bloom, "COMPACT_AFTER_BATCHES", 10**9)  # no compaction's Query of old entries
    knobs = filtered(refresh=3)
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **knobs)
    loaded(store, config)
    blooms = store.engine(config).blooms
    assert blooms is not None
    queries, passes = reader_queries(store, config), blooms.passes
    ids = list(range(1000, 1400))
    run([SPAWN.Process(target=push_rows, args=(str(tmp_path), proxy.url, table_name, knobs, ids, 10.0))])
    wait_refreshed_since(blooms, time.monotonic())
    assert f0(store.online_read(config, driver_view("stats"), [key(i) for i in ids])) == ids
    made = blooms.passes - passes
    # One Query a pass (and one more if a pass is under way), not one per batch.
    assert reader_queries(store, config) - queries <= made + 1
    print(f"{made} refresh passes read 400 pushes with {reader_queries(store, config) - queries} Queries")
    store.close_engines()


def test_the_reader_s_lag_behind_four_processes_publishing_1000_keys_a_second(
    tmp_path: Path, written: RepoConfig, proxy: FaultProxy, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A measurement (printed) of how long after its publish a key enters another process's filter;
    asserted: a key published before a pass began is in the filter once it ends."""
    monkeypatch.setattr(bloom, "COMPACT_AFTER_BATCHES", 10**9)  # no compaction's Query of old entries
    knobs = filtered(refresh=3)
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, **knobs)
    loaded(store, config)
    engine = store.engine(config)
    blooms = engine.blooms
    assert blooms is not None
    attr = ts_attr(engine.names.live_namespaces(config.project)["stats"].id)
    queries, passes = reader_queries(store, config), blooms.passes
    plan = (200, 10, 8.0)  # 200 batches of 10 keys in 8 s: 250 keys a second from each of four
    out = SPAWN.Queue()
    writers = [
        SPAWN.Process(
            target=publish_keys, args=(str(tmp_path), proxy.url, table_name, knobs, f"w{n}", plan, out)
        )
        for n in range(4)
    ]
    with running(writers):
        lags, first, last = sample_lags(blooms, attr, out, len(writers))
        finished(writers)
    assert len(lags) == 4 * plan[0]
    made, read = blooms.passes - passes, reader_queries(store, config) - queries
    print(
        f"4 processes published {4 * plan[0] * plan[1]} keys in {last - first:.1f} s; "
        f"lag until in the reader's filter (refresh 3 s): p50 {statistics.median(lags):.2f} s, "
        f"p99 {lags[int(len(lags) * 0.99)]:.2f} s, max {lags[-1]:.2f} s; {made} passes, {read} Queries"
    )
    assert read <= made + 1
    store.close_engines()


def sample_lags(blooms: Any, attr: str, out: Any, writers: int) -> tuple[list[float], float, float]:
    """After every pass, check the batches the writers report; their lags (sorted), first and last publish.

    Asserts that a batch published before a pass began is in the filter once it has ended.
    """
    waiting: list[tuple[float, list[str]]] = []
    lags: list[float] = []
    first = last = None
    publishing = writers
    deadline = time.monotonic() + 120
    while publishing or waiting:
        assert time.monotonic() < deadline, (
            f"{publishing} writers still publishing, {len(waiting)} batches not in"
        )
        blooms.refreshed.clear()
        blooms.refreshed.wait(1)
        while True:
            try:
                got = out.get_nowait()
            except queue.Empty:
                break
            if got is None:
                publishing -= 1
            else:
                waiting.append(got)
                first = got[0] if first is None else min(first, got[0])
                last = got[0] if last is None else max(last, got[0])
        bloom_filter = blooms.filter_for("stats", attr)
        assert bloom_filter is not None
        now = time.monotonic()
        still = []
        for published, keys in waiting:
            due = blooms.refreshed_since(published)  # before the check: a pass may end meanwhile
            present = all(bloom_filter.may_contain(keys))
            assert present or not due, "a pass that began after the publish ended without its keys"
            if present:
                lags.append(now - published)
            else:
                still.append((published, keys))
        waiting = still
    assert first is not None and last is not None
    return sorted(lags), first, last
