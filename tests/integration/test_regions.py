"""Multi-region failover on two moto servers standing in for two regions of a Global Table.

Each server sits behind a fault proxy that can drop every connection (the
region goes down) and counts the requests it saw. Nothing replicates here,
so the same view is applied and the same rows written to each region
through a store configured with that region alone. The two-region store's
clock is a fake one: the probe interval passes when the test says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from feast.repo_config import RepoConfig

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.errors import ConnectionFailed
from feast_chalk_dynamo.layout import META_PK, PK, SK
from feast_chalk_dynamo.names import GENERATION_SK
from tests.fault_proxy import FaultProxy
from tests.feast_objects import driver_view, repo_config
from tests.integration.test_read_engine import values_of
from tests.integration.test_store import applied, key, row
from tests.servers import start_moto
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
    "mapping_refresh_seconds": 3600,  # the generation is read once: request counts stay exact
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
    assert east.faults.seen["GetItem"] == 2 and west.faults.seen["GetItem"] == 1  # botocore's one retry


def test_a_process_starting_while_the_first_region_is_down_loads_its_mapping_from_the_second(
    both: Any, tmp_path: Path, east: FaultProxy, west: FaultProxy, table_name: str
) -> None:
    east.faults.update(drop_share=1.0)
    fresh = ChalkDynamoOnlineStore()
    # A knob apart from the fixture's store, so a new engine: no mapping loaded yet.
    config = repo_config(
        tmp_path / EAST, east.url, table_name, regions=two_regions(east, west), **KNOBS, num_client_threads=3
    )
    fresh.engine(config).health.clock = FakeClock()
    assert read(fresh, config) == [float(i) for i in range(ROWS)]
    # The generation GetItem and the mapping Query each failed in the east (the try and botocore's
    # one retry) and were answered by the west; a run of two, so the read went west alone.
    assert dict(east.faults.seen) == {"GetItem": 2, "Query": 2}
    assert dict(west.faults.seen) == {"GetItem": 1, "Query": 1, "BatchGetItem": 1}
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
