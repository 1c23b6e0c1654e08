"""Other processes for the Bloom filter tests, each with its own store, engine and filters.

Each runs as the target of a ``spawn`` process. Processes that must act at
the same moment meet at a ``multiprocessing`` barrier first.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.items.layout import ts_attr
from feast_chalk_dynamo.local import bloom
from feast_chalk_dynamo.local.bloom import BloomFilters
from tests.feast_objects import driver_view, repo_config
from tests.integration.test_store import key, row

LOAD_TIMEOUT = 60


def write_keys(tmp_path: str, url: str, table: str, knobs: dict[str, Any], ids: list[int]) -> None:
    """Write rows for ``ids`` to view ``stats`` through a store configured with ``knobs``."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(Path(tmp_path), url, table, **knobs)
    store.online_write_batch(config, driver_view("stats"), [row(i, float(i)) for i in ids], None)
    store.close_engines()


def push_rows(
    tmp_path: str, url: str, table: str, knobs: dict[str, Any], ids: list[int], seconds: float
) -> None:
    """One-row writes (pushes) of ``ids``, spread evenly over about ``seconds``."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(Path(tmp_path), url, table, **knobs)
    start = time.monotonic()
    for number, driver in enumerate(ids):
        time.sleep(max(0.0, start + number * seconds / len(ids) - time.monotonic()))
        store.online_write_batch(config, driver_view("stats"), [row(driver, float(driver))], None)
    store.close_engines()


def load_together(tmp_path: str, url: str, table: str, knobs: dict[str, Any], barrier: Any) -> None:
    """Make the first read of view ``stats`` when every party is at ``barrier``; wait for its filter."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(Path(tmp_path), url, table, **knobs)
    store.engine(config)  # names and clients ready: only the filter is left for the first read
    barrier.wait()
    _loaded(store, config)
    store.close_engines()


def refresh_together(
    tmp_path: str, url: str, table: str, knobs: dict[str, Any], compact_after: int, barrier: Any
) -> None:
    """Load the filter; after two meetings at ``barrier`` (between them another process publishes),
    refresh until a pass that began after the second has ended, compacting after ``compact_after`` batches."""
    bloom.COMPACT_AFTER_BATCHES = compact_after
    store = ChalkDynamoOnlineStore()
    config = repo_config(Path(tmp_path), url, table, **knobs)
    blooms = _loaded(store, config)
    barrier.wait()
    barrier.wait()
    wait_refreshed_since(blooms, time.monotonic())
    store.close_engines()


def publish_keys(
    tmp_path: str,
    url: str,
    table: str,
    knobs: dict[str, Any],
    name: str,
    plan: tuple[int, int, float],
    out: Any,
) -> None:
    """Publish ``plan`` = (batches, keys a batch, seconds) of keys ``name-i`` to ``stats``, evenly spread.

    Puts (monotonic time the publish returned, keys) on the queue ``out``
    after each batch, and None at the end.
    """
    batches, size, seconds = plan
    store = ChalkDynamoOnlineStore()
    config = repo_config(Path(tmp_path), url, table, **knobs)
    engine = store.engine(config)
    assert engine.blooms is not None
    attr = ts_attr(engine.names.live_namespaces(config.project)["stats"].id)
    start = time.monotonic()
    for number in range(batches):
        time.sleep(max(0.0, start + number * seconds / batches - time.monotonic()))
        keys = [f"{name}-{number * size + i}" for i in range(size)]
        engine.blooms.written("stats", attr, keys)
        out.put((time.monotonic(), keys))
    out.put(None)
    store.close_engines()


def _loaded(store: ChalkDynamoOnlineStore, config: Any) -> BloomFilters:
    store.online_read(config, driver_view("stats"), [key(0)])
    blooms = store.engine(config).blooms
    assert blooms is not None and blooms.wait_loaded(LOAD_TIMEOUT), "the filter did not load"
    return blooms


def wait_refreshed_since(blooms: BloomFilters, moment: float) -> None:
    """Until every filter has had a pass that began after ``moment`` (the worker signals each pass)."""
    for _ in range(100):
        if blooms.refreshed_since(moment):
            return
        blooms.refreshed.clear()
        blooms.refreshed.wait(5)
    raise AssertionError("no refresh pass began after the moment in 500 s")
