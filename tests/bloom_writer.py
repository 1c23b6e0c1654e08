"""A writer in another process for the Bloom filter tests: its own store, engine and filter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from tests.feast_objects import driver_view, repo_config
from tests.integration.test_store import row


def write_keys(tmp_path: str, url: str, table: str, knobs: dict[str, Any], ids: list[int]) -> None:
    """Write rows for ``ids`` to view ``stats`` through a store configured with ``knobs``."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(Path(tmp_path), url, table, **knobs)
    store.online_write_batch(config, driver_view("stats"), [row(i, float(i)) for i in ids], None)
    store.close_engines()
