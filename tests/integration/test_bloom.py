"""Bloom filters on a real server: built by Scan or loaded from the table, refreshed across processes."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from feast.repo_config import RepoConfig

from feast_chalk_dynamo import ChalkDynamoOnlineStore, bloom
from feast_chalk_dynamo.bloom import BLOOM_PK_PREFIX
from feast_chalk_dynamo.layout import ts_attr
from tests.bloom_writer import write_keys
from tests.fault_proxy import FaultProxy
from tests.feast_objects import driver_view, repo_config
from tests.integration.test_namespace_cache import batch_gets, f0
from tests.integration.test_store import applied, key, row
from tests.servers import Endpoint

LOAD_TIMEOUT = 60


@pytest.fixture
def proxy(moto_endpoint: Endpoint) -> Iterator[FaultProxy]:
    """Strict (the session's moto endpoint is behind a strict proxy) and counting."""
    with FaultProxy(moto_endpoint.url) as running:
        yield running


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
    written_by = time.monotonic()
    for _ in range(100):
        if blooms.refreshed_since(written_by):
            break
        blooms.refreshed.clear()
        blooms.refreshed.wait(5)
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
