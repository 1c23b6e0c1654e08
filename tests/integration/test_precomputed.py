"""Precomputed feature services (``precompute_online=True``) through real Feast and a real ``feast serve``.

Feast 0.67 writes precomputed vectors only for Redis, and its read of them
raises "pre-computed vectors could not be read" for every other store. This
store answers such a service by its ordinary read, so each test holds the
precomputed service to the same service without the flag: identical
responses (values, statuses, event timestamps), and the data pinned to the
parquet sources.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from feast import FeatureService, FeatureStore

from feast_chalk_dynamo.errors import ThroughputExceeded
from feast_chalk_dynamo.items.layout import META_PK
from feast_chalk_dynamo.items.names import namespace_name
from feature_repo_example import checks, data_gen, demo
from feature_repo_example.config import PROJECT
from feature_repo_example.features import JOIN_KEY, RepoObjects, build_objects
from tests.cli_repo import Example, example
from tests.fault_proxy import FaultProxy
from tests.integration.test_feast_e2e import MISSING_DRIVER, assert_matches_source, window
from tests.servers import Endpoint

PRECOMPUTED = "driver_ranking_precomputed"
ORDINARY = "driver_ranking"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> data_gen.SourceData:
    return data_gen.generate(tmp_path_factory.mktemp("precomputed-data"), now=datetime.now(timezone.utc))


@pytest.fixture
def objects(source: data_gen.SourceData) -> RepoObjects:
    return build_objects(source.data_dir)


@dataclasses.dataclass
class Served:
    """The example repo plus a precomputed twin of its service, materialized, behind a proxy that counts."""

    repo: Example
    store: FeatureStore
    proxy: FaultProxy
    entity_ids: list[int]
    start: datetime
    end: datetime


@pytest.fixture
def served(
    tmp_path: Path,
    moto_endpoint: Endpoint,
    table_name: str,
    source: data_gen.SourceData,
    objects: RepoObjects,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Served]:
    monkeypatch.setenv("DYNAMODB_MAX_RETRIES", "1")  # so that the throttling test gives up at once
    monkeypatch.setenv("DYNAMODB_RETRY_SCALE_FACTOR", "1")
    twin = FeatureService(
        name=PRECOMPUTED,
        features=[objects.driver_hourly_stats, objects.driver_profile],
        precompute_online=True,
    )
    with FaultProxy(moto_endpoint.url) as proxy:
        repo = example(tmp_path / "dynamo", proxy.url, table_name)
        store = repo.store()
        store.apply([*objects.all(), twin])
        start, end = window(source, objects)
        # Feast's precompute step runs here, and writes nothing for this store.
        store.materialize(start, end, objects.materialized())
        # A driver twice and one never written: rows must map back to the request's order.
        ids = [*source.driver_ids, MISSING_DRIVER, source.driver_ids[0]]
        yield Served(repo, store, proxy, ids, start, end)


def rows(ids: list[int]) -> list[dict[str, Any]]:
    return [{JOIN_KEY: driver} for driver in ids]


def read(served: Served, service: str, full_feature_names: bool, use_async: bool) -> Any:
    """A read of a service through ``FeatureStore``: the response and the BatchGetItem calls it made."""
    store = served.store
    kwargs = dict(
        features=store.get_feature_service(service),
        entity_rows=rows(served.entity_ids),
        full_feature_names=full_feature_names,
    )
    before = served.proxy.faults.seen["BatchGetItem"]
    if use_async:
        response = asyncio.run(store.get_online_features_async(**kwargs))  # type: ignore[arg-type]
    else:
        response = store.get_online_features(**kwargs)  # type: ignore[arg-type]
    return response, served.proxy.faults.seen["BatchGetItem"] - before


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("full_feature_names", [False, True], ids=["short-names", "full-names"])
def test_a_precomputed_service_reads_as_the_same_service_without_it(
    served: Served,
    objects: RepoObjects,
    full_feature_names: bool,
    use_async: bool,
    recwarn: pytest.WarningsRecorder,
) -> None:
    ordinary, ordinary_requests = read(served, ORDINARY, full_feature_names, use_async)
    precomputed, precomputed_requests = read(served, PRECOMPUTED, full_feature_names, use_async)

    # Values, statuses and per-view event timestamps, row for row (Feast's
    # vector path would stamp every feature with the time the vector was built).
    assert precomputed.proto == ordinary.proto
    assert precomputed_requests == ordinary_requests > 0
    if not full_feature_names:
        assert_matches_source(
            precomputed.to_dict(), objects, served.entity_ids, served.start, served.end, "precomputed"
        )
    # The registry's service keeps its flag, and Feast saw nothing to warn about.
    assert served.store.get_feature_service(PRECOMPUTED).precompute_online
    assert not [w for w in recwarn if "FeatureService" in str(w.message)]


def test_no_vector_is_stored_on_the_entity_items(served: Served) -> None:
    """Feast's precompute step after materialize writes nothing here; nor does a read."""
    read(served, PRECOMPUTED, full_feature_names=False, use_async=False)
    settings = served.store.config.online_store
    client = boto3.client("dynamodb", endpoint_url=settings.endpoint_url, region_name=settings.region)
    synthetic_view = namespace_name(PROJECT, f"__precomputed__{PRECOMPUTED}")
    found = client.get_item(
        TableName=settings.table_name, Key={"pk": {"S": META_PK}, "sk": {"S": synthetic_view}}
    )
    assert "Item" not in found
    assert served.store.precompute_feature_service(PRECOMPUTED) == 0


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_throttled_read_of_a_precomputed_service_raises_the_throttle(
    served: Served, use_async: bool
) -> None:
    """Not Feast's "vectors could not be read", and never a row of nulls."""
    served.proxy.faults.update(operations=frozenset({"BatchGetItem"}), throttle_share=1.0)
    with pytest.raises(ThroughputExceeded):
        read(served, PRECOMPUTED, full_feature_names=False, use_async=use_async)
    assert served.proxy.faults.injected["throttle"] >= 2  # the first try and its one retry


def test_feast_serve_answers_a_precomputed_service_as_the_ordinary_one(
    tmp_path: Path, served: Served, objects: RepoObjects
) -> None:
    """A real ``feast serve`` (the async path) on the same registry and table, asked by service name."""
    processes: list[demo.ManagedProcess] = []
    try:
        _, port = demo.start_feast_serve(
            served.repo.path,
            tmp_path / "feast_serve.log",
            demo.child_env() | served.repo.variables(),
            processes,
        )
        ordinary = demo.fetch_http(port, served.entity_ids, ORDINARY)
        precomputed = demo.fetch_http(port, served.entity_ids, PRECOMPUTED)
    finally:
        for process in processes:
            process.stop()

    assert precomputed == ordinary  # values, statuses and event timestamps
    http = checks.parse_http_response(precomputed)
    expected = checks.expected_online_features(
        objects.feature_views(), served.entity_ids, start=served.start, end=served.end
    )
    matched, problems = checks.compare(expected.values, http.values, objects.feature_views(), label="http")
    stamped, stamp_problems = checks.compare_event_timestamps(
        expected, http, objects.feature_views(), label="http"
    )
    assert not problems + stamp_problems, "\n".join((problems + stamp_problems)[:40])
    assert matched and stamped
