"""Commands whose endpoint does not answer (a closed loopback port): one line naming it, exit status 2.

``inspect`` and ``bench`` have theirs in their own modules; here ``migrate``, whose clients are the
store's: Feast's tables at ``--from-endpoint-url``, and this store's table at the yaml's ``endpoint_url``.
``DYNAMODB_MAX_RETRIES`` keeps each test short; the time a command takes is printed.
"""

from __future__ import annotations

import time
import uuid

import boto3
import pytest

from tests.cli_repo import ExampleRepo, example_repo, run, unreachable_url
from tests.servers import Endpoint

RETRIES = 2


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: Endpoint) -> ExampleRepo:
    return example_repo(tmp_path_factory.mktemp("unreachable"), moto_endpoint.url)


@pytest.fixture(autouse=True)
def few_retries(repo: ExampleRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.export(monkeypatch)
    monkeypatch.setenv("DYNAMODB_MAX_RETRIES", str(RETRIES))


def one_line_and_status_2(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The command's error line, checked to be its only output, with status 2."""
    start = time.perf_counter()
    code, out, err = run(capsys, *argv)
    print(f"\n{argv[0]} gave up in {time.perf_counter() - start:.2f} s: {err}", end="")
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_migrate_from_an_endpoint_that_does_not_answer(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    url = unreachable_url()
    err = one_line_and_status_2(capsys, "migrate", "--repo", str(repo.path), "--from-endpoint-url", url)
    view = repo.objects.feature_views()[0].name
    assert err.startswith(
        f"error: DescribeTable on table 'driver_ranking.{view}' at {url} gave up after retries: "
        f"connection after {RETRIES} retries: "
    )


def test_migrate_into_a_yaml_endpoint_that_does_not_answer(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Feast's table of one view, at an endpoint that answers.
    view = repo.objects.feature_views()[0].name
    prefix = f"feast-{uuid.uuid4().hex[:8]}."
    boto3.client("dynamodb", endpoint_url=repo.endpoint_url, region_name="us-east-1").create_table(
        TableName=prefix + view,
        KeySchema=[{"AttributeName": "entity_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "entity_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    url = unreachable_url()
    repo.export(monkeypatch, endpoint_url=url)
    err = one_line_and_status_2(
        capsys, "migrate", "--repo", str(repo.path), "--views", view,
        "--from-endpoint-url", repo.endpoint_url, "--from-table-prefix", prefix,
    )  # fmt: skip
    assert err.startswith(f"error: DescribeTable on table {repo.table!r} at {url} gave up after retries: ")
