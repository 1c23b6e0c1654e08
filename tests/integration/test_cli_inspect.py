"""``feast-chalk-dynamo inspect`` on the example repo materialized into moto: what it decodes is what
Feast serves for the entity, value by value, and each view's event time."""

from __future__ import annotations

import ast
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from feast_chalk_dynamo.repos import YAML
from feature_repo_example.features import JOIN_KEY
from tests.cli_repo import ExampleRepo, example_repo, run, unreachable_url
from tests.servers import Endpoint

DRIVER = 1001


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: Endpoint) -> ExampleRepo:
    return example_repo(tmp_path_factory.mktemp("inspect"), moto_endpoint.url)


@pytest.fixture(autouse=True)
def exported(repo: ExampleRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.export(monkeypatch)


def inspect(capsys: pytest.CaptureFixture[str], repo: Path, *entities: str) -> tuple[int, str, str]:
    return run(capsys, "inspect", "--repo", str(repo), *(arg for e in entities for arg in ("--entity", e)))


def read_back(shown: str) -> Any:
    """The value inspect shows (null, a time in ISO form, else Python's repr), as a value again.

    Compared as values, not as text: a map's entries come out of Feast's
    protobuf maps in no fixed order.
    """
    if shown == "null":
        return None
    try:
        return ast.literal_eval(shown)
    except (ValueError, SyntaxError):
        return datetime.fromisoformat(shown)


def served(repo: ExampleRepo, driver: int) -> tuple[dict[str, Any], dict[str, datetime]]:
    """Every feature of the repo for one driver through Feast, and each view's event time."""
    response = repo.store().get_online_features(
        features=repo.objects.feature_refs(), entity_rows=[{JOIN_KEY: driver}]
    )
    names = list(response.proto.metadata.feature_names.val)
    stamps = {
        name: result.event_timestamps[0].ToDatetime(tzinfo=timezone.utc)
        for name, result in zip(names, response.proto.results, strict=True)
    }
    return {name: column[0] for name, column in response.to_dict().items()}, stamps


def test_every_view_and_feature_decoded_as_feast_serves_them(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = inspect(capsys, repo.path, f"{JOIN_KEY}={DRIVER}")
    assert (code, err) == (0, "")
    pk = re.search(r"^item pk '(\d+/driver_id=i:1001)', sk '#'$", out, re.MULTILINE)
    assert pk, out
    item = repo.client().get_item(TableName=repo.table, Key={"pk": {"S": pk.group(1)}, "sk": {"S": "#"}})[
        "Item"
    ]
    values, stamps = served(repo, DRIVER)
    for view in repo.objects.feature_views():
        header = re.search(rf"^{view.name} \((_t\w+)\): observed at (.+)$", out, re.MULTILINE)
        assert header, out
        assert header.group(1) in item
        assert datetime.fromisoformat(header.group(2)) == stamps[view.features[0].name]
        for feature in view.features:
            line = re.search(rf"^  {feature.name} +\((\w+)\) = (.*)$", out, re.MULTILINE)
            assert line, (feature.name, out)
            assert read_back(line.group(2)) == values[feature.name], feature.name
            if values[feature.name] is not None:
                assert line.group(1) in item  # the id shown is the attribute the value is stored under
    assert "no live mapping names" not in out


def test_attributes_no_mapping_names_are_listed_raw(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = inspect(capsys, repo.path, f"{JOIN_KEY}=1002")
    assert code == 0
    pk = re.search(r"^item pk '(.+)', sk '#'$", out, re.MULTILINE)
    assert pk, out
    repo.client().update_item(
        TableName=repo.table,
        Key={"pk": {"S": pk.group(1)}, "sk": {"S": "#"}},
        UpdateExpression="SET zz = :n, zb = :b",
        ExpressionAttributeValues={":n": {"N": "5"}, ":b": {"B": b"\x00\x01"}},
    )
    code, out, _ = inspect(capsys, repo.path, f"{JOIN_KEY}=1002")
    assert code == 0
    assert out.endswith('attributes no live mapping names:\n  zb = {"B": "AAE="}\n  zz = {"N": "5"}\n')


def test_an_entity_with_no_item_is_status_1(repo: ExampleRepo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = inspect(capsys, repo.path, f"{JOIN_KEY}=999999")
    assert code == 1
    assert re.fullmatch(
        rf"no item for driver_id=999999 in table '{repo.table}' \(pk '\d+/driver_id=i:999999', sk '#'\)\n",
        out,
    )


@pytest.mark.parametrize(
    ("entity", "error"),
    [
        (
            "driver=1001",
            "'driver' is no join key of the entities of project 'driver_ranking': an item is keyed by "
            "driver_id (views ",
        ),
        ("driver_id=abc", "join key 'driver_id' is INT64: 'abc' is not one"),
        ("driver_id", "--entity takes KEY=VALUE, not 'driver_id'"),
    ],
)
def test_a_wrong_entity_is_one_line_and_status_2(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str], entity: str, error: str
) -> None:
    code, out, err = inspect(capsys, repo.path, entity)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {error}") and err.count("\n") == 1 and err.endswith("\n")


def test_a_wrong_repo_or_table_is_one_line_and_status_2(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entity = f"{JOIN_KEY}={DRIVER}"
    nowhere = tmp_path / "nowhere"
    assert inspect(capsys, nowhere, entity) == (
        2,
        "",
        f"error: {nowhere} is not a directory: give the Feast repo that holds {YAML}\n",
    )
    assert inspect(capsys, tmp_path, entity) == (
        2,
        "",
        f"error: {tmp_path} has no {YAML}: give the Feast repo that holds it\n",
    )

    repo.export(monkeypatch, table="t-no-such-table")
    code, out, err = inspect(capsys, repo.path, entity)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: DynamoDB table 't-no-such-table' does not exist at {repo.endpoint_url}: ")
    assert err.count("\n") == 1

    url = unreachable_url()
    repo.export(monkeypatch, endpoint_url=url)
    code, out, err = inspect(capsys, repo.path, entity)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: cannot reach DynamoDB at {url}: EndpointConnectionError: ")
    assert err.count("\n") == 1
