"""Multi-region failover on two moto servers standing in for two regions of a Global Table.

Each server sits behind a fault proxy that can drop every connection (the
region goes down) and counts the requests it saw. Nothing replicates here,
so the same view is applied and the same rows written to each region
through a store configured with that region alone. The two-region store's
clock is a fake one: the probe interval passes when the test says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from feast.repo_config import RepoConfig

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.dynamo.caller import percentile
from feast_chalk_dynamo.errors import ConnectionFailed
from feast_chalk_dynamo.items.layout import META_PK, PK, SK
from feast_chalk_dynamo.items.names import GENERATION_SK
from tests.fault_proxy import FaultProxy
from tests.feast_objects import STORE_TYPE, driver_view, repo_config
from tests.integration.test_read_engine import values_of
from tests.integration.test_store import applied, key, row
from tests.servers import REPO_ROOT, start_moto
from tests.unit.test_regions import EAST, WEST, FakeClock

ROWS = 8
VIEW = driver_view("stats")
# One retry per region and a failure run of two: a region that is down costs
# two reads two attempts each, then is skipped.
KNOBS: dict[str, Any] = {
    "max_retries": 1,
    "retry_scale_factor": 1,
    "region_failures_to_unhealthy": 2,
    "region_probe_seconds": 5,
    "mapping_refresh_seconds": 3600,  # the mapping's state is read once: request counts stay exact
}


@pytest.fixture(scope="module")
def regions() -> Iterator[tuple[FaultProxy, FaultProxy]]:
    """Two moto servers, each behind its own strict fault proxy: us-east-1 and us-west-2."""
    servers = [start_moto(), start_moto()]
    proxies: list[FaultProxy] = []
    try:
        proxies = [FaultProxy(server.endpoint.url, strict=True) for server in servers]
        yield proxies[0], proxies[1]
    finally:
        for proxy in proxies:
            proxy.close()
        for server in servers:
            server.stop()


@pytest.fixture
def east(regions: tuple[FaultProxy, FaultProxy]) -> Iterator[FaultProxy]:
    yield regions[0]
    regions[0].faults.reset()


@pytest.fixture
def west(regions: tuple[FaultProxy, FaultProxy]) -> Iterator[FaultProxy]:
    yield regions[1]
    regions[1].faults.reset()


def two_regions(east: FaultProxy, west: FaultProxy) -> list[dict[str, str]]:
    """The ``regions`` knob: the east first."""
    return [{"region": EAST, "endpoint_url": east.url}, {"region": WEST, "endpoint_url": west.url}]


def one_region(
    tmp_path: Path, proxy: FaultProxy, region: str, table: str
) -> tuple[ChalkDynamoOnlineStore, RepoConfig]:
    """A store on one region alone, the view applied and the rows written: replication done by hand."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path / region, proxy.url, table, region=region, **KNOBS)
    applied(store, config, VIEW)
    store.online_write_batch(config, VIEW, [row(i, float(i)) for i in range(ROWS)], None)
    return store, config


@pytest.fixture
def both(
    tmp_path: Path, east: FaultProxy, west: FaultProxy, table_name: str
) -> Iterator[tuple[ChalkDynamoOnlineStore, RepoConfig, FakeClock, dict[str, tuple[Any, RepoConfig]]]]:
    """The two-region store (east first) on its fake clock, and a store on each region alone."""
    (tmp_path / EAST).mkdir()
    (tmp_path / WEST).mkdir()
    alone = {
        region: one_region(tmp_path, proxy, region, table_name)
        for region, proxy in ((EAST, east), (WEST, west))
    }
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path / EAST, east.url, table_name, regions=two_regions(east, west), **KNOBS)
    clock = FakeClock()
    store.engine(config).health.clock = clock
    east.faults.reset()
    west.faults.reset()
    yield store, config, clock, alone
    store.close_engines()
    for single, _ in alone.values():
        single.close_engines()


def read(store: ChalkDynamoOnlineStore, config: RepoConfig, keys: range = range(ROWS)) -> list[float | None]:
    return values_of(store.online_read(config, VIEW, [key(i) for i in keys]))


def new_engine(
    tmp_path: Path, east: FaultProxy, west: FaultProxy, table: str, **knobs: Any
) -> tuple[ChalkDynamoOnlineStore, RepoConfig, FakeClock]:
    """A two-region store on an engine of its own (knobs apart from the fixture's): as a new process
    has it, with no mapping loaded and no region answered yet; its probe clock is a fake one."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(
        tmp_path / EAST, east.url, table, regions=two_regions(east, west), **{**KNOBS, **knobs}
    )
    clock = FakeClock()
    store.engine(config).health.clock = clock
    return store, config, clock


def test_reads_keep_succeeding_from_the_second_region_and_return_to_the_first(
    both: tuple[ChalkDynamoOnlineStore, RepoConfig, FakeClock, Any], east: FaultProxy, west: FaultProxy
) -> None:
    store, config, clock, _ = both
    expected = [float(i) for i in range(ROWS)]
    for _ in range(3):
        assert read(store, config) == expected
    assert (east.faults.seen["BatchGetItem"], west.faults.seen["BatchGetItem"]) == (3, 0)

    east.faults.update(drop_share=1.0)  # the east goes down mid-run
    for _ in range(5):
        assert read(store, config) == expected
    # Two reads spent their attempt and retry there (a failure run of two), then it was skipped.
    assert (east.faults.seen["BatchGetItem"], west.faults.seen["BatchGetItem"]) == (3 + 4, 5)
    stats = store.engine(config).reads.stats
    assert stats.regions == {EAST: 3 + 4, WEST: 5} and stats.failovers == {EAST: 2}

    east.faults.reset()  # back up; counters restart
    assert read(store, config) == expected  # no probe is due yet: still the west
    assert (east.faults.seen["BatchGetItem"], west.faults.seen["BatchGetItem"]) == (0, 6)
    clock.now += 5
    for _ in range(3):  # the first is the probe; it answers, and the east is preferred again
        assert read(store, config) == expected
    assert (east.faults.seen["BatchGetItem"], west.faults.seen["BatchGetItem"]) == (3, 6)


def test_control_plane_reads_go_to_the_second_region_when_the_first_is_down(
    both: tuple[ChalkDynamoOnlineStore, RepoConfig, FakeClock, Any], east: FaultProxy, west: FaultProxy
) -> None:
    store, config, _, _ = both
    east.faults.update(drop_share=1.0)
    client = store.engine(config).client  # what the name mapping and table checks call
    table = config.online_store.table_name
    generation = client.get_item(TableName=table, Key={PK: {"S": META_PK}, SK: {"S": GENERATION_SK}})
    assert "Item" in generation
    # The east has not answered this engine yet: one attempt, and it is skipped from then on.
    assert east.faults.seen["GetItem"] == 1 and west.faults.seen["GetItem"] == 1
    client.get_item(TableName=table, Key={PK: {"S": META_PK}, SK: {"S": GENERATION_SK}})
    assert east.faults.seen["GetItem"] == 1 and west.faults.seen["GetItem"] == 2


def test_a_process_starting_while_the_first_region_is_down_loads_its_mapping_from_the_second(
    both: Any, tmp_path: Path, east: FaultProxy, west: FaultProxy, table_name: str
) -> None:
    east.faults.update(drop_share=1.0)
    fresh, config, _ = new_engine(tmp_path, east, west, table_name, num_client_threads=3)
    assert read(fresh, config) == [float(i) for i in range(ROWS)]
    # The mapping's state Query was one attempt in the east (it had never answered), which made the east
    # unhealthy: the state, the mapping Query and the read went to the west alone.
    assert dict(east.faults.seen) == {"Query": 1}
    assert dict(west.faults.seen) == {"Query": 2, "BatchGetItem": 1}
    fresh.close_engines()


def test_a_write_lands_in_the_second_region_when_the_first_is_down(
    both: tuple[ChalkDynamoOnlineStore, RepoConfig, FakeClock, Any], east: FaultProxy, west: FaultProxy
) -> None:
    store, config, _, alone = both
    store.online_read(config, VIEW, [key(0)])  # mapping loaded while both answer
    east.faults.update(drop_share=1.0)
    store.online_write_batch(config, VIEW, [row(100, 7.0)], None)  # guarded: may go on to the west
    assert (east.faults.seen["UpdateItem"], west.faults.seen["UpdateItem"]) == (2, 1)
    east.faults.reset()
    assert read(*alone[WEST], range(100, 101)) == [7.0]
    assert read(*alone[EAST], range(100, 101)) == [None]


def test_a_write_with_every_region_down_raises_and_nothing_lands(
    both: tuple[ChalkDynamoOnlineStore, RepoConfig, FakeClock, Any], east: FaultProxy, west: FaultProxy
) -> None:
    store, config, _, alone = both
    store.online_read(config, VIEW, [key(0)])
    east.faults.update(drop_share=1.0)
    west.faults.update(drop_share=1.0)
    with pytest.raises(ConnectionFailed):  # not WriteIncomplete: no row of the call was written
        store.online_write_batch(config, VIEW, [row(100, 7.0)], None)
    assert store.engine(config).writer.stats.written == 0
    east.faults.reset()
    west.faults.reset()
    assert read(*alone[EAST], range(100, 101)) == read(*alone[WEST], range(100, 101)) == [None]


def test_an_unguarded_write_does_not_fail_over(
    tmp_path: Path, east: FaultProxy, west: FaultProxy, table_name: str
) -> None:
    for region, proxy in ((EAST, east), (WEST, west)):
        (tmp_path / region).mkdir()
        one_region(tmp_path, proxy, region, table_name)[0].close_engines()
    store = ChalkDynamoOnlineStore()
    config = repo_config(
        tmp_path / EAST, east.url, table_name, regions=two_regions(east, west), only_write_newer_values=False,
        **KNOBS,
    )  # fmt: skip
    store.online_read(config, VIEW, [key(0)])
    east.faults.update(drop_share=1.0)
    west.faults.reset()
    with pytest.raises(ConnectionFailed):
        store.online_write_batch(config, VIEW, [row(100, 7.0)], None)
    assert west.faults.seen["UpdateItem"] == 0
    store.close_engines()


# -- an outage under load: probes are single attempts, and nobody waits for another's ------------


def eventually(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for ``condition`` (a state the test drives towards), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {timeout} s")
        time.sleep(0.005)


def sent(proxy: FaultProxy) -> int:
    """Every request the proxy has seen since its last reset."""
    with proxy.faults.lock:
        return sum(proxy.faults.seen.values())


class Readers:
    """Threads reading every row through one store until stopped; each read's latency kept by phase.

    ``pause`` parks them between reads, so the test decides which request comes next.
    """

    def __init__(self, store: ChalkDynamoOnlineStore, config: RepoConfig, threads: int = 2) -> None:
        self._store, self._config = store, config
        self.phase = "warm-up"
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.reads = 0
        self.wrong: list[Any] = []  # reads that did not return every row (or raised)
        self._running = threading.Event()
        self._running.set()
        self._parked = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._read, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _read(self) -> None:
        expected = [float(i) for i in range(ROWS)]
        while not self._stop.is_set():
            if not self._running.is_set():
                with self._lock:
                    self._parked += 1
                self._running.wait()
                with self._lock:
                    self._parked -= 1
                continue
            start = time.perf_counter()
            try:
                values: Any = read(self._store, self._config)
            except Exception as error:
                values = error
            elapsed = time.perf_counter() - start
            with self._lock:
                self.latencies[self.phase].append(elapsed)
                self.reads += 1
                if values != expected:
                    self.wrong.append(values)

    def done(self) -> int:
        with self._lock:
            return self.reads

    def wait_for(self, reads: int, timeout: float = 60.0) -> None:
        """Until ``reads`` more reads have ended (the readers, between them)."""
        target = self.done() + reads
        eventually(lambda: self.done() >= target, f"{reads} more reads", timeout)

    def pause(self) -> None:
        self._running.clear()
        eventually(lambda: self._parked == len(self._threads), "the readers to park")

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def figures(self, phase: str) -> str:
        samples = [seconds * 1000 for seconds in self.latencies[phase]]
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        return f"{phase}: {len(samples)} reads, p50 {p50:.1f} ms, p99 {p99:.1f} ms"


def test_through_an_outage_two_readers_send_the_down_region_one_single_attempt_probe_per_interval(
    both: Any, tmp_path: Path, east: FaultProxy, west: FaultProxy, table_name: str
) -> None:
    # Every read first checks the mapping's state (a Query, which may take the due probe), as the
    # readers of the issue did.
    store, config, clock = new_engine(tmp_path, east, west, table_name, mapping_refresh_seconds=0)
    health = store.engine(config).health
    readers = Readers(store, config)
    try:
        readers.wait_for(20)  # the mapping loaded, connections opened
        readers.phase = "before"
        readers.wait_for(200)
        readers.phase = "failing"
        east.faults.update(drop_share=1.0)  # the outage begins mid-run
        eventually(lambda: not health.healthy(0), "the east to be left")
        readers.wait_for(20)  # the requests that were in the east when it was left have ended
        readers.phase = "during"
        left = sent(east)
        readers.wait_for(100)
        assert sent(east) == left  # no probe due: nothing reaches the down region
        for probes in range(1, 6):
            clock.now += KNOBS["region_probe_seconds"]
            eventually(lambda probes=probes: sent(east) == left + probes, "a probe")
            readers.wait_for(20)
            assert sent(east) == left + probes  # one request of the interval, one attempt
    finally:
        readers.stop()
    assert readers.wrong == []
    assert not health.healthy(0)
    print(f"\n{readers.figures('before')}\n{readers.figures('during')}")


PROBE_HELD_MS = 3000


def test_a_reader_whose_probe_the_down_region_holds_blocks_no_other_reader(
    both: Any, tmp_path: Path, east: FaultProxy, west: FaultProxy, table_name: str
) -> None:
    store, config, clock = new_engine(
        tmp_path, east, west, table_name,
        mapping_refresh_seconds=0, request_timeout_ms=PROBE_HELD_MS, max_retries=0,
        region_failures_to_unhealthy=1,
    )  # fmt: skip
    health = store.engine(config).health
    readers = Readers(store, config)
    try:
        readers.wait_for(50)
        east.faults.update(blackhole=True)  # accepts requests and never answers
        eventually(lambda: not health.healthy(0), "the east to be left")
        eventually(lambda: east.faults.in_flight == 0, "the east's held requests to time out")
        readers.pause()
        east.faults.seen.clear()
        clock.now += KNOBS["region_probe_seconds"]
        # One read takes the due probe: its state check's Query, held by the east.
        probing = ThreadPoolExecutor(1)
        probed = probing.submit(read, store, config)
        eventually(lambda: east.faults.in_flight == 1, "the probe to reach the east")
        readers.resume()
        readers.wait_for(10, timeout=PROBE_HELD_MS / 1000 / 2)
        assert east.faults.in_flight == 1  # those reads went by while the probe was still held
        assert probed.result(timeout=60) == [float(i) for i in range(ROWS)]  # then the west answered it
        probing.shutdown()
    finally:
        readers.stop()
    assert readers.wrong == []
    assert dict(east.faults.seen) == {"Query": 1}


NEW_PROCESS = """
import json, sys, time
from pathlib import Path
from feast_chalk_dynamo import ChalkDynamoOnlineStore
from tests.feast_objects import STORE_TYPE, driver_view, repo_config
from tests.integration.test_read_engine import values_of
from tests.integration.test_store import key

repo, endpoint, table, knobs, rows = sys.argv[1:]
config = repo_config(Path(repo), endpoint, table, **json.loads(knobs))
start = time.perf_counter()
store = ChalkDynamoOnlineStore()
values = values_of(store.online_read(config, driver_view("stats"), [key(i) for i in range(int(rows))]))
print(json.dumps({"seconds": time.perf_counter() - start, "values": values}))
store.close_engines()
"""
FIRST_READ_TIMEOUT_MS = 1000


def test_a_new_process_started_while_the_first_region_does_not_answer_spends_one_attempt_there(
    both: Any, tmp_path: Path, east: FaultProxy, west: FaultProxy, table_name: str
) -> None:
    east.faults.update(blackhole=True)
    knobs = {**KNOBS, "regions": two_regions(east, west), "request_timeout_ms": FIRST_READ_TIMEOUT_MS}
    arguments = [str(tmp_path), east.url, table_name, json.dumps(knobs), str(ROWS)]
    command = [sys.executable, "-c", NEW_PROCESS, *arguments]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    assert first["values"] == [float(i) for i in range(ROWS)]
    # One attempt of the state check, which made the east unhealthy: nothing else went there.
    assert dict(east.faults.seen) == {"Query": 1}
    assert dict(west.faults.seen) == {"Query": 2, "BatchGetItem": 1}
    print(f"\nfirst read {first['seconds']:.2f} s with request_timeout_ms {FIRST_READ_TIMEOUT_MS}")


# -- feast apply with the first region down -------------------------------------------------------

FEATURES = """
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
stats = FeatureView(
    name="stats",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="f0", dtype=Float64)],
    source=FileSource(path=PATH, timestamp_field="ts"),
)
"""
APPLY_RETRIES = 2


def test_feast_apply_with_the_first_region_down_raises_connection_failed_naming_it(
    both: Any, tmp_path: Path, east: FaultProxy, west: FaultProxy, table_name: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    source = repo / "stats.parquet"
    pd.DataFrame({"driver_id": [1], "f0": [1.0], "ts": [pd.Timestamp.now(tz="UTC")]}).to_parquet(source)
    (repo / "features.py").write_text(FEATURES.replace("PATH", repr(str(source))))
    online_store = {
        "type": STORE_TYPE, "table_name": table_name, "regions": two_regions(east, west),
        "max_retries": APPLY_RETRIES, "retry_scale_factor": 1,
    }  # fmt: skip
    settings = {
        "project": "proj", "provider": "local", "registry": str(repo / "registry.db"),
        "online_store": online_store, "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }  # fmt: skip
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(settings))
    east.faults.update(drop_share=1.0)
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "feast.cli.cli", "apply"],
        cwd=repo, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    assert done.returncode != 0
    said = done.stderr.strip().splitlines()[-1]
    # Reads (the table's description, the mapping) went to the west; the first write stays in the east.
    failed = f"ConnectionFailed: UpdateItem on table {table_name!r} at {east.url} gave up"
    assert said.startswith(f"feast_chalk_dynamo.errors.{failed}"), done.stderr[-3000:]
    assert east.faults.seen["UpdateItem"] == APPLY_RETRIES + 1
    assert west.faults.seen["UpdateItem"] == 0
    print(f"\nfeast apply gave up after {seconds:.1f} s (max_retries {APPLY_RETRIES}): {said}")
