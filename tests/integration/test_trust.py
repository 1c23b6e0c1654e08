"""Defects an outside run found, each with the class of bug behind it (issue 7).

Every test here failed on the code before the fix. The servers are strict
(``conftest.strict``): a request AWS would reject fails the test that sent it.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from feast import FeatureView, Field, FileSource
from feast.protos.feast.types.Value_pb2 import Map as MapProto
from feast.protos.feast.types.Value_pb2 import StringList
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.types import Array, Bool, Float64, Int64, Map, String
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.errors import EntityKeyTooLarge, ItemTooLarge, TableNotFound
from feast_chalk_dynamo.items.layout import ENTITY_SK, EXPIRY_ATTR, META_PK, PK, SK
from feast_chalk_dynamo.items.names import NameRegistry, feature_name
from tests.feast_objects import DRIVER, driver_view, feature_store, repo_config
from tests.integration.test_store import NOW, applied, key, raw_item, row
from tests.servers import Endpoint

REPO_ROOT = Path(__file__).resolve().parents[2]


def view_of(name: str, fields: dict[str, Any], ttl: timedelta | None = None) -> FeatureView:
    """A driver view with exactly ``fields`` (name -> Feast type)."""
    return FeatureView(
        name=name,
        entities=[DRIVER],
        schema=[Field(name="driver_id", dtype=Int64), *(Field(name=n, dtype=t) for n, t in fields.items())],
        source=FileSource(path=f"/nonexistent/{name.replace('/', '_')}.parquet", timestamp_field="ts"),
        ttl=ttl,
    )


def write(
    store: ChalkDynamoOnlineStore,
    config: RepoConfig,
    view: FeatureView,
    values: dict[str, ValueProto],
    ts: datetime,
) -> None:
    store.online_write_batch(config, view, [(key(1), values, ts, None)], None)


def read_one(store: ChalkDynamoOnlineStore, config: RepoConfig, view: FeatureView) -> tuple[Any, Any]:
    ((ts, values),) = store.online_read(config, view, [key(1)])
    return ts, values


def doubles(count: int, base: float) -> dict[str, ValueProto]:
    return {f"f{i}": ValueProto(double_val=base + i) for i in range(count)}


# -- 2. short ids never collide with reserved names --------------------------------------------


def test_ids_past_pk_and_sk_write_and_read(
    store: ChalkDynamoOnlineStore, config: RepoConfig, ddb_client: Any, table_name: str
) -> None:
    """The counter passes 920 (``pk``) and 1028 (``sk``); a mapping a former version gave ``pk`` is healed."""
    applied(store, config, driver_view("first"))
    counter = {PK: {"S": META_PK}, SK: {"S": "~counter"}}
    ddb_client.put_item(TableName=table_name, Item={**counter, "n": {"N": "900"}})
    poisoned = feature_name(config.project, "wide", "f0", "DOUBLE")
    ddb_client.put_item(
        TableName=table_name, Item={PK: {"S": META_PK}, SK: {"S": poisoned}, "id": {"S": "pk"}}
    )
    wide = view_of("wide", {f"f{i}": Float64 for i in range(150)})
    applied(store, config, driver_view("first"), wide)
    write(store, config, wide, doubles(150, 0.5), NOW)
    ts, values = read_one(store, config, wide)
    assert ts == NOW and [values[f"f{i}"].double_val for i in range(150)] == [0.5 + i for i in range(150)]
    item = raw_item(ddb_client, table_name, store, config, 1)
    assert item[PK]["S"].endswith("driver_id=i:1") and item[SK]["S"] == ENTITY_SK


# -- 3. names are escaped ----------------------------------------------------------------------


def test_slashes_in_names_neither_share_values_nor_deletions(
    store: ChalkDynamoOnlineStore, config: RepoConfig
) -> None:
    v = view_of("v", {"a/b": Float64})
    v_a = view_of("v/a", {"b": Float64})
    applied(store, config, v, v_a)
    write(store, config, v, {"a/b": ValueProto(double_val=1.0)}, NOW)
    write(store, config, v_a, {"b": ValueProto(double_val=2.0)}, NOW)
    assert read_one(store, config, v)[1]["a/b"].double_val == 1.0
    assert read_one(store, config, v_a)[1]["b"].double_val == 2.0
    store.update(config, [v], [v_a], [], [DRIVER], partial=False)
    assert read_one(store, config, v_a)[1]["b"].double_val == 2.0


# -- 4. no resurrection after a sequence of applies --------------------------------------------


def test_a_reverted_dtype_does_not_resurrect_old_values(
    store: ChalkDynamoOnlineStore, config: RepoConfig
) -> None:
    as_int, as_text = view_of("labels", {"label": Int64}), view_of("labels", {"label": String})
    applied(store, config, as_int)
    write(store, config, as_int, {"label": ValueProto(int64_val=5)}, NOW - timedelta(hours=5))
    applied(store, config, as_text)
    write(store, config, as_text, {"label": ValueProto(string_val="new")}, NOW - timedelta(hours=1))
    applied(store, config, as_int)
    ts, values = read_one(store, config, as_int)
    assert ts == NOW - timedelta(hours=1)
    # The newest row has no Int64 label (its label is text, under another id): a feature the row lacks,
    # which online_read leaves out (NOT_FOUND), never the older 5.
    assert "label" not in values


# Schemas a view goes through: any feature may come, go or change type between applies.
SCHEMAS = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from([Int64, String]), min_size=1)


def proto(dtype: Any, number: int) -> ValueProto:
    return ValueProto(int64_val=number) if dtype == Int64 else ValueProto(string_val=str(number))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(SCHEMAS, st.booleans()), min_size=2, max_size=5))
def test_after_any_applies_a_read_is_the_newest_row_or_nothing(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, steps: list[tuple[dict[str, Any], bool]]
) -> None:
    """Apply each schema (optionally removing the view first), write a row; read: newest or nothing."""
    store = ChalkDynamoOnlineStore()
    config = repo_config(tmp_path, moto_endpoint.url, f"{table_name}-{len(steps)}-{abs(hash(str(steps)))}")
    newest: tuple[datetime, dict[str, ValueProto]] | None = None
    for number, (schema, remove_first) in enumerate(steps):
        view = view_of("v", schema)
        if remove_first and number:
            store.update(config, [view], [], [], [DRIVER], partial=False)
            newest = None
        applied(store, config, view)
        ts = NOW - timedelta(hours=10 - number)
        values = {name: proto(dtype, number) for name, dtype in schema.items()}
        write(store, config, view, values, ts)
        newest = (ts, values)
        read_ts, read_values = read_one(store, config, view)
        assert (read_ts, read_values) == newest
    # Re-applying an earlier schema after all that still serves the newest row or nothing.
    first = view_of("v", steps[0][0])
    applied(store, config, first)
    read_ts, read_values = read_one(store, config, first)
    assert newest is not None and read_ts == newest[0]
    # A feature the newest row cannot supply is left out (NOT_FOUND), not answered as a null.
    for name, value in read_values.items():
        assert name in newest[1] and value == newest[1][name], name
    store.teardown(config, [first], [DRIVER])


# -- 5. long-running processes see changes -----------------------------------------------------

OTHER_PROCESS = """
import sys
from pathlib import Path
from feast.protos.feast.types.Value_pb2 import Value
from feast_chalk_dynamo import ChalkDynamoOnlineStore
from tests.feast_objects import DRIVER, repo_config
from tests.integration.test_store import NOW, key
from tests.integration.test_trust import view_of
from feast.types import Float64
from datetime import timedelta

url, table, action = sys.argv[1:4]
config = repo_config(Path(sys.argv[4]), url, table)
store = ChalkDynamoOnlineStore()
if action == "teardown-apply-write":
    view = view_of("stats", {"x": Float64}, ttl=timedelta(days=1))
    store.teardown(config, [view], [DRIVER])
    store.update(config, [], [view], [], [DRIVER], partial=False)
    store.online_write_batch(config, view, [(key(1), {"x": Value(double_val=2.0)}, NOW, None)], None)
elif action == "drop-ttl":
    view = view_of("stats", {"x": Float64}, ttl=None)
    store.update(config, [], [view], [], [DRIVER], partial=False)
store.close_engines()
"""


def other_process(endpoint: Endpoint, table: str, action: str, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, endpoint.url, table, action, str(tmp_path / "other")],
        cwd=REPO_ROOT,
        check=True,
        timeout=120,
    )


def test_a_server_sees_another_process_teardown_and_reapply(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str
) -> None:
    config = repo_config(tmp_path, dynamodb_endpoint.url, table_name, mapping_refresh_seconds=0)
    server = ChalkDynamoOnlineStore()
    view = view_of("stats", {"x": Float64}, ttl=timedelta(days=1))
    applied(server, config, view)
    write(server, config, view, {"x": ValueProto(double_val=1.0)}, NOW - timedelta(hours=1))
    assert read_one(server, config, view)[1]["x"].double_val == 1.0  # project id now cached
    other_process(dynamodb_endpoint, table_name, "teardown-apply-write", tmp_path)
    assert read_one(server, config, view)[1]["x"].double_val == 2.0
    server.close_engines()


def test_a_long_running_writer_takes_expiry_from_the_current_views(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str, ddb_client: Any
) -> None:
    config = repo_config(
        tmp_path, dynamodb_endpoint.url, table_name, mapping_refresh_seconds=0, chalk_style_expiry=True
    )
    writer = ChalkDynamoOnlineStore()
    view = view_of("stats", {"x": Float64}, ttl=timedelta(days=1))
    applied(writer, config, view)
    write(writer, config, view, {"x": ValueProto(double_val=1.0)}, NOW)
    assert EXPIRY_ATTR in raw_item(ddb_client, table_name, writer, config, 1)
    other_process(dynamodb_endpoint, table_name, "drop-ttl", tmp_path)
    assert EXPIRY_ATTR not in raw_item(ddb_client, table_name, writer, config, 1)  # recomputed by the apply
    write(writer, config, view, {"x": ValueProto(double_val=2.0)}, NOW + timedelta(seconds=1))
    assert EXPIRY_ATTR not in raw_item(ddb_client, table_name, writer, config, 1)
    writer.close_engines()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_generation_is_read_at_most_once_per_refresh_interval(
    dynamodb_endpoint: Endpoint, table_name: str, store: ChalkDynamoOnlineStore, config: RepoConfig
) -> None:
    applied(store, config, driver_view("stats"))  # creates the table
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint.url, region_name="us-east-1")
    calls: list[str] = []

    def called(model: Any, params: dict[str, Any], **_: Any) -> None:
        # The state is a Query of ~counter..~generation; the mapping, one of the whole partition.
        calls.append("state" if "BETWEEN" in params.get("KeyConditionExpression", "") else model.name)

    client.meta.events.register("before-parameter-build.dynamodb", called)
    clock = Clock()
    names = NameRegistry(client, table_name, refresh_seconds=5, clock=clock)
    names.ensure_fresh()
    assert calls == ["state", "Query"]  # the mapping's state, then the mapping
    for clock.now in (1.0, 4.9):
        names.ensure_fresh()
    assert calls == ["state", "Query"]
    clock.now = 5.0
    names.ensure_fresh()
    assert calls == ["state", "Query", "state"]  # unchanged: no reload
    applied(store, config, driver_view("stats"))  # another registry bumps the generation
    clock.now = 10.0
    names.ensure_fresh()
    assert calls[3:] == ["state", "Query"]


# -- 6. a view's ttl follows Feast by default ---------------------------------------------------


def test_rows_older_than_ttl_are_served_as_feast_serves_them(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str
) -> None:
    config = repo_config(tmp_path, dynamodb_endpoint.url, table_name)
    view = driver_view("stats", n_features=1, ttl=timedelta(hours=2))
    fs = feature_store(config, view)
    march = datetime(2022, 3, 1, 12, tzinfo=timezone.utc)
    frame = pd.DataFrame({"driver_id": [1], "f0": [7.5], "tags": [["x"]], "rate": [0.5], "ts": [march]})
    fs.write_to_online_store("stats", frame)
    assert fs.get_online_features(features=["stats:f0"], entity_rows=[{"driver_id": 1}]).to_dict()["f0"] == [
        7.5
    ]
    online = fs._get_provider().online_store
    ((ts, values),) = online.online_read(fs.config, view, [key(1)])
    assert ts == march and values["f0"].double_val == 7.5
    online.close_engines()


def test_an_on_demand_view_over_old_rows_gets_their_values(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str
) -> None:
    from feast.on_demand_feature_view import on_demand_feature_view

    prices = view_of("prices", {"price": Float64}, ttl=timedelta(days=1))

    @on_demand_feature_view(sources=[prices], schema=[Field(name="doubled", dtype=Float64)], mode="python")
    def doubled(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"doubled": [None if p is None else 2 * p for p in inputs["price"]]}

    fs = feature_store(repo_config(tmp_path, dynamodb_endpoint.url, table_name), prices, doubled)
    old = datetime(2024, 5, 1, tzinfo=timezone.utc)
    fs.write_to_online_store("prices", pd.DataFrame({"driver_id": [1], "price": [200.0], "ts": [old]}))
    result = fs.get_online_features(
        features=["prices:price", "doubled:doubled"], entity_rows=[{"driver_id": 1}]
    ).to_dict()
    assert result["price"] == [200.0] and result["doubled"] == [400.0]
    fs._get_provider().online_store.close_engines()


def test_no_expiry_attribute_unless_chalk_style_expiry_is_on(
    store: ChalkDynamoOnlineStore, config: RepoConfig, ddb_client: Any, table_name: str
) -> None:
    view = driver_view("stats", ttl=timedelta(hours=1))  # every view has a ttl
    applied(store, config, view)
    store.online_write_batch(config, view, [row(1, 1.0)], None)
    assert EXPIRY_ATTR not in raw_item(ddb_client, table_name, store, config, 1)


def test_chalk_style_expiry_follows_ttl_changes(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str, ddb_client: Any
) -> None:
    config = repo_config(tmp_path, dynamodb_endpoint.url, table_name, chalk_style_expiry=True)
    store = ChalkDynamoOnlineStore()
    written = NOW - timedelta(hours=1)
    applied(store, config, driver_view("stats", ttl=timedelta(days=1)))
    store.online_write_batch(config, driver_view("stats"), [row(i, 1.0, written) for i in range(3)], None)

    def expiries() -> list[int | None]:
        items = [raw_item(ddb_client, table_name, store, config, i) for i in range(3)]
        return [int(item[EXPIRY_ATTR]["N"]) if EXPIRY_ATTR in item else None for item in items]

    assert all(e is not None and e >= written.timestamp() + 86400 for e in expiries())
    applied(store, config, driver_view("stats", ttl=timedelta(days=30)))
    assert expiries() == [int(written.timestamp()) + 30 * 86400] * 3
    applied(store, config, driver_view("stats", ttl=None))
    assert expiries() == [None] * 3
    applied(store, config, driver_view("stats", ttl=timedelta(days=2)))
    assert expiries() == [int(written.timestamp()) + 2 * 86400] * 3
    store.close_engines()
    off = repo_config(tmp_path, dynamodb_endpoint.url, table_name)  # the knob turned off again
    store = ChalkDynamoOnlineStore()
    applied(store, off, driver_view("stats", ttl=timedelta(days=2)))
    assert expiries() == [None] * 3
    store.close_engines()


# -- 7. requests within DynamoDB's documented limits --------------------------------------------


def test_the_test_servers_reject_what_aws_rejects(
    ddb_client: Any, table_name: str, dynamodb_endpoint: Endpoint
) -> None:
    from tests.servers import create_pk_sk_table

    create_pk_sk_table(ddb_client, table_name)
    names = {f"#attribute{i}": f"a{i}" for i in range(400)}
    with pytest.raises(ClientError, match="Expression size has exceeded"):
        ddb_client.get_item(
            TableName=table_name,
            Key={PK: {"S": "k"}, SK: {"S": "#"}},
            ProjectionExpression=",".join(names),
            ExpressionAttributeNames=names,
        )
    with pytest.raises(ClientError, match="Too many items"):
        ddb_client.batch_get_item(
            RequestItems={table_name: {"Keys": [{PK: {"S": str(i)}, SK: {"S": "#"}} for i in range(101)]}}
        )


@pytest.mark.parametrize("width", [300, 2000])
def test_wide_views_write_read_and_go_whole(
    store: ChalkDynamoOnlineStore, config: RepoConfig, width: int, ddb_client: Any, table_name: str
) -> None:
    """300 features SET one by one pass 4 KB; 2,000 go in as one map. Rows are whole either way."""
    wide = view_of("wide", {f"f{i}": Float64 for i in range(width)})
    other = driver_view("other", n_features=1)
    applied(store, config, wide, other)
    write(store, config, wide, doubles(width, 0.0), NOW - timedelta(hours=1))
    write(store, config, other, row(1, 9.0)[1], NOW)
    newer = doubles(width, 1000.0)
    newer["f7"] = ValueProto()  # a null in the newest row reads as null, not as the older value
    write(store, config, wide, newer, NOW)
    ts, values = read_one(store, config, wide)
    assert ts == NOW
    assert values["f7"] == ValueProto()
    assert [values[f"f{i}"].double_val for i in range(width) if i != 7] == [
        1000.0 + i for i in range(width) if i != 7
    ]
    requested = [f"f{i}" for i in range(0, width, 3)]
    ((_, some),) = store.online_read(config, wide, [key(1)], requested_features=requested)
    assert some is not None and set(some) == set(requested)
    assert read_one(store, config, other)[1]["f0"].double_val == 9.0
    store.update(config, [wide], [other], [], [DRIVER], partial=False)  # removal in 4 KB pieces
    item = raw_item(ddb_client, table_name, store, config, 1)
    assert len(item) == 2 + 1 + 3  # pk, sk, and only the other view: its timestamp and 3 features


MIXED_TYPES = [Float64, Int64, String, Array(String), Map, Bool]


def mixed_value(index: int, base: int) -> ValueProto:
    """Real-looking data for feature ``index``: numbers, text (empty and accented), lists, maps, flags."""
    kind = index % len(MIXED_TYPES)
    number = base + index
    return [
        ValueProto(double_val=number / 7),
        ValueProto(int64_val=-number),
        ValueProto(string_val="" if number % 5 == 0 else f"café-{number}"),
        ValueProto(string_list_val=StringList(val=[f"t{number}", ""])),
        ValueProto(
            map_val=MapProto(
                val={"score": ValueProto(double_val=number), "city": ValueProto(string_val="Lagos")}
            )
        ),
        ValueProto(bool_val=number % 2 == 0),
    ][kind]


@pytest.mark.parametrize("width", [100, 400])
def test_rows_of_every_value_type_round_trip_in_both_write_shapes(
    store: ChalkDynamoOnlineStore, config: RepoConfig, width: int
) -> None:
    """100 features go in attribute by attribute, 400 as one map: strings, lists and maps come back alike."""
    view = view_of("mixed", {f"f{i}": MIXED_TYPES[i % len(MIXED_TYPES)] for i in range(width)})
    applied(store, config, view)
    for base, ts in ((0, NOW - timedelta(hours=1)), (1000, NOW)):
        write(store, config, view, {f"f{i}": mixed_value(i, base) for i in range(width)}, ts)
    ts, values = read_one(store, config, view)
    assert ts == NOW
    assert values == {f"f{i}": mixed_value(i, 1000) for i in range(width)}


def test_many_views_read_at_once_without_a_4kb_projection(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    config = repo_config(tmp_path, moto_endpoint.url, table_name)
    views = [view_of(f"view{v}", {f"f{i}": Float64 for i in range(100)}) for v in range(9)]
    fs = feature_store(config, *views)
    frame = pd.DataFrame({"driver_id": [1], **{f"f{i}": [float(i)] for i in range(100)}, "ts": [NOW]})
    for view in views:
        fs.write_to_online_store(view.name, frame)
    refs = [f"view{v}:f{i}" for v in range(9) for i in range(100)]
    result = fs.get_online_features(features=refs, entity_rows=[{"driver_id": 1}], full_feature_names=True)
    assert result.to_dict()["view8__f99"] == [99.0]
    fs._get_provider().online_store.close_engines()


# -- 8. errors a user can act on ------------------------------------------------------------------


def test_errors_name_entities_as_written(store: ChalkDynamoOnlineStore, config: RepoConfig) -> None:
    view = driver_view("stats")
    applied(store, config, view)
    huge = {"tags": ValueProto(string_list_val=StringList(val=["x" * 1000] * 500))}
    with pytest.raises(ItemTooLarge, match=r"entity driver_id=1 ") as refused:
        store.online_write_batch(config, view, [(key(1), huge, NOW, None)], None)
    assert "i:1" not in str(refused.value)
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey

    long_key = EntityKey(join_keys=["city"], entity_values=[ValueProto(string_val="é" * 1500)])
    with pytest.raises(EntityKeyTooLarge, match="city='éé") as too_long:
        store.online_read(config, view, [long_key])
    assert "s:" not in str(too_long.value)


def test_a_full_item_names_the_views_that_fill_it(store: ChalkDynamoOnlineStore, config: RepoConfig) -> None:
    first, second = driver_view("first_big"), driver_view("second_big")
    applied(store, config, first, second)
    half = {"tags": ValueProto(string_list_val=StringList(val=["x" * 1000] * 250))}
    store.online_write_batch(config, first, [(key(1), half, NOW, None)], None)
    with pytest.raises(ItemTooLarge, match="first_big") as refused:
        store.online_write_batch(config, second, [(key(1), half, NOW, None)], None)
    assert "_t" not in str(refused.value)


@pytest.mark.parametrize("warm", [True, False])
def test_a_missing_table_is_table_not_found_on_every_path(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str, warm: bool
) -> None:
    config = repo_config(
        tmp_path,
        dynamodb_endpoint.url,
        table_name,
        create_tables_if_not_exists=False,
        warmup_fqn_mapping=warm,
    )
    store = ChalkDynamoOnlineStore()
    view = driver_view("stats")
    with pytest.raises(TableNotFound, match="Terraform"):
        store.online_read(config, view, [key(1)])
    with pytest.raises(TableNotFound, match="Terraform"):
        store.online_write_batch(config, view, [row(1, 1.0)], None)
    with pytest.raises(TableNotFound, match="Terraform"):
        applied(store, config, view)
    store.close_engines()
