"""Namespace caches on a real server: requests counted at a proxy, values checked, writes seen."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from feast import FeatureStore
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.errors import UnknownNamespace
from feast_chalk_dynamo.reads.decoders import ProtoRows
from tests.fault_proxy import FaultProxy
from tests.feast_objects import driver_view, feature_store, repo_config
from tests.integration.test_store import NOW, applied, key, row, watch_batch_gets
from tests.servers import Endpoint

PRESENT, NOT_FOUND = FieldStatus.PRESENT, FieldStatus.NOT_FOUND


def cached(*views: str, ttl: float = 3600, size: int | None = None) -> list[dict[str, Any]]:
    return [{"namespace": v, "ttl_seconds": ttl, **({"max_lru_size": size} if size else {})} for v in views]


def batch_gets(proxy: FaultProxy) -> int:
    return proxy.faults.seen["BatchGetItem"]


def f0(rows: list[Any]) -> list[float | None]:
    return [r[1]["f0"].double_val if r[1] else None for r in rows]


@pytest.fixture
def stats_store(tmp_path: Path, proxy: FaultProxy, table_name: str) -> Iterator[tuple[Any, RepoConfig]]:
    """``stats`` cached, ``other`` not; 4 drivers written to both."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, cached_namespaces=cached("stats"))
    applied(store, config, driver_view("stats"), driver_view("other"))
    for view in ("stats", "other"):
        store.online_write_batch(config, driver_view(view), [row(i, float(i)) for i in range(4)], None)
    yield store, config
    store.close_engines()


def test_a_cached_row_is_served_without_a_request(
    stats_store: tuple[Any, RepoConfig], proxy: FaultProxy
) -> None:
    store, config = stats_store
    first = store.online_read(config, driver_view("stats"), [key(1), key(2)])
    before = batch_gets(proxy)
    again = store.online_read(config, driver_view("stats"), [key(2), key(1)])
    assert batch_gets(proxy) == before
    assert again == first[::-1]
    assert f0(again) == [2.0, 1.0]
    counts = store.namespace_counters(config)["stats"]
    assert counts["cache_hits"] == 2 and counts["misses"] == 2 and counts["reads_saved"] == 2


def test_a_cached_row_serves_any_subset_of_the_view(
    stats_store: tuple[Any, RepoConfig], proxy: FaultProxy
) -> None:
    store, config = stats_store
    store.online_read(config, driver_view("stats"), [key(3)], ["f1"])
    before = batch_gets(proxy)
    rows = store.online_read(config, driver_view("stats"), [key(3)])
    assert batch_gets(proxy) == before
    assert f0(rows) == [3.0] and rows[0][1]["tags"].string_list_val.val == ["t3", ""]


@pytest.mark.parametrize("cache_misses", [True, False])
def test_absent_rows_are_cached_only_with_negative_caching(
    tmp_path: Path, proxy: FaultProxy, table_name: str, cache_misses: bool
) -> None:
    store = ChalkDynamoOnlineStore()
    config = repo_config(
        tmp_path,
        proxy.url,
        table_name,
        cached_namespaces=cached("stats"),
        lru_cache_cache_misses=cache_misses,
    )
    applied(store, config, driver_view("stats"))
    store.online_write_batch(config, driver_view("stats"), [row(1, 1.0)], None)
    for _ in range(3):
        assert store.online_read(config, driver_view("stats"), [key(404)]) == [(None, None)]
    assert batch_gets(proxy) == (1 if cache_misses else 3)
    assert store.namespace_counters(config)["stats"]["negative_hits"] == (2 if cache_misses else 0)
    store.close_engines()


def test_a_write_through_the_store_is_read_back_at_once(
    stats_store: tuple[Any, RepoConfig], proxy: FaultProxy
) -> None:
    store, config = stats_store
    view = driver_view("stats")
    assert f0(store.online_read(config, view, [key(1), key(404)])) == [1.0, None]
    store.online_write_batch(config, view, [row(1, 10.0, NOW + timedelta(seconds=1))], None)
    store.online_write_batch(config, view, [row(404, 40.0)], None)  # a cached miss becomes a row
    before = batch_gets(proxy)
    assert f0(store.online_read(config, view, [key(1), key(404)])) == [10.0, 40.0]
    assert batch_gets(proxy) == before + 1
    assert f0(store.online_read(config, view, [key(1), key(404)])) == [10.0, 40.0]
    assert batch_gets(proxy) == before + 1


def test_another_process_s_write_is_seen_only_when_the_row_expires(
    tmp_path: Path, stats_store: tuple[Any, RepoConfig], proxy: FaultProxy, table_name: str
) -> None:
    """What the README states: a row cached elsewhere is stale for up to ttl_seconds."""
    store, config = stats_store
    view = driver_view("stats")
    assert f0(store.online_read(config, view, [key(2)])) == [2.0]
    # Another configuration is another engine: as good as another process.
    elsewhere = ChalkDynamoOnlineStore()
    other_config = repo_config(tmp_path, proxy.url, table_name, num_serde_threads=1)
    elsewhere.online_write_batch(other_config, view, [row(2, 20.0, NOW + timedelta(seconds=1))], None)
    assert f0(store.online_read(config, view, [key(2)])) == [2.0]  # stale, as documented
    assert f0(elsewhere.online_read(other_config, view, [key(2)])) == [20.0]
    elsewhere.close_engines()


def test_views_answered_locally_are_left_out_of_the_request(
    stats_store: tuple[Any, RepoConfig], proxy: FaultProxy
) -> None:
    """Two views of one entity share its key; the cached one is not asked for again."""
    store, config = stats_store
    fs_views = [
        (driver_view("stats"), [key(1), key(2)], None),
        (driver_view("other"), [key(1), key(2)], None),
    ]
    engine = store.engine(config)
    captured = watch_batch_gets(engine)
    first = store._read_views(config, fs_views, ProtoRows)
    engine.run(first[2])
    second = store._read_views(config, fs_views, ProtoRows)
    rows = engine.run(second[2])
    assert [f0(view_rows) for view_rows in rows] == [[1.0, 2.0], [1.0, 2.0]]
    stats_ts = first[1][0].layout.ts_attr
    other_ts = first[1][1].layout.ts_attr
    asked = [set(spec["ExpressionAttributeNames"].values()) for spec in captured]
    assert stats_ts in asked[0] and other_ts in asked[0]
    assert other_ts in asked[1] and not asked[1] & first[1][0].layout.fetched_attributes()


def test_a_request_answered_locally_sends_nothing(tmp_path: Path, proxy: FaultProxy, table_name: str) -> None:
    config = repo_config(tmp_path, proxy.url, table_name, cached_namespaces=cached("v0", "v1"))
    views = [driver_view("v0"), driver_view("v1")]
    fs = feature_store(config, *views)
    online_store = fs._get_provider().online_store
    for view in views:
        online_store.online_write_batch(fs.config, view, [row(i, float(i)) for i in range(3)], None)

    def read() -> dict[str, Any]:
        return fs.get_online_features(
            features=["v0:f0", "v1:f1"], entity_rows=[{"driver_id": i} for i in (0, 2, 9)]
        ).to_dict()

    first = read()
    before = batch_gets(proxy)
    assert read() == first
    assert batch_gets(proxy) == before
    assert first["f0"] == [0.0, 2.0, None] and first["f1"] == [-0.0, -2.0, None]
    online_store.close_engines()


def test_eviction_is_counted(tmp_path: Path, proxy: FaultProxy, table_name: str) -> None:
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name, cached_namespaces=cached("stats", size=2))
    applied(store, config, driver_view("stats"))
    store.online_write_batch(config, driver_view("stats"), [row(i, float(i)) for i in range(4)], None)
    store.online_read(config, driver_view("stats"), [key(i) for i in range(4)])
    assert store.namespace_counters(config)["stats"]["evictions"] == 2
    store.close_engines()


@pytest.mark.parametrize("knob", ["cached_namespaces", "bloom_filters"])
def test_a_namespace_no_view_has_is_an_error_naming_the_knob(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, knob: str
) -> None:
    store = ChalkDynamoOnlineStore()
    entries = [{"namespace": "stats"}, {"namespace": "statz"}]
    config = repo_config(tmp_path, moto_endpoint.url, table_name, **{knob: entries})
    with pytest.raises(UnknownNamespace, match=rf"{knob} \(DYNAMODB_{knob.upper()}\) names \['statz'\]"):
        applied(store, config, driver_view("stats"))
    with pytest.raises(UnknownNamespace, match="statz"):
        store.online_read(config, driver_view("stats"), [key(1)])
    store.close_engines()


def test_the_env_var_configures_the_cache(
    tmp_path: Path, proxy: FaultProxy, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNAMODB_CACHED_NAMESPACES", json.dumps(cached("stats")))
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, proxy.url, table_name)
    applied(store, config, driver_view("stats"))
    store.online_write_batch(config, driver_view("stats"), [row(1, 1.0)], None)
    for _ in range(2):
        store.online_read(config, driver_view("stats"), [key(1)])
    assert batch_gets(proxy) == 1
    store.close_engines()


def test_reads_racing_writes_never_leave_an_older_row_cached(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    """Readers on four threads fill the cache while a writer moves every key forward, round by round;
    once the writer is done, every key reads back its last value.

    The window in which a read in flight could put back an older row is too
    narrow to hit reliably here; tests/unit/test_cache.py hits it on purpose.
    """
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, moto_endpoint.url, table_name, cached_namespaces=cached("stats"))
    view = driver_view("stats")
    applied(store, config, view)
    keys = [key(i) for i in range(6)]
    rounds = 8
    done = threading.Event()
    errors: list[BaseException] = []

    def read_until_done() -> None:
        try:
            while not done.is_set():
                store.online_read(config, view, keys)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    readers = [threading.Thread(target=read_until_done) for _ in range(4)]
    for reader in readers:
        reader.start()
    for n in range(rounds):
        rows = [row(i, float(n), NOW + timedelta(seconds=n)) for i in range(6)]
        store.online_write_batch(config, view, rows, None)
    done.set()
    for reader in readers:
        reader.join()
    assert not errors
    assert f0(store.online_read(config, view, keys)) == [float(rounds - 1)] * 6
    store.close_engines()


def test_the_async_path_is_answered_from_the_cache_too(
    tmp_path: Path, proxy: FaultProxy, table_name: str
) -> None:
    """``feast serve``'s path: the engine's shared loop, decoding on the serde pool."""
    config = repo_config(tmp_path, proxy.url, table_name, cached_namespaces=cached("v0"))
    fs = feature_store(config, driver_view("v0"), driver_view("v1"))
    online_store = fs._get_provider().online_store
    for name in ("v0", "v1"):
        online_store.online_write_batch(
            fs.config, driver_view(name), [row(i, float(i)) for i in range(3)], None
        )

    async def read() -> dict[str, Any]:
        response = await fs.get_online_features_async(
            features=["v0:f0", "v1:f1"], entity_rows=[{"driver_id": i} for i in (0, 2, 9)]
        )
        return response.to_dict()

    first = asyncio.run(read())
    captured = watch_batch_gets(online_store.engine(fs.config))
    assert asyncio.run(read()) == first
    assert first["f0"] == [0.0, 2.0, None] and first["f1"] == [-0.0, -2.0, None]
    # v1 is not cached: every key goes again, for v1 alone (driver 9's miss for v0 is cached too).
    assert [len(spec["Keys"]) for spec in captured] == [3]
    assert online_store.namespace_counters(fs.config)["v0"]["cache_hits"] == 2
    online_store.close_engines()


def _answer(fs: Any, refs: list[str], drivers: list[int]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The response as a dict, and each feature's statuses by name (Feast orders them as it likes)."""
    response = fs.get_online_features(features=refs, entity_rows=[{"driver_id": d} for d in drivers])
    names = response.proto.metadata.feature_names.val
    statuses = {
        name: list(vector.statuses) for name, vector in zip(names, response.proto.results, strict=True)
    }
    return response.to_dict(), statuses


def test_a_row_cached_before_the_view_gained_a_feature_is_a_miss(
    tmp_path: Path, proxy: FaultProxy, table_name: str
) -> None:
    """Through Feast: after the view gains ``f3``, the cached rows (decoded without it) answer no read;
    the rows read again lack ``f3`` (NOT_FOUND, the rest PRESENT) from DynamoDB and from the cache
    alike, as a store without a cache answers; a write of ``f3`` drops its row."""
    config = repo_config(tmp_path, proxy.url, table_name, cached_namespaces=cached("stats"))
    fs = feature_store(config, driver_view("stats"))
    online_store = fs._get_provider().online_store
    online_store.online_write_batch(
        fs.config, driver_view("stats"), [row(i, float(i)) for i in range(2)], None
    )
    drivers = [0, 1, 9]
    first = _answer(fs, ["stats:f0", "stats:tags"], drivers)
    before = batch_gets(proxy)
    assert _answer(fs, ["stats:tags", "stats:f0"], drivers)[0] == first[0]
    assert batch_gets(proxy) == before  # the cached rows, cut to another order of features

    gained = driver_view("stats", n_features=4)
    fs.apply([gained])
    uncached = FeatureStore(config=repo_config(tmp_path, proxy.url, table_name))
    refs = ["stats:f0", "stats:f3", "stats:rate"]
    expected = _answer(uncached, refs, drivers)
    assert expected[0]["f3"] == [None] * 3 and expected[1]["f3"] == [NOT_FOUND] * 3
    assert expected[1]["f0"] == [PRESENT, PRESENT, NOT_FOUND]
    before = batch_gets(proxy)
    assert _answer(fs, refs, drivers) == expected  # a miss: read again
    assert batch_gets(proxy) == before + 1
    assert _answer(fs, refs, drivers) == expected  # and now cached, lacking f3 still
    assert batch_gets(proxy) == before + 1

    values = {**row(0, 5.0, NOW + timedelta(seconds=1))[1], "f3": ValueProto(double_val=3.5)}
    online_store.online_write_batch(
        fs.config, gained, [(key(0), values, NOW + timedelta(seconds=1), None)], None
    )
    answer, statuses = _answer(fs, refs, drivers)
    assert answer["f0"] == [5.0, 1.0, None] and answer["f3"] == [3.5, None, None]
    assert statuses["f3"] == [PRESENT, NOT_FOUND, NOT_FOUND]
    assert batch_gets(proxy) == before + 2
    assert _answer(fs, refs, drivers) == (answer, statuses)
    assert batch_gets(proxy) == before + 2
    online_store.close_engines()
