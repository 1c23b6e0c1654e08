"""Short ids: allocated once, race-free, shared by every process, new on a dtype change."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.engine import Engine
from feast_chalk_dynamo.items.names import (
    RETIRED_IDS_KEPT_SECONDS,
    NameRegistry,
    feature_name,
    view_features_prefix,
)
from feast_chalk_dynamo.settings import DynamoSettings
from tests.feast_objects import repo_config
from tests.integration.test_trust import Clock
from tests.servers import Endpoint

NAMES = [feature_name("proj", "view", f"feature_{i}", "INT64") for i in range(50)]


def make_table(endpoint: Endpoint, table: str) -> None:
    settings = DynamoSettings(table_name=table, endpoint_url=endpoint.url, create_tables_if_not_exists=True)
    engine = Engine(settings)
    engine.admin.ensure()
    engine.close()


def registry(endpoint: Endpoint, table: str) -> NameRegistry:
    # A client of its own per registry, as separate processes would have.
    client = boto3.client("dynamodb", endpoint_url=endpoint.url, region_name="us-east-1")
    return NameRegistry(client, table)


def test_concurrent_allocators_agree(dynamodb_endpoint: Endpoint, table_name: str) -> None:
    make_table(dynamodb_endpoint, table_name)

    def register_all(_: int) -> list[str]:
        names = registry(dynamodb_endpoint, table_name)
        return [names.allocate(name) for name in NAMES]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(register_all, range(8)))
    assert all(result == results[0] for result in results)
    assert len(set(results[0])) == 50

    # A second process sees the same ids with one warm-up Query.
    script = (
        "import sys, json, boto3\n"
        "from feast_chalk_dynamo.items.names import NameRegistry\n"
        "client = boto3.client('dynamodb', endpoint_url=sys.argv[1], region_name='us-east-1')\n"
        "names = NameRegistry(client, sys.argv[2]); names.ensure_fresh()\n"
        "print(json.dumps([names.lookup(n) for n in json.loads(sys.argv[3])]))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script, dynamodb_endpoint.url, table_name, json.dumps(NAMES)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert json.loads(output) == results[0]


def test_dtype_change_gets_a_new_id(dynamodb_endpoint: Endpoint, table_name: str) -> None:
    make_table(dynamodb_endpoint, table_name)
    names = registry(dynamodb_endpoint, table_name)
    as_int = names.allocate(feature_name("p", "v", "f", "INT64"))
    as_text = names.allocate(feature_name("p", "v", "f", "STRING"))
    assert as_int != as_text
    assert names.allocate(feature_name("p", "v", "f", "INT64")) == as_int


def counting_store(tmp_path: Path, endpoint: Endpoint, table: str, warm: bool) -> tuple[Any, Any]:
    from tests.feast_objects import DRIVER, driver_view

    config = repo_config(tmp_path, endpoint.url, table, warmup_fqn_mapping=warm)
    setup = ChalkDynamoOnlineStore()
    view = driver_view("stats")
    setup.update(config, [], [view], [], [DRIVER], partial=False)
    setup.close_engines()
    store = ChalkDynamoOnlineStore()
    return store, config


def test_warm_up_loads_the_mapping_with_one_query(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    from tests.feast_objects import driver_view
    from tests.integration.test_store import key

    store, config = counting_store(tmp_path, moto_endpoint, table_name, warm=True)
    store.online_read(config, driver_view("stats"), [key(1)])
    engine = store.engine(config)
    assert engine.requests.snapshot() == {"Query": 2}  # the mapping's state, then the mapping
    assert engine.reads.stats.attempts == {"BatchGetItem": 1}
    from tests.integration.test_store import row

    store.online_write_batch(config, driver_view("stats"), [row(1, 1.0)], None)
    assert engine.requests.snapshot()["Query"] == 2  # writers reuse the warmed mapping
    store.close_engines()


def test_lazy_mapping_looks_names_up_on_first_use(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    from tests.feast_objects import driver_view
    from tests.integration.test_store import key

    store, config = counting_store(tmp_path, moto_endpoint, table_name, warm=False)
    view = driver_view("stats")
    store.online_read(config, view, [key(1)])
    engine = store.engine(config)
    first = engine.requests.snapshot()
    # The mapping's state, then project, view and each feature: no Query of the whole mapping.
    assert first == {"Query": 1, "GetItem": 2 + len(view.features)}
    store.online_read(config, view, [key(1)])
    assert engine.requests.snapshot() == first  # now cached
    assert engine.reads.stats.attempts == {"BatchGetItem": 2}
    store.close_engines()


def test_a_retired_id_is_cleared_by_writers_for_a_day_then_forgotten(
    dynamodb_endpoint: Endpoint, table_name: str
) -> None:
    make_table(dynamodb_endpoint, table_name)
    wall = Clock()
    wall.now = 1_800_000_000.0
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint.url, region_name="us-east-1")
    names = NameRegistry(client, table_name, wall_clock=wall)
    names.register_view("p", "v", 0, ["k"], [("a", "INT64"), ("b", "STRING")])
    as_int = names.lookup(feature_name("p", "v", "a", "INT64"))
    b = names.lookup(feature_name("p", "v", "b", "STRING"))
    assert as_int is not None and b is not None

    names.register_view("p", "v", 0, ["k"], [("a", "STRING"), ("b", "STRING")])  # a retyped
    as_text = names.lookup(feature_name("p", "v", "a", "STRING"))
    assert names.lookup(feature_name("p", "v", "a", "INT64")) is None
    assert names.ids_to_clear("p", "v", [as_text, b]) == [as_int]  # writers remove the old id

    names.register_view("p", "v", 0, ["k"], [("a", "INT64"), ("b", "STRING")])  # and back
    again = names.lookup(feature_name("p", "v", "a", "INT64"))
    assert again not in (as_int, as_text)  # a fresh id: old bytes never come back
    assert set(names.ids_to_clear("p", "v", [again, b])) == {as_int, as_text}

    wall.now += RETIRED_IDS_KEPT_SECONDS + 1
    assert names.ids_to_clear("p", "v", [again, b]) == []
    names.register_view("p", "v", 0, ["k"], [("a", "INT64"), ("b", "STRING")])  # prunes what is past it
    stored = names.items_with_prefix(view_features_prefix("p", "v"))
    assert sorted(stored) == [feature_name("p", "v", "a", "INT64"), feature_name("p", "v", "b", "STRING")]
    assert all("retired" not in item or not item["retired"]["M"] for item in stored.values())
