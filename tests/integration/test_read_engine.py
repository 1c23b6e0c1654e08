"""The read engine under faults: pools, sub-batching, retries, timeouts, racing, both read paths."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.dynamo.caller import RACING_BUDGET_BURST, RACING_BUDGET_SHARE
from feast_chalk_dynamo.engine import ENGINES, Engine
from feast_chalk_dynamo.errors import ConnectionFailed, ServerErrors, ThroughputExceeded
from feast_chalk_dynamo.items.codec import encode_value
from feast_chalk_dynamo.items.layout import ENTITY_SK
from feast_chalk_dynamo.items.slots import FeatureSlot
from feast_chalk_dynamo.reads.decoders import ProtoRows, ValueRows
from feast_chalk_dynamo.reads.reader import ViewLayout, ViewRead
from feast_chalk_dynamo.reads.value_columns import FeatureVector, fill
from feast_chalk_dynamo.settings import DynamoSettings
from tests.fault_proxy import FaultProxy, fixed
from tests.feast_objects import driver_view, feature_store, repo_config
from tests.integration.test_store import applied, key, row, watch_batch_gets
from tests.servers import Endpoint, create_pk_sk_table
from tests.unit.test_codec import GOLDEN, NULLS, ROUND_TRIP_FIELDS, VALUE_STRATEGIES, comparable


def loaded_store(tmp_path: Path, url: str, table: str, n: int = 8, **knobs: Any) -> tuple[Any, RepoConfig]:
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, url, table, **knobs)
    applied(store, config, driver_view("stats"))
    store.online_write_batch(config, driver_view("stats"), [row(i, float(i)) for i in range(n)], None)
    return store, config


def values_of(rows: list[Any]) -> list[float | None]:
    return [r[1]["f0"].double_val if r[1] else None for r in rows]


# -- pools ------------------------------------------------------------------------


def test_many_feature_stores_share_one_engine_and_leak_no_threads(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    config = repo_config(tmp_path, moto_endpoint.url, table_name)
    first = feature_store(config, driver_view("stats"))  # creates the table and the names
    asyncio.run(first._get_provider().online_store.close())
    gc.collect()
    # Engines that earlier tests' stores left to their finalizers are only queued for release:
    # shut them down now, or they go during this test and the count drops below the baseline.
    assert ENGINES.flush()
    baseline = engine_threads()
    stores = [feature_store(config, driver_view("stats")) for _ in range(12)]
    for fs in stores:
        fs.get_online_features(features=["stats:f0"], entity_rows=[{"driver_id": 1}])
    engines = {id(fs._get_provider().online_store.engine(fs.config)) for fs in stores}
    assert len(engines) == 1  # one engine, one set of pools, for all of them
    settings_ = stores[0].config.online_store
    assert 0 < engine_threads() - baseline <= settings_.client_threads + settings_.serde_threads + 1
    for fs in stores:
        asyncio.run(fs._get_provider().online_store.close())
    del stores, fs
    gc.collect()
    assert ENGINES.flush()
    assert len(ENGINES) == 0
    assert engine_threads() <= baseline


def engine_threads() -> int:
    """Threads of engines' pools and loops. Not all threads: the strict proxy in front of the
    servers runs in this process and keeps a handler thread per open connection for a moment."""
    return sum(
        t.name.startswith(("dynamodb-client", "dynamodb-serde", "dynamodb-loop"))
        for t in threading.enumerate()
    )


def test_a_dropped_store_gives_its_engine_back(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    store, config = loaded_store(tmp_path, moto_endpoint.url, table_name)
    assert len(ENGINES) == 1
    del store
    gc.collect()
    assert ENGINES.flush()
    assert len(ENGINES) == 0


# -- sub-batching ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "concurrency", "expected"),
    [(1, 4, [1]), (15, 4, [15]), (40, 4, [10, 10, 10, 10]), (100, 2, [50, 50]), (450, 2, [90] * 5)],
)
def test_sub_batches_follow_the_rule(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, n: int, concurrency: int, expected: list[int]
) -> None:
    store, config = loaded_store(
        tmp_path, moto_endpoint.url, table_name, n=0, getitem_min_batch_concurrency=concurrency
    )
    captured = watch_batch_gets(store.engine(config))
    store.online_read(config, driver_view("stats"), [key(i) for i in range(n)])
    assert sorted(len(spec["Keys"]) for spec in captured) == sorted(expected)
    store.close_engines()


# -- retries and timeouts -------------------------------------------------------------


def test_throttled_reads_still_return_every_row(tmp_path: Path, proxy: FaultProxy, table_name: str) -> None:
    store, config = loaded_store(tmp_path, proxy.url, table_name, retry_scale_factor=1)
    proxy.faults.update(operations=frozenset({"BatchGetItem"}), throttle_share=0.3, error_share=0.1, seed=7)
    for _ in range(10):
        assert values_of(store.online_read(config, driver_view("stats"), [key(i) for i in range(8)])) == [
            float(i) for i in range(8)
        ]
    assert proxy.faults.injected["throttle"] > 0 and proxy.faults.injected["error"] > 0
    stats = store.engine(config).reads.stats
    assert stats.retries["throttled"] == proxy.faults.injected["throttle"]
    assert stats.retries["server error"] == proxy.faults.injected["error"]
    store.close_engines()


def test_dropped_connections_are_retried(tmp_path: Path, proxy: FaultProxy, table_name: str) -> None:
    store, config = loaded_store(tmp_path, proxy.url, table_name, retry_scale_factor=1)
    proxy.faults.update(operations=frozenset({"BatchGetItem"}), drop_share=0.5, seed=3)
    for _ in range(6):
        assert values_of(store.online_read(config, driver_view("stats"), [key(1)])) == [1.0]
    assert store.engine(config).reads.stats.retries["connection"] == proxy.faults.injected["drop"] > 0
    store.close_engines()


@pytest.mark.parametrize(
    ("fault", "error"),
    [("throttle_share", ThroughputExceeded), ("error_share", ServerErrors), ("drop_share", ConnectionFailed)],
)
def test_exhausted_retries_raise_a_typed_error_naming_the_table(
    tmp_path: Path, proxy: FaultProxy, table_name: str, fault: str, error: type[Exception]
) -> None:
    store, config = loaded_store(tmp_path, proxy.url, table_name, retry_scale_factor=1, max_retries=3)
    proxy.faults.update(operations=frozenset({"BatchGetItem"}), **{fault: 1.0})
    with pytest.raises(error, match=table_name):
        store.online_read(config, driver_view("stats"), [key(1)])
    assert proxy.faults.seen["BatchGetItem"] == 4  # the first try and three retries, never a silent None
    store.close_engines()


def test_dead_endpoint_fails_within_the_timeout_budget(
    tmp_path: Path, proxy: FaultProxy, table_name: str
) -> None:
    store, config = loaded_store(
        tmp_path, proxy.url, table_name, retry_scale_factor=1, max_retries=2, request_timeout_ms=300
    )
    proxy.faults.update(blackhole=True)
    with pytest.raises(ConnectionFailed, match="connection"):
        store.online_read(config, driver_view("stats"), [key(1)])
    assert store.engine(config).reads.stats.attempts["BatchGetItem"] == 3
    store.close_engines()


def test_backoff_follows_the_policy_with_an_injected_sleep(moto_endpoint: Endpoint, table_name: str) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    with FaultProxy(moto_endpoint.url) as proxy:
        settings_ = DynamoSettings(
            table_name=table_name, endpoint_url=proxy.url, max_retries=5, retry_scale_factor=10
        )
        engine = Engine(settings_, sleep=fake_sleep)
        proxy.faults.update(throttle_share=1.0)
        layout = ViewLayout("_t1", "_v1", 0, ())
        with pytest.raises(ThroughputExceeded):
            engine.run(engine.reader.read([ViewRead(layout, ["1/x=i:1"])], ProtoRows))
        engine.close()
    assert len(slept) == 5
    assert all(0 <= delay <= 0.010 * 2**n for n, delay in enumerate(slept))


# -- racing --------------------------------------------------------------------------


def first_request_slow(seconds: float) -> Any:
    calls = iter(range(1_000_000))
    return lambda _rng: seconds if next(calls) == 0 else 0.0


def test_racing_answers_from_the_duplicate_when_the_first_copy_is_slow(
    tmp_path: Path, proxy: FaultProxy, table_name: str
) -> None:
    store, config = loaded_store(
        tmp_path, proxy.url, table_name, enable_request_racing=True, request_racing_wait_time=50
    )
    proxy.faults.update(operations=frozenset({"BatchGetItem"}), delay=first_request_slow(1.5))
    rows = store.online_read(config, driver_view("stats"), [key(i) for i in range(8)])
    assert values_of(rows) == [float(i) for i in range(8)]
    stats = store.engine(config).reads.stats
    assert (stats.duplicates, stats.duplicate_wins) == (1, 1)
    assert proxy.faults.seen["BatchGetItem"] == 2
    store.close_engines()


def test_the_lost_racer_is_cut_off_and_frees_its_thread(
    tmp_path: Path, proxy: FaultProxy, table_name: str
) -> None:
    # Two client threads: one for the slow first copy, one for the duplicate.
    # Were the loser left to finish its 60 s, one thread would stay taken.
    store, config = loaded_store(
        tmp_path, proxy.url, table_name, num_client_threads=2,
        enable_request_racing=True, request_racing_wait_time=50,
    )  # fmt: skip
    proxy.faults.update(operations=frozenset({"BatchGetItem"}), delay=first_request_slow(60))
    keys = [key(i) for i in range(8)]
    assert values_of(store.online_read(config, driver_view("stats"), keys)) == [float(i) for i in range(8)]
    engine = store.engine(config)
    both_threads = threading.Barrier(2)  # passes only when both threads are free at once
    waits = [engine.pool.submit(both_threads.wait, 10) for _ in range(2)]
    assert sorted(wait.result(timeout=15) for wait in waits) == [0, 1]
    assert values_of(store.online_read(config, driver_view("stats"), keys)) == [float(i) for i in range(8)]
    stats = engine.reads.stats
    assert (stats.duplicates, stats.duplicate_wins) == (1, 1)
    # The cut-off attempt's time is not a latency sample: the racing wait is set from these.
    assert len(stats.latencies_ms["BatchGetItem"]) == 2
    store.close_engines()


@pytest.mark.parametrize(
    ("slow", "duplicates"),
    [("first", 1), ("all", 0)],  # a straggler is raced; a read slow all over is not
)
def test_racing_duplicates_stragglers_not_a_slow_backend(
    tmp_path: Path, proxy: FaultProxy, table_name: str, slow: str, duplicates: int
) -> None:
    # 20 keys: two sub-batches of 10 with the defaults.
    store, config = loaded_store(
        tmp_path, proxy.url, table_name, n=20, enable_request_racing=True, request_racing_wait_time=100
    )
    delay = first_request_slow(2.0) if slow == "first" else fixed(0.4)
    proxy.faults.update(operations=frozenset({"BatchGetItem"}), delay=delay)
    rows = store.online_read(config, driver_view("stats"), [key(i) for i in range(20)])
    assert values_of(rows) == [float(i) for i in range(20)]
    stats = store.engine(config).reads.stats
    assert stats.duplicates == stats.duplicate_wins == duplicates
    assert proxy.faults.seen["BatchGetItem"] == 2 + duplicates
    if slow == "all":
        assert stats.duplicates_held_back == 2
    store.close_engines()


def test_racing_is_capped_by_its_budget(tmp_path: Path, proxy: FaultProxy, table_name: str) -> None:
    store, config = loaded_store(
        tmp_path, proxy.url, table_name, enable_request_racing=True, request_racing_wait_time=5
    )
    proxy.faults.update(operations=frozenset({"BatchGetItem"}), delay=lambda _rng: 0.05)  # every read slow
    for _ in range(20):
        store.online_read(config, driver_view("stats"), [key(1)])
    stats = store.engine(config).reads.stats
    # A small burst, then a share of requests: a slow backend does not get twice the load.
    allowed = RACING_BUDGET_BURST + RACING_BUDGET_SHARE * 20
    assert stats.duplicates <= allowed
    assert stats.duplicates + stats.duplicates_denied == 20  # every read was slow enough to race
    assert stats.duplicates_denied >= 20 - allowed
    store.close_engines()


# -- both read paths, sync and async ---------------------------------------------------


CACHED_VIEW = "cached"


def _engine(endpoint: Endpoint, table: str, read_path: str, **knobs: Any) -> Engine:
    # No retries: a server that cannot answer should fail the example at once, not after backoff.
    return Engine(
        DynamoSettings(
            table_name=table, endpoint_url=endpoint.url, read_path=read_path, max_retries=0, **knobs
        )
    )


@pytest.fixture
def both_paths(
    dynamodb_endpoint: Endpoint, ddb_client: Any, table_name: str
) -> Iterator[tuple[Any, Engine, Engine, str, Engine]]:
    """The fast and the reference read paths, and a fast one that caches the view it reads."""
    create_pk_sk_table(ddb_client, table_name)
    fast, reference, cached = (
        _engine(dynamodb_endpoint, table_name, "fast"),
        _engine(dynamodb_endpoint, table_name, "boto3"),
        _engine(dynamodb_endpoint, table_name, "fast", cached_namespaces=[{"namespace": CACHED_VIEW}]),
    )
    yield ddb_client, fast, reference, dynamodb_endpoint.name, cached
    for engine in (fast, reference, cached):
        engine.close()


def _read_cached_twice(cached: Engine, request: list[ViewRead], rows: Any) -> list[Any]:
    """A read that fills the cache, then one served from it: both rows, the second sending nothing."""
    (first,) = cached.run(cached.reader.read(request, rows))
    sent = cached.reads.stats.attempts["BatchGetItem"]
    (second,) = cached.run(cached.reader.read(request, rows))
    assert cached.reads.stats.attempts["BatchGetItem"] == sent
    return [first, second]


def _read_both(
    client: Any,
    fast: Engine,
    reference: Engine,
    server: str,
    cached: Engine,
    named: dict[str, tuple[str, ValueProto | None]],
    packed: bool = False,
) -> None:
    """Every path reads each feature as written: a value, a null (an empty Value), or, for a feature
    the row never had (None), nothing: left out of ``online_read``'s dict, noted as missing in the
    response's rows. ``packed``: the row as one map attribute, as a view too wide to SET is written."""
    table = fast.settings.table_name
    pk = f"1/k=s:{uuid.uuid4().hex}"
    item = {"pk": {"S": pk}, "sk": {"S": ENTITY_SK}, "_t1": {"N": "1700000000000000"}}
    attrs = {}
    for name, (field, value) in list(named.items()):
        encoded = None if value is None else encode_value(value, field)
        if server == "moto" and encoded is not None and "BS" in encoded:
            del named[name]  # moto 5.1 answers 500 when a projection names a binary set; dynalite has them
        elif encoded is not None:
            attrs[name] = encoded
    item.update({"_v1": {"M": attrs}} if packed else attrs)
    client.put_item(TableName=table, Item=item)
    layout = ViewLayout(
        "_t1", "_v1", 0, tuple(FeatureSlot(name, name, field) for name, (field, _) in named.items())
    )
    request = [ViewRead(layout, [pk])]
    (fast_rows,) = fast.run(fast.reader.read(request, ProtoRows))
    (reference_rows,) = reference.run(reference.reader.read(request, ProtoRows))
    # The response path's rows: plain values, made Values by the code that fills responses.
    (((_, plain),),) = fast.run(fast.reader.read(request, ValueRows))
    # The same rows through a namespace cache: as fetched, then as served from the cache.
    # As the store lays out a cached view: decoded whole, every feature of the view.
    whole = dataclasses.replace(layout, view=CACHED_VIEW, every_feature=layout.features)
    cached_request = [ViewRead(whole, [pk])]
    cached_protos = [found[0][1] for found in _read_cached_twice(cached, cached_request, ProtoRows)]
    cached_plain = [found[0][1] for found in _read_cached_twice(cached, cached_request, ValueRows)]
    assert fast_rows[0][1] is not None and reference_rows[0][1] is not None and plain is not None
    assert all(values is not None for values in [*cached_protos, *cached_plain])
    written = [name for name, (_, value) in named.items() if value is not None]
    missing = [index for index, (_, value) in enumerate(named.values()) if value is None]
    for rows in (fast_rows[0][1], reference_rows[0][1], *cached_protos):
        assert list(rows) == written
    for values in (plain, *cached_plain):
        assert getattr(values, "missing", []) == missing
    for index, (name, (field, value)) in enumerate(named.items()):
        if value is None:
            continue
        plain_values = []
        for loose in (plain[index], *(values[index] for values in cached_plain)):
            vector = FeatureVector()
            fill(vector, field, [loose])
            plain_values.append(comparable(vector.values[0]))
        expected = comparable(value if value.WhichOneof("val") not in (None, "null_val") else ValueProto())
        assert comparable(fast_rows[0][1][name]) == comparable(reference_rows[0][1][name]) == expected
        assert [comparable(values[name]) for values in cached_protos] == [expected, expected]
        assert plain_values == [expected] * 3


def test_fast_path_matches_boto3_on_edge_cases(both_paths: tuple[Any, Engine, Engine, str, Engine]) -> None:
    named = {f"a{i}": (value.WhichOneof("val") or "", value) for i, (value, _) in enumerate(GOLDEN)}
    _read_both(*both_paths, named)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(values=st.fixed_dictionaries({field: VALUE_STRATEGIES[field] for field in ROUND_TRIP_FIELDS}))
def test_fast_path_matches_boto3_on_every_type(
    both_paths: tuple[Any, Engine, Engine, str, Engine], values: dict[str, ValueProto]
) -> None:
    if both_paths[3] == "moto":
        pytest.skip("moto 5.1 answers 500 to projections of some set shapes; dynalite runs this")
    _read_both(*both_paths, {f"a{i}": (field, value) for i, (field, value) in enumerate(values.items())})


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    values=st.fixed_dictionaries(
        {
            field: st.one_of(VALUE_STRATEGIES[field], st.sampled_from(NULLS), st.none())
            for field in ROUND_TRIP_FIELDS
        }
    ),
    packed=st.booleans(),
)
def test_every_path_tells_a_written_null_from_a_feature_never_written(
    both_paths: tuple[Any, Engine, Engine, str, Engine], values: dict[str, ValueProto | None], packed: bool
) -> None:
    """Every type with nulls and never-written features mixed in, attribute by attribute or as one
    map: the fast and boto3 paths, cached or not, Feast's rows and the response's."""
    if both_paths[3] == "moto":
        pytest.skip("moto 5.1 answers 500 to projections of some set shapes; dynalite runs this")
    named = {f"a{i}": (field, value) for i, (field, value) in enumerate(values.items())}
    _read_both(*both_paths, named, packed)


def test_async_read_gives_the_same_rows(tmp_path: Path, moto_endpoint: Endpoint, table_name: str) -> None:
    store, config = loaded_store(tmp_path, moto_endpoint.url, table_name)
    keys = [key(i) for i in (3, 99, 0)]
    sync_rows = store.online_read(config, driver_view("stats"), keys)

    async def read_concurrently() -> list[Any]:
        return await asyncio.gather(
            *(store.online_read_async(config, driver_view("stats"), keys) for _ in range(5))
        )

    assert all(rows == sync_rows for rows in asyncio.run(read_concurrently()))
    assert store.async_supported.read
    store.close_engines()


def views_with_rows(tmp_path: Path, url: str, table: str, n_views: int) -> tuple[Any, Any]:
    """A Feast store of views v0, v1, ... each with drivers 0-3 written (f0 = the driver id)."""
    views = [driver_view(f"v{i}") for i in range(n_views)]
    fs = feature_store(repo_config(tmp_path, url, table), *views)
    online_store = fs._get_provider().online_store
    for view in views:
        online_store.online_write_batch(fs.config, view, [row(i, float(i)) for i in range(4)], None)
    return fs, online_store


def test_feature_server_path_reads_all_views_at_once(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    fs, online_store = views_with_rows(tmp_path, moto_endpoint.url, table_name, 3)
    captured = watch_batch_gets(online_store.engine(fs.config))
    result = asyncio.run(
        fs.get_online_features_async(
            features=[f"v{i}:f0" for i in range(3)],
            entity_rows=[{"driver_id": i} for i in range(4)],
            full_feature_names=True,
        )
    ).to_dict()
    assert [len(spec["Keys"]) for spec in captured] == [4]
    assert result["v2__f0"] == [0.0, 1.0, 2.0, 3.0]


def test_feast_serve_reads_on_its_own_loop_and_decode_where_answers_arrive(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An async read hops neither to the engine's loop (stuck here) nor to the serde pool.

    Each hand-off between threads is CPU that ``feast serve`` spends per request.
    """
    fs, online_store = views_with_rows(tmp_path, moto_endpoint.url, table_name, 2)
    engine = online_store.engine(fs.config)
    handed_to_serde_pool: list[Any] = []
    submit = engine.serde_pool.submit
    monkeypatch.setattr(
        engine.serde_pool, "submit", lambda *args: handed_to_serde_pool.append(args) or submit(*args)
    )
    stuck = threading.Event()
    engine.loop.call_soon_threadsafe(stuck.wait, 60)
    try:
        result = asyncio.run(
            asyncio.wait_for(
                fs.get_online_features_async(
                    features=["v0:f0", "v1:f0"],
                    entity_rows=[{"driver_id": i} for i in (3, 0, 9)],
                    full_feature_names=True,
                ),
                timeout=30,  # not a timing: a read that waited for the stuck loop would never end
            )
        ).to_dict()
    finally:
        stuck.set()
    assert result["v1__f0"] == [3.0, 0.0, None]
    assert handed_to_serde_pool == []


def test_sync_read_from_inside_a_running_loop_uses_the_shared_loop(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    """Sync code called from async code (a loop already runs in this thread) still reads."""
    store, config = loaded_store(tmp_path, moto_endpoint.url, table_name)

    async def sync_call_inside_a_loop() -> list[Any]:
        return store.online_read(config, driver_view("stats"), [key(2)])

    assert values_of(asyncio.run(sync_call_inside_a_loop())) == [2.0]
    store.close_engines()
