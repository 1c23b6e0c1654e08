"""The store's metrics through real reads and writes: in this process (the snapshot, the default
registry), and scraped from a real ``feast serve --metrics`` whose gunicorn workers add them up."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.dynamo import metrics
from feature_repo_example import data_gen, demo
from feature_repo_example.features import build_objects
from tests.cli_repo import Example, example
from tests.fault_proxy import FaultProxy
from tests.feast_objects import driver_view, repo_config
from tests.integration.test_feast_e2e import MISSING_DRIVER, window
from tests.integration.test_store import NOW, applied, key, row
from tests.servers import Endpoint

REGION = "us-east-1"  # the example's and repo_config's
THROTTLED = "ProvisionedThroughputExceededException"


def test_the_snapshot_holds_what_this_process_read_wrote_retried_and_cached(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    view = driver_view("stats")
    store = ChalkDynamoOnlineStore()
    with FaultProxy(moto_endpoint.url) as proxy:
        cached = [{"namespace": "stats", "ttl_seconds": 600}]
        config = repo_config(tmp_path, proxy.url, table_name, retry_scale_factor=1, cached_namespaces=cached)
        try:
            applied(store, config, view)
            store.online_write_batch(config, view, [row(i, float(i)) for i in range(8)], None)
            older = NOW - timedelta(hours=1)
            store.online_write_batch(config, view, [row(i, -1.0, older) for i in range(3)], None)
            proxy.faults.update(operations=frozenset({"BatchGetItem"}), throttle_share=0.5, seed=1)
            for _ in range(3):  # the first read fills the cache, the others are answered from it
                store.online_read(config, view, [key(i) for i in range(10)])
            values = store.metrics_snapshot(config)
            books = store.namespace_counters(config)["stats"]
        finally:
            store.close_engines()

    reads = f"region={REGION},operation=BatchGetItem"
    writes = f"region={REGION},operation=UpdateItem"
    stats = f"region={REGION},view=stats"
    throttles = proxy.faults.injected["throttle"]
    assert throttles > 0
    assert values["feast_chalk_dynamo_requests_total"] == {
        reads: proxy.faults.seen["BatchGetItem"],
        writes: 11,
    }
    assert values["feast_chalk_dynamo_throttles_total"] == {reads: throttles}
    assert values["feast_chalk_dynamo_retries_total"] == {f"{reads},cause=throttled": throttles}
    assert values["feast_chalk_dynamo_errors_total"] == {
        f"{reads},code={THROTTLED}": throttles,
        f"{writes},code=ConditionalCheckFailedException": 3,  # the stale rows' guards
    }
    assert values["feast_chalk_dynamo_request_latency_seconds_count"][reads] == throttles + 1
    assert values["feast_chalk_dynamo_rows_written_total"] == {stats: 8}
    assert values["feast_chalk_dynamo_stale_rows_skipped_total"] == {stats: 3}
    # The namespace's metrics and its own counters are one set of books.
    for name, metric in metrics.NAMESPACE.items():
        assert values.get(f"{metric._name}_total", {}).get(stats, 0) == books[name], name
    assert books["cache_hits"] == 16 and books["negative_hits"] == 4 and books["misses"] == 10
    # Outside feast serve the metrics are in the default registry.
    labels = {"table": table_name, "region": REGION, "operation": "BatchGetItem"}
    assert REGISTRY.get_sample_value("feast_chalk_dynamo_requests_total", labels) == throttles + 1


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> data_gen.SourceData:
    return data_gen.generate(tmp_path_factory.mktemp("metrics-data"))


READS = 4


def test_feast_serve_metrics_serves_its_workers_requests_throttles_retries_and_cache(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, source: data_gen.SourceData
) -> None:
    """A real ``feast serve --metrics -w 2`` (see tests/metrics_server.py for its loopback port).

    The counts are the sum over whichever workers served the reads (gunicorn
    decides which: one worker may get them all).
    """
    objects = build_objects(source.data_dir)
    entity_ids = [*source.driver_ids, MISSING_DRIVER]
    processes: list[demo.ManagedProcess] = []
    with FaultProxy(moto_endpoint.url) as proxy:
        repo = example(tmp_path / "repo", proxy.url, table_name)
        store = repo.store()
        store.apply(objects.all())
        store.materialize(*window(source, objects), objects.materialized())
        try:
            port, metrics_port = serve_with_metrics(repo, tmp_path, processes)
            proxy.faults.reset()
            proxy.faults.update(operations=frozenset({"BatchGetItem"}), throttle_share=0.3, seed=3)
            for _ in range(READS):
                response = demo.fetch_http(port, entity_ids)
                assert response["results"]
            exposition = scrape(metrics_port)
        finally:
            for process in processes:
                process.stop()

    print_excerpt(exposition)
    values = samples(exposition, table_name)
    reads = (("operation", "BatchGetItem"), ("region", REGION))
    sent = proxy.faults.seen["BatchGetItem"]
    throttles = proxy.faults.injected["throttle"]
    assert throttles > 0 and sent >= READS + throttles
    assert values["feast_chalk_dynamo_requests_total", reads] == sent
    assert values["feast_chalk_dynamo_request_latency_seconds_count", reads] == sent
    assert values["feast_chalk_dynamo_throttles_total", reads] == throttles
    assert values["feast_chalk_dynamo_retries_total", (("cause", "throttled"), *reads)] == throttles
    assert values["feast_chalk_dynamo_errors_total", (("code", THROTTLED), *reads)] == throttles
    cached = (("region", REGION), ("view", "driver_hourly_stats"))
    lookups = sum(
        values.get((f"feast_chalk_dynamo_cache_{kind}_total", cached), 0)
        for kind in ("hits", "negative_hits", "misses")
    )
    assert lookups == READS * len(entity_ids)  # every read looked every driver up, in one worker or the other
    assert values["feast_chalk_dynamo_cache_hits_total", cached] > 0  # a worker served two of the reads


def serve_with_metrics(
    repo: Example, tmp_path: Path, processes: list[demo.ManagedProcess]
) -> tuple[int, int]:
    """Start ``feast serve --metrics`` with two workers and a namespace cache; its HTTP and metrics
    ports once both answer.

    Its multiprocess directory is its own: this process's metrics (the
    materialization's writes) must not be added to the server's.
    """
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    env = demo.child_env() | repo.variables()
    env.update(
        PROMETHEUS_MULTIPROCESS_DIR=str(multiproc_dir),
        PROMETHEUS_MULTIPROC_DIR=str(multiproc_dir),
        DYNAMODB_RETRY_SCALE_FACTOR="1",
        DYNAMODB_CACHED_NAMESPACES=json.dumps([{"namespace": "driver_hourly_stats", "ttl_seconds": 600}]),
    )
    port, metrics_port = demo.free_port(), demo.free_port()
    argv = [str(demo.BIN_DIR / "python"), "-m", "tests.metrics_server", str(metrics_port)]
    argv += ["-c", str(repo.path), "serve", "-h", demo.HOST, "-p", str(port)]
    argv += ["--no-access-log", "--metrics", "--workers", "2"]
    serve = demo.ManagedProcess("feast serve --metrics", argv, tmp_path / "feast_serve.log", env)
    processes.append(serve)
    demo.wait_for_http(f"http://{demo.HOST}:{port}/health", serve)
    demo.wait_for_http(f"http://{demo.HOST}:{metrics_port}/metrics", serve)
    return port, metrics_port


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://{demo.HOST}:{port}/metrics", timeout=30) as response:
        text: str = response.read().decode()
        return text


Labels = tuple[tuple[str, str], ...]


def samples(exposition: str, table: str) -> dict[tuple[str, Labels], float]:
    """The table's samples: (name, its other labels sorted) -> value."""
    found: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = dict(sample.labels)
            if labels.pop("table", None) == table:
                found[sample.name, tuple(sorted(labels.items()))] = sample.value
    return found


def print_excerpt(exposition: str) -> None:
    """The store's lines of the scrape (histogram buckets left out), for the record (pytest -s)."""
    ours = [line for line in exposition.splitlines() if metrics.PREFIX in line and "_bucket{" not in line]
    print("\n".join(["--- /metrics (feast_chalk_dynamo_*, no buckets) ---", *ours]))
