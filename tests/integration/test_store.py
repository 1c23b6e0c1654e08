"""The store against real DynamoDB servers: layout, reads, guarded writes, lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import StringList
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.engine import Engine
from feast_chalk_dynamo.errors import ItemTooLarge, RetriesExhausted, TableNotFound, TableSchemaMismatch
from feast_chalk_dynamo.items.layout import ENTITY_SK, EXPIRY_ATTR
from tests.fault_proxy import FaultProxy
from tests.feast_objects import DRIVER, driver_view, feature_store, repo_config
from tests.servers import Endpoint, create_pk_sk_table, table_exists

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def key(driver_id: int) -> EntityKeyProto:
    return EntityKeyProto(join_keys=["driver_id"], entity_values=[ValueProto(int64_val=driver_id)])


def row(driver_id: int, value: float, ts: datetime = NOW) -> tuple[Any, ...]:
    features = {
        "f0": ValueProto(double_val=value),
        "f1": ValueProto(double_val=-value),
        "f2": ValueProto(),
        "tags": ValueProto(string_list_val=StringList(val=[f"t{driver_id}", ""])),
        "rate": ValueProto(float_val=0.25),
    }
    return key(driver_id), features, ts, None


def watch_batch_gets(engine: Engine) -> list[dict[str, Any]]:
    """The table's part of every BatchGetItem attempt the engine makes from now on."""
    captured: list[dict[str, Any]] = []

    def listen(operation: str, payload: dict[str, Any]) -> None:
        if operation == "BatchGetItem":
            captured.extend(payload["RequestItems"].values())

    engine.reads.listeners.append(listen)
    return captured


def applied(store: ChalkDynamoOnlineStore, config: RepoConfig, *views: Any) -> None:
    store.update(config, [], list(views), [], [DRIVER], partial=False)


def test_round_trip_in_request_order_with_absent_and_duplicate_keys(
    store: ChalkDynamoOnlineStore, config: RepoConfig
) -> None:
    view = driver_view("stats")
    applied(store, config, view)
    progress: list[int] = []
    store.online_write_batch(config, view, [row(i, i / 2) for i in range(5)], progress.append)
    assert sum(progress) == 5
    rows = store.online_read(config, view, [key(3), key(99), key(0), key(3)])
    assert [r[0] for r in rows] == [NOW, None, NOW, NOW]
    assert rows[1] == (None, None)
    assert rows[0][1] is not None and rows[3][1] is not None
    assert rows[0][1]["f0"].double_val == 1.5
    assert rows[0][1]["f1"].double_val == -1.5
    assert rows[0][1]["f2"] == ValueProto()  # null stays null
    assert list(rows[0][1]["tags"].string_list_val.val) == ["t3", ""]
    assert rows[0][1]["rate"].float_val == 0.25
    assert rows[0] == rows[3]


def test_projection_asks_only_for_requested_features(
    store: ChalkDynamoOnlineStore, config: RepoConfig
) -> None:
    view = driver_view("stats", n_features=10)
    applied(store, config, view)
    store.online_write_batch(config, view, [row(1, 1.0)], None)
    engine = store.engine(config)
    captured = watch_batch_gets(engine)
    rows = store.online_read(config, view, [key(1)], requested_features=["f1"])
    assert rows[0][1] is not None and set(rows[0][1]) == {"f1"}
    spec = captured[0]
    requested = set(spec["ExpressionAttributeNames"].values())
    assert len(requested) == 4  # pk, the view's timestamp and values map, f1
    assert "pk" in requested


def test_sub_batches_never_exceed_100_keys(store: ChalkDynamoOnlineStore, config: RepoConfig) -> None:
    view = driver_view("stats", n_features=1)
    applied(store, config, view)
    store.online_write_batch(config, view, [row(i, float(i)) for i in range(0, 250, 5)], None)
    engine = store.engine(config)
    captured = watch_batch_gets(engine)
    rows = store.online_read(config, view, [key(i) for i in range(250)])
    sizes = [len(spec["Keys"]) for spec in captured]
    assert sum(sizes) == 250 and max(sizes) <= 100
    assert [i for i, r in enumerate(rows) if r[1] is not None] == list(range(0, 250, 5))


def test_older_row_never_overwrites_newer(store: ChalkDynamoOnlineStore, config: RepoConfig) -> None:
    view = driver_view("stats")
    applied(store, config, view)
    store.online_write_batch(config, view, [row(1, 2.0, NOW)], None)
    progress: list[int] = []
    store.online_write_batch(config, view, [row(1, 1.0, NOW - timedelta(hours=1))], progress.append)
    assert progress == [1]  # a skipped row is still done
    assert store.engine(config).writer.stats.stale_skipped == 1
    rows = store.online_read(config, view, [key(1)])
    assert rows[0][0] == NOW and rows[0][1] is not None and rows[0][1]["f0"].double_val == 2.0


def test_guard_off_lets_the_last_write_win(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str
) -> None:
    config = repo_config(tmp_path, dynamodb_endpoint.url, table_name, only_write_newer_values=False)
    store = ChalkDynamoOnlineStore()
    view = driver_view("stats")
    applied(store, config, view)
    store.online_write_batch(config, view, [row(1, 2.0, NOW)], None)
    store.online_write_batch(config, view, [row(1, 1.0, NOW - timedelta(hours=1))], None)
    rows = store.online_read(config, view, [key(1)])
    assert rows[0][1] is not None and rows[0][1]["f0"].double_val == 1.0
    store.close_engines()


def test_newest_row_of_a_batch_wins(store: ChalkDynamoOnlineStore, config: RepoConfig) -> None:
    view = driver_view("stats")
    applied(store, config, view)
    data = [row(1, 3.0, NOW), row(1, 1.0, NOW - timedelta(hours=2)), row(1, 2.0, NOW - timedelta(hours=1))]
    progress: list[int] = []
    store.online_write_batch(config, view, data, progress.append)
    assert sum(progress) == 3
    rows = store.online_read(config, view, [key(1)])
    assert rows[0][1] is not None and rows[0][1]["f0"].double_val == 3.0


@pytest.fixture
def chalk_config(tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str) -> RepoConfig:
    url = dynamodb_endpoint.url
    return repo_config(tmp_path, url, table_name, retry_scale_factor=1, chalk_style_expiry=True)


def test_expired_rows_read_as_absent_and_item_expiry(
    store: ChalkDynamoOnlineStore, chalk_config: RepoConfig, ddb_client: Any, table_name: str
) -> None:
    config = chalk_config
    short = driver_view("short", ttl=timedelta(hours=1))
    long = driver_view("long", ttl=timedelta(days=2))
    applied(store, config, short, long)
    old = NOW - timedelta(hours=3)
    store.online_write_batch(config, short, [row(1, 1.0, old), row(2, 1.0, NOW)], None)
    store.online_write_batch(config, long, [row(1, 1.0, old)], None)
    assert store.online_read(config, short, [key(1), key(2)])[0] == (None, None)
    assert store.online_read(config, short, [key(2)])[0][0] == NOW
    assert store.online_read(config, long, [key(1)])[0][0] == old
    item = raw_item(ddb_client, table_name, store, config, 1)
    # Every view on the item has a ttl: it expires once the longest-lived one can have.
    assert int(item[EXPIRY_ATTR]["N"]) >= NOW.timestamp() + 2 * 86400 - 5


def test_no_item_expiry_when_a_view_keeps_rows_forever(
    store: ChalkDynamoOnlineStore, chalk_config: RepoConfig, ddb_client: Any, table_name: str
) -> None:
    config = chalk_config
    expiring = driver_view("expiring", ttl=timedelta(hours=1))
    forever = driver_view("forever", ttl=None)
    applied(store, config, expiring, forever)
    store.online_write_batch(config, expiring, [row(1, 1.0)], None)
    assert EXPIRY_ATTR not in raw_item(ddb_client, table_name, store, config, 1)


@pytest.mark.needs_ttl
def test_created_table_has_ttl_on_the_expiry_attribute(
    store: ChalkDynamoOnlineStore, config: RepoConfig, ddb_client: Any, table_name: str
) -> None:
    applied(store, config, driver_view("stats"))
    ttl = ddb_client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    assert ttl["AttributeName"] == EXPIRY_ATTR


def raw_item(
    client: Any, table: str, store: ChalkDynamoOnlineStore, config: RepoConfig, driver_id: int
) -> Any:
    from feast_chalk_dynamo.items.layout import encode_entity_key
    from feast_chalk_dynamo.items.names import project_name

    project_id = store.engine(config).names.lookup(project_name(config.project))
    assert project_id is not None
    pk = encode_entity_key(project_id, key(driver_id))
    return client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": ENTITY_SK}})["Item"]


def test_stored_item_is_native_and_compact(
    store: ChalkDynamoOnlineStore, config: RepoConfig, ddb_client: Any, table_name: str
) -> None:
    view = driver_view("stats")
    applied(store, config, view)
    store.online_write_batch(config, view, [row(7, 0.5)], None)
    item = raw_item(ddb_client, table_name, store, config, 7)
    features = {name: value for name, value in item.items() if name not in ("pk", "sk", EXPIRY_ATTR)}
    assert all(len(name) <= 3 for name in features), features  # short ids, not feature names
    kinds = sorted(next(iter(value)) for value in features.values())
    # ts, f0, f1, rate as numbers; tags as a list; f2 written as null: NULL, so a read tells it from unwritten
    assert kinds == ["L", "N", "N", "N", "N", "NULL"]
    tags = next(value for value in features.values() if "L" in value)
    assert tags == {"L": [{"S": "t7"}, {"S": ""}]}
    assert item["pk"]["S"].endswith("/driver_id=i:7")


def test_one_batch_get_for_many_views(tmp_path: Path, moto_endpoint: Endpoint, table_name: str) -> None:
    config = repo_config(tmp_path, moto_endpoint.url, table_name)
    views = [driver_view(f"view{i}", n_features=2) for i in range(5)]
    fs = feature_store(config, *views)
    frame = pd.DataFrame(
        {
            "driver_id": range(10),
            "f0": [float(i) for i in range(10)],
            "f1": [0.5] * 10,
            "tags": [["a"]] * 10,
            "rate": [1.0] * 10,
            "ts": [NOW] * 10,
        }
    )
    for view in views:
        fs.write_to_online_store(view.name, frame)
    online_store = fs._get_provider().online_store
    engine = online_store.engine(fs.config)
    captured = watch_batch_gets(engine)
    result = fs.get_online_features(
        features=[f"view{i}:f0" for i in range(5)] + ["view3:tags"],
        entity_rows=[{"driver_id": i} for i in range(10)],
        full_feature_names=True,
    ).to_dict()
    assert [len(spec["Keys"]) for spec in captured] == [10]  # one request for all five views
    for i in range(5):
        assert result[f"view{i}__f0"] == [float(i) for i in range(10)]
    assert result["view3__tags"] == [["a"]] * 10


def test_unprocessed_keys_are_fetched_again(tmp_path: Path, moto_endpoint: Endpoint, table_name: str) -> None:
    with FaultProxy(moto_endpoint.url) as proxy:
        config = repo_config(tmp_path, proxy.url, table_name, retry_scale_factor=1)
        store = ChalkDynamoOnlineStore()
        view = driver_view("stats")
        applied(store, config, view)
        store.online_write_batch(config, view, [row(i, float(i)) for i in range(8)], None)
        proxy.faults.unprocessed_batch_gets = 3
        rows = store.online_read(config, view, [key(i) for i in range(8)])
        assert all(r[1] is not None for r in rows)
        assert [r[1]["f0"].double_val for r in rows if r[1]] == [float(i) for i in range(8)]
        assert proxy.faults.seen["BatchGetItem"] == 4
        store.close_engines()


def test_throttled_keys_raise_instead_of_reading_absent(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    with FaultProxy(moto_endpoint.url) as proxy:
        config = repo_config(tmp_path, proxy.url, table_name, retry_scale_factor=1, max_retries=2)
        store = ChalkDynamoOnlineStore()
        view = driver_view("stats")
        applied(store, config, view)
        store.online_write_batch(config, view, [row(i, float(i)) for i in range(4)], None)
        proxy.faults.unprocessed_batch_gets = -1
        with pytest.raises(RetriesExhausted, match=table_name):
            store.online_read(config, view, [key(i) for i in range(4)])
        assert proxy.faults.seen["BatchGetItem"] == 3
        store.close_engines()


def test_oversize_item_is_refused_and_nothing_written(
    store: ChalkDynamoOnlineStore, config: RepoConfig
) -> None:
    view = driver_view("stats")
    applied(store, config, view)
    huge = {"tags": ValueProto(string_list_val=StringList(val=["x" * 1000] * 500))}
    with pytest.raises(ItemTooLarge, match="driver_id=1 "):
        store.online_write_batch(config, view, [(key(1), huge, NOW, None)], None)
    assert store.online_read(config, view, [key(1)]) == [(None, None)]


def test_missing_table_points_to_terraform(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str
) -> None:
    config = repo_config(tmp_path, dynamodb_endpoint.url, table_name, create_tables_if_not_exists=False)
    store = ChalkDynamoOnlineStore()
    with pytest.raises(TableNotFound, match="Terraform"):
        applied(store, config, driver_view("stats"))
    with pytest.raises(TableNotFound, match="Terraform"):
        store.online_read(config, driver_view("stats"), [key(1)])
    store.close_engines()


def test_wrongly_keyed_table_is_an_error(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str, ddb_client: Any
) -> None:
    ddb_client.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = ChalkDynamoOnlineStore()
    with pytest.raises(TableSchemaMismatch, match="pk"):
        applied(store, repo_config(tmp_path, dynamodb_endpoint.url, table_name), driver_view("stats"))
    store.close_engines()


def test_removed_view_loses_its_data_and_empty_items_go(
    store: ChalkDynamoOnlineStore, config: RepoConfig, ddb_client: Any, table_name: str
) -> None:
    kept, removed = driver_view("kept"), driver_view("removed")
    applied(store, config, kept, removed)
    store.online_write_batch(config, kept, [row(1, 1.0)], None)
    store.online_write_batch(config, removed, [row(1, 1.0), row(2, 2.0)], None)
    store.update(config, [removed], [kept], [], [DRIVER], partial=False)
    item = raw_item(ddb_client, table_name, store, config, 1)
    assert sum(name.startswith("_t") for name in item) == 1
    assert len(item) == 2 + 1 + 5  # pk, sk, kept's timestamp, 5 features (a null too); no expiry by default
    assert "Item" not in ddb_client.get_item(
        TableName=table_name, Key={"pk": raw_item_key(store, config, 2), "sk": {"S": ENTITY_SK}}
    )
    assert store.online_read(config, kept, [key(1)])[0][0] == NOW


def raw_item_key(store: ChalkDynamoOnlineStore, config: RepoConfig, driver_id: int) -> dict[str, str]:
    from feast_chalk_dynamo.items.layout import encode_entity_key
    from feast_chalk_dynamo.items.names import project_name

    project_id = store.engine(config).names.lookup(project_name(config.project))
    assert project_id is not None
    return {"S": encode_entity_key(project_id, key(driver_id))}


def test_teardown_deletes_project_data_and_the_table_it_created(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str, ddb_client: Any
) -> None:
    store = ChalkDynamoOnlineStore()
    view = driver_view("stats")
    first = repo_config(tmp_path, dynamodb_endpoint.url, table_name, project="first")
    second = repo_config(tmp_path, dynamodb_endpoint.url, table_name, project="second")
    for config in (first, second):
        applied(store, config, view)
        store.online_write_batch(config, view, [row(1, 1.0)], None)
    store.teardown(first, [view], [DRIVER])
    assert store.online_read(second, view, [key(1)])[0][0] == NOW  # the other project is untouched
    assert table_exists(ddb_client, table_name)
    store.teardown(second, [view], [DRIVER])
    assert not table_exists(ddb_client, table_name)


def test_teardown_keeps_a_table_it_did_not_create(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str, ddb_client: Any
) -> None:
    create_pk_sk_table(ddb_client, table_name)
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, dynamodb_endpoint.url, table_name, create_tables_if_not_exists=False)
    view = driver_view("stats")
    applied(store, config, view)
    store.online_write_batch(config, view, [row(1, 1.0)], None)
    store.teardown(config, [view], [DRIVER])
    assert table_exists(ddb_client, table_name)
    assert ddb_client.scan(TableName=table_name, FilterExpression="pk <> :m",
                           ExpressionAttributeValues={":m": {"S": "~meta"}})["Count"] == 0  # fmt: skip


def test_views_without_online_data_are_ignored(
    store: ChalkDynamoOnlineStore, config: RepoConfig, ddb_client: Any, table_name: str
) -> None:
    from feast import Field, RequestSource
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.types import Float64

    stats = driver_view("stats")
    request = RequestSource(name="req", schema=[Field(name="bonus", dtype=Float64)])

    @on_demand_feature_view(
        sources=[stats, request], schema=[Field(name="boosted", dtype=Float64)], mode="python"
    )
    def boosted(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"boosted": [a + b for a, b in zip(inputs["f0"], inputs["bonus"], strict=True)]}

    offline_only = driver_view("offline_only")
    offline_only.online = False
    applied(store, config, stats, boosted, offline_only)
    names = store.engine(config).names.names_with_prefix("ns/")
    assert set(names) == {"ns/proj/stats"}
