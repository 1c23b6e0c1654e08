"""Fixtures the store's integration tests share: a store and a repo config on each server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from feast.repo_config import RepoConfig

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from tests.fault_proxy import FaultProxy
from tests.feast_objects import repo_config
from tests.servers import Endpoint


@pytest.fixture
def store() -> Iterator[ChalkDynamoOnlineStore]:
    online_store = ChalkDynamoOnlineStore()
    yield online_store
    online_store.close_engines()


@pytest.fixture
def config(tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str) -> RepoConfig:
    return repo_config(tmp_path, dynamodb_endpoint.url, table_name, retry_scale_factor=1)


@pytest.fixture
def proxy(moto_endpoint: Endpoint) -> Iterator[FaultProxy]:
    """A fault proxy of the test's own before the session's moto (itself behind a strict proxy): it
    counts this test's requests and injects its faults."""
    with FaultProxy(moto_endpoint.url) as running:
        yield running
