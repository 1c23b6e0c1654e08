"""The simulated DynamoDB's reads against the backend it copies: the same requests, the same answers.

The read benchmark's figures on the simulated endpoint are only as good as its answers: every
item, every projection, binary values as DynamoDB's JSON has them, missing keys, and the errors,
as the backend (moto and dynalite) gives them. Requests are sent raw and signed, and the answers
compared as JSON, so nothing a client library would smooth over hides a difference.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from feast.infra.online_stores.dynamodb import DynamoDBOnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.simulated_dynamodb import SimulatedDynamo
from benchmarks.simulated_dynamodb.backend import Backend
from feast_chalk_dynamo import ChalkDynamoOnlineStore
from tests.feast_objects import DRIVER, driver_view, repo_config
from tests.integration.test_simulated_dynamodb import _client
from tests.servers import Endpoint, create_pk_sk_table

REGION = "us-east-1"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, SimulatedDynamo]]:
    """One simulator per backend, started when first asked for; reads answered at once."""
    running: dict[str, SimulatedDynamo] = {}
    try:
        yield running
    finally:
        for simulator in running.values():
            simulator.stop()


def _simulator(simulators: dict[str, SimulatedDynamo], backend: Endpoint) -> SimulatedDynamo:
    simulator = simulators.get(backend.url)
    if simulator is None:
        simulator = simulators[backend.url] = SimulatedDynamo(
            backend.url, delay_ms=0, read_latency="fixed:0"
        ).start()
    simulator.set_read_latency("fixed:0")
    simulator.reset()
    return simulator


@pytest.fixture
def sim(simulators: dict[str, SimulatedDynamo], dynamodb_endpoint: Endpoint) -> SimulatedDynamo:
    return _simulator(simulators, dynamodb_endpoint)


@pytest.fixture
def table(dynamodb_endpoint: Endpoint, table_name: str) -> str:
    create_pk_sk_table(_client(dynamodb_endpoint.url), table_name)
    return table_name


@pytest.fixture
def dynalite_table(dynalite_endpoint: Endpoint, table_name: str) -> str:
    create_pk_sk_table(_client(dynalite_endpoint.url), table_name)
    return table_name


def call(url: str, operation: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One signed request, sent and parsed raw: (status, the JSON body)."""
    backend = Backend(url)
    try:
        return backend.signed(operation, payload)
    finally:
        backend.close()


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "#"}}


def _canonical(status: int, answer: dict[str, Any]) -> Any:
    """What must agree: an error's type; else the items and the rest, in any order where none is promised.

    Neither the items of a BatchGetItem nor the members of a set come in an order DynamoDB
    promises (moto gives one set's members in two orders to a Scan and a BatchGetItem).
    """
    if status != 200:
        return status, answer["__type"].rsplit("#", 1)[-1]
    answer = _sets_sorted(answer)
    answer.pop("ConsumedCapacity", None)  # moto does not count; the unit tests check the simulator's
    responses = answer.get("Responses")
    if responses is not None:
        answer["Responses"] = {
            table: sorted(items, key=lambda item: orjson.dumps(item, option=orjson.OPT_SORT_KEYS))
            for table, items in responses.items()
        }
    return status, answer


def _sets_sorted(document: Any) -> Any:
    if isinstance(document, list):
        return [_sets_sorted(element) for element in document]
    if not isinstance(document, dict):
        return document
    if len(document) == 1 and next(iter(document)) in ("SS", "NS", "BS"):  # an attribute value that is a set
        ((tag, members),) = document.items()
        return {tag: sorted(members)}
    return {name: _sets_sorted(value) for name, value in document.items()}


def both(sim: SimulatedDynamo, backend: str, operation: str, payload: dict[str, Any]) -> tuple[Any, Any]:
    return _canonical(*call(sim.url, operation, payload)), _canonical(*call(backend, operation, payload))


# -- items and projections, drawn ------------------------------------------------------------------

_NAMES = st.sampled_from(["a", "b", "c", "x_1", "é"])
_NUMBERS = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False).map(str),
)
_SCALARS = st.one_of(
    st.text(max_size=8).map(lambda text: {"S": text}),
    _NUMBERS.map(lambda text: {"N": text}),
    st.binary(max_size=12).map(lambda raw: {"B": base64.b64encode(raw).decode()}),
    st.booleans().map(lambda flag: {"BOOL": flag}),
    st.just({"NULL": True}),
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4, unique=True).map(lambda v: {"SS": v}),
    st.lists(st.integers(-999, 999), min_size=1, max_size=4, unique=True).map(
        lambda numbers: {"NS": [str(n) for n in numbers]}
    ),
    st.lists(st.binary(min_size=1, max_size=6), min_size=1, max_size=3, unique=True).map(
        lambda raws: {"BS": [base64.b64encode(raw).decode() for raw in raws]}
    ),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: {"L": items}),
        st.dictionaries(_NAMES, inner, max_size=4).map(lambda members: {"M": members}),
    ),
    max_leaves=10,
)
# A document path: an attribute, then map members and list elements below it.
_PATHS = st.tuples(_NAMES, st.lists(st.one_of(_NAMES, st.integers(0, 3)), max_size=2)).map(
    lambda path: (path[0], *path[1])
)
DocPath = tuple[str | int, ...]


def _paths_in(value: dict[str, Any], prefix: DocPath) -> Iterator[DocPath]:
    """Every document path into a value, itself first."""
    yield prefix
    for name, member in value.get("M", {}).items():
        yield from _paths_in(member, (*prefix, name))
    for index, element in enumerate(value.get("L", [])):
        yield from _paths_in(element, (*prefix, index))


@st.composite
def _items_and_paths(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[DocPath]]:
    """Items, and paths to project: mostly paths the items have, some they lack (none: the whole item)."""
    items = draw(st.lists(st.dictionaries(_NAMES, _VALUES, min_size=1, max_size=5), min_size=1, max_size=4))
    present = sorted(
        {path for item in items for name, value in item.items() for path in _paths_in(value, (name,))},
        key=str,
    )
    some_path = st.one_of(st.sampled_from(present), st.sampled_from(present), _PATHS)
    whole = draw(st.integers(0, 3)) == 3  # some of the reads (hypothesis favours 0)
    return items, [] if whole else draw(st.lists(some_path, min_size=1, max_size=5, unique=True))


def _projection(paths: list[DocPath]) -> dict[str, Any]:
    """A ProjectionExpression of ``paths``, every name by placeholder, as the stores write them."""
    aliases: dict[str, str] = {}

    def step(part: str | int) -> str:
        if isinstance(part, int):
            return f"[{part}]"
        return "." + aliases.setdefault(part, f"#n{len(aliases)}")

    expression = ", ".join("".join(step(part) for part in path)[1:] for path in paths)
    return {
        "ProjectionExpression": expression,
        "ExpressionAttributeNames": {alias: name for name, alias in aliases.items()},
    }


_counter = itertools.count()


def check_reads(
    sim: SimulatedDynamo,
    backend: str,
    table: str,
    items: list[dict[str, Any]],
    paths: list[DocPath] | None,
    absent: int,
    consistent: bool,
) -> None:
    """Write ``items`` to the backend, copy the table, and read them back from both, with ``paths``."""
    pks = [f"h{next(_counter)}" for _ in items]
    for pk, attributes in zip(pks, items, strict=True):
        status, answer = call(backend, "PutItem", {"TableName": table, "Item": {**_key(pk), **attributes}})
        assert status == 200, answer
    sim.snapshot([table])
    request: dict[str, Any] = {
        "Keys": [_key(pk) for pk in pks] + [_key(f"absent{i}") for i in range(absent)],
        "ConsistentRead": consistent,
        **(_projection(paths) if paths else {}),
    }

    ours, theirs = both(sim, backend, "BatchGetItem", {"RequestItems": {table: request}})
    assert ours == theirs
    for key in request["Keys"][-2:]:
        get = {"TableName": table, "Key": key, **{k: v for k, v in request.items() if k != "Keys"}}
        ours, theirs = both(sim, backend, "GetItem", get)
        assert ours == theirs
    assert sim.stats().forwarded == {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=_items_and_paths(), absent=st.integers(0, 2), consistent=st.booleans())
def test_reads_answer_as_dynalite_does(
    simulators: dict[str, SimulatedDynamo],
    dynalite_endpoint: Endpoint,
    dynalite_table: str,
    drawn: tuple[list[dict[str, Any]], list[DocPath]],
    absent: int,
    consistent: bool,
) -> None:
    """Items of every type, projections (overlapping and conflicting ones too), keys that are absent.

    Not on moto (5.1): it refuses a list index after a placeholder (``#a[0]``: "unused in
    expressions"), accepts overlapping paths and fails (HTTP 500) to project an item holding a
    binary set, all unlike DynamoDB; dynalite does as DynamoDB.
    """
    items, paths = drawn
    sim = _simulator(simulators, dynalite_endpoint)
    check_reads(sim, dynalite_endpoint.url, dynalite_table, items, paths, absent, consistent)


def test_reads_as_the_stores_send_them_answer_as_the_backend_does(
    sim: SimulatedDynamo, dynamodb_endpoint: Endpoint, table: str
) -> None:
    """Every type but BS; the whole item, attributes by name (this store), map members (Feast's store).

    moto (5.1) answers HTTP 500 to a projected read of an item holding a binary set; the test
    above has them, on dynalite.
    """
    items = [
        {
            "a": {"S": "text é"},
            "b": {"B": base64.b64encode(b"\x00\xff raw").decode()},
            "c": {"N": "-12.50"},
            "x_1": {"M": {"a": {"L": [{"B": base64.b64encode(b"\x01").decode()}]}, "b": {"NULL": True}}},
            "é": {"L": [{"SS": ["q", "p"]}, {"NS": ["3", "1"]}, {"BOOL": False}]},
        },
        {"a": {"S": ""}, "x_1": {"M": {"c": {"N": "1"}}}},
        {},
    ]
    projections: list[list[DocPath] | None] = [
        None,
        [("a",), ("b",), ("c",), ("é",), ("zz",)],
        [("x_1", "a"), ("x_1", "b"), ("c",)],
    ]
    for paths in projections:
        check_reads(sim, dynamodb_endpoint.url, table, items, paths, absent=2, consistent=paths is None)


def test_errors_are_the_backends(sim: SimulatedDynamo, dynamodb_endpoint: Endpoint, table: str) -> None:
    sim.snapshot([table])
    keys = [_key(f"e{i}") for i in range(101)]
    requests = [
        {table: {"Keys": keys}},
        {table: {"Keys": [_key("e1"), _key("e1")]}},
        {table: {"Keys": [{"pk": {"S": "e1"}}]}},
        {table: {"Keys": [_key("e1")], "ProjectionExpression": "#a"}},
        {
            table: {
                "Keys": [_key("e1")],
                "ProjectionExpression": "#a",
                "ExpressionAttributeNames": {"#a": "a", "#b": "b"},
            }
        },
    ]
    for request in requests:
        ours, theirs = both(sim, dynamodb_endpoint.url, "BatchGetItem", {"RequestItems": request})
        assert ours == theirs and ours[1] == "ValidationException", request
    assert sim.stats().forwarded == {}


def test_unprocessed_keys_are_read_again_by_the_store_and_every_row_comes_back(
    sim: SimulatedDynamo, dynamodb_endpoint: Endpoint, table_name: str, tmp_path: Path
) -> None:
    view = driver_view("stats")
    writer, reader = ChalkDynamoOnlineStore(), ChalkDynamoOnlineStore()
    on_backend = repo_config(tmp_path, dynamodb_endpoint.url, table_name, retry_scale_factor=1)
    on_sim = repo_config(tmp_path, sim.url, table_name, retry_scale_factor=1, getitem_min_batch_size=100)
    keys = [
        EntityKeyProto(join_keys=["driver_id"], entity_values=[ValueProto(int64_val=i)]) for i in range(40)
    ]
    try:
        writer.update(on_backend, [], [view], [], [DRIVER], partial=False)
        rows: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]] = [
            (key, {"f0": ValueProto(double_val=i / 3)}, NOW, None) for i, key in enumerate(keys)
        ]
        writer.online_write_batch(on_backend, view, rows, None)
        expected = writer.online_read(on_backend, view, keys)
        sim.snapshot([table_name])
        sim.reset()
        sim.leave_unprocessed(3)

        answer = reader.online_read(on_sim, view, keys)
    finally:
        writer.close_engines()
        reader.close_engines()

    assert answer == expected
    assert all(values is not None for _, values in answer)
    stats = sim.stats()
    assert stats.unprocessed_keys == 20 + 10 + 5  # half of 40, then of the 20 left, then of 10
    assert stats.requests["BatchGetItem"] == 4
    assert "BatchGetItem" not in stats.forwarded


def test_feasts_store_reads_unprocessed_keys_as_missing_rows(
    sim: SimulatedDynamo, dynamodb_endpoint: Endpoint, table_name: str, tmp_path: Path
) -> None:
    """What the test above guards against, shown on Feast's DynamoDB store (0.67): it never reads
    ``UnprocessedKeys`` again, so a throttled part of a BatchGetItem comes back as rows not found."""
    view = driver_view("stats")
    project = "p" + table_name.replace("-", "_")  # Feast's tables are <project>.<view>: one of its own

    def config(url: str) -> RepoConfig:
        return RepoConfig(
            project=project,
            provider="local",
            registry=str(tmp_path / "registry.db"),
            online_store={"type": "dynamodb", "region": REGION, "endpoint_url": url},
            entity_key_serialization_version=3,
        )

    writer, reader = DynamoDBOnlineStore(), DynamoDBOnlineStore()  # each keeps its first client
    keys = [
        EntityKeyProto(join_keys=["driver_id"], entity_values=[ValueProto(int64_val=i)]) for i in range(40)
    ]
    writer.update(config(dynamodb_endpoint.url), [], [view], [], [DRIVER], partial=False)
    writer.online_write_batch(
        config(dynamodb_endpoint.url),
        view,
        [(key, {"f0": ValueProto(double_val=1.0)}, NOW, None) for key in keys],
        None,
    )
    sim.snapshot([f"{project}.{view.name}"])
    sim.leave_unprocessed(1)

    answer = reader.online_read(config(sim.url), view, keys)

    assert sum(values is None for _, values in answer) == 20
    assert sim.stats().unprocessed_keys == 20


def test_reads_wait_out_their_latency_all_at_once(sim: SimulatedDynamo, table: str) -> None:
    sim.snapshot([table])
    sim.set_read_latency("fixed:1000")
    client = _client(sim.url)

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: client.get_item(TableName=table, Key=_key(f"w{i}")), range(20)))

    assert all("Item" not in answer for answer in answers)
    stats = sim.stats()
    assert stats.requests == {"GetItem": 20}
    assert stats.most_waiting == 20  # none waited for another: one after the other would be 1
    assert stats.cpu_seconds > 0  # the simulator's own CPU since the reset, for the benchmarks to print


def test_a_write_to_a_copied_table_is_refused_and_the_backend_keeps_its_items(
    sim: SimulatedDynamo, dynamodb_endpoint: Endpoint, table: str
) -> None:
    backend = dynamodb_endpoint.url
    call(backend, "PutItem", {"TableName": table, "Item": {**_key("e1"), "v": {"S": "old"}}})
    sim.snapshot([table])
    update = {
        "TableName": table,
        "Key": _key("e1"),
        "UpdateExpression": "SET #v = :v",
        "ExpressionAttributeNames": {"#v": "v"},
        "ExpressionAttributeValues": {":v": {"S": "new"}},
    }
    writes: dict[str, dict[str, Any]] = {
        "PutItem": {"TableName": table, "Item": {**_key("e1"), "v": {"S": "new"}}},
        "DeleteItem": {"TableName": table, "Key": _key("e1")},
        "UpdateItem": update,
        "BatchWriteItem": {"RequestItems": {table: [{"DeleteRequest": {"Key": _key("e1")}}]}},
        "TransactWriteItems": {"TransactItems": [{"Update": update}]},
    }

    refused = {operation: call(sim.url, operation, payload) for operation, payload in writes.items()}
    meta = call(sim.url, "PutItem", {"TableName": table, "Item": {"pk": {"S": "~meta"}, "sk": {"S": "x"}}})

    assert {op: (status, answer["__type"].rsplit("#")[-1]) for op, (status, answer) in refused.items()} == {
        op: (400, "SimulatorUnsupportedException") for op in writes
    }
    assert meta[0] == 200  # the name registry's writes still reach the backend
    for url in (sim.url, backend):
        assert call(url, "GetItem", {"TableName": table, "Key": _key("e1")})[1]["Item"]["v"] == {"S": "old"}


def test_a_deleted_table_is_no_longer_answered_from_its_copy(
    sim: SimulatedDynamo, dynamodb_endpoint: Endpoint, table: str
) -> None:
    sim.snapshot([table])
    _client(sim.url).delete_table(TableName=table)

    status, answer = call(sim.url, "GetItem", {"TableName": table, "Key": _key("e1")})

    assert (status, answer["__type"].rsplit("#")[-1]) == (400, "ResourceNotFoundException")
    assert sim.stats().forwarded == {"DeleteTable": 1, "GetItem": 1}


def test_a_snapshot_of_a_missing_table_fails_and_says_why(sim: SimulatedDynamo, table_name: str) -> None:
    with pytest.raises(RuntimeError, match="ResourceNotFoundException"):
        sim.snapshot([table_name])
