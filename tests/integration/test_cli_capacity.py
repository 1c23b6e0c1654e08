"""``feast-chalk-dynamo capacity`` and ``terraform`` on the example repo, materialized into moto.

The example's items are all under 1 KB (some 200 B), so at 2,000 queries/s x
10 entities, persisting a tenth: 20,000 reads/s x 0.5 = 10,000 RCU; 2,000
entities/s x 2 views x 1 WCU = 4,000 WCU; autoscaled at 70 %: 14,286 and
5,715, bounds a factor 2 around them (tests/unit/test_planner.py works the
same figures by hand).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from statistics import fmean

import boto3
import pytest

from feast_chalk_dynamo.items.codec import item_size
from feast_chalk_dynamo.repos import YAML
from tests.cli_repo import ExampleRepo, example_repo, run, unreachable_url
from tests.servers import Endpoint
from tests.terraform_config import TERRAFORM_DIR, load, parse

WORKLOAD = ("--qps", "2000", "--entities-per-query", "10", "--persist-fraction", "0.1")
ITEM_LINE = re.compile(
    r"entity item keyed by driver_id: (\d+) B \((\d+) sampled: mean ([\d,]+) B, largest ([\d,]+) B\)"
)
PLANNED = {
    "read_min_capacity": 7143,
    "read_max_capacity": 28572,
    "write_min_capacity": 2858,
    "write_max_capacity": 11430,
    "autoscaling_target_utilization": 70,
    "billing_mode": "PROVISIONED",
    "region": "us-east-1",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: Endpoint) -> ExampleRepo:
    return example_repo(tmp_path_factory.mktemp("capacity"), moto_endpoint.url)


@pytest.fixture(autouse=True)
def exported(repo: ExampleRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.export(monkeypatch)


def capacity(capsys: pytest.CaptureFixture[str], repo: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "capacity", "--repo", str(repo), *WORKLOAD, *extra)


def test_the_plan_samples_stored_items_and_uses_their_sizes(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = capacity(capsys, repo.path)
    assert code == 0
    assert err == ""  # nothing but the plan: no library noise
    stored = [item_size(item) for item in repo.entity_items()]
    assert f"sizes: sampled {len(stored)} stored entity items of the project" in out
    found = ITEM_LINE.search(out)
    assert found, out
    size, sampled, mean, largest = (int(group.replace(",", "")) for group in found.groups())
    assert sampled == len(stored)
    assert (mean, largest) == (round(fmean(stored)), max(stored))
    # Every item holds both views and nothing else: the sum of the measured means is the mean item.
    assert size == -(-sum(stored) // len(stored))
    for view in repo.objects.feature_views():
        row = re.search(rf"^  {view.name} +[\d,]+ +([\d.,]+) +(\d+) +([\d,]+)$", out, re.MULTILINE)
        assert row, out
        assert int(row.group(2)) == len(stored)  # every sampled item holds the view's row
        measured, used = (float(group.replace(",", "")) for group in (row.group(1), row.group(3)))
        assert abs(used - measured) <= 0.55  # the measured size is used (shown to 0.1 B, used to 1 B)
    assert "total: 10,000 RCU, 4,000 WCU" in out
    assert re.search(r"provisioned \(at the need\) +10,000 RCU +4,000 WCU +2,847\.00$", out, re.MULTILINE)
    assert re.search(r"autoscaled \(70 % target\) +14,286 RCU +5,715 WCU +4,067\.51$", out, re.MULTILINE)
    assert re.search(r"on-demand +26,280\.0 M RRU +10,512\.0 M WRU +9,855\.00$", out, re.MULTILINE)


def test_strongly_consistent_transactional_doubles_reads_and_writes(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = capacity(capsys, repo.path, "--consistent", "--transactional")
    assert code == 0
    assert "total: 20,000 RCU, 8,000 WCU" in out


def test_without_the_table_the_plan_rests_on_estimates(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = capacity(capsys, repo.path, "--sample", "0")
    assert code == 0
    assert "sizes: --sample 0: sizes are estimates, the table was not read" in out
    assert re.search(r"entity item keyed by driver_id: [\d,]+ B \(estimated\)", out)
    url = unreachable_url()
    repo.export(monkeypatch, endpoint_url=url)
    code, out, _ = capacity(capsys, repo.path)
    assert code == 0
    assert f"sizes: cannot reach DynamoDB at {url}" in out
    assert "sizes are estimates from the registry" in out
    repo.export(monkeypatch, table="t-no-such-table")
    code, out, _ = capacity(capsys, repo.path)
    assert code == 0
    assert "sizes: DynamoDB table 't-no-such-table' does not exist" in out


def test_tfvars_are_the_terraform_variables_of_the_plan(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = capacity(capsys, repo.path, "--tfvars")
    assert code == 0
    (tmp_path / "terraform.tfvars").write_text(out)
    values = parse(tmp_path / "terraform.tfvars")
    assert values == {**PLANNED, "table_name": repo.table}
    assert set(values) <= set(load().variables())


def test_terraform_writes_the_module_and_its_variables(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "infra"
    code, out, _ = run(capsys, "terraform", "--repo", str(repo.path), *WORKLOAD, "--out", str(out_dir))
    assert code == 0
    modules = sorted(path.name for path in TERRAFORM_DIR.glob("*.tf"))
    assert sorted(path.name for path in out_dir.glob("*.tf")) == modules
    for name in modules:
        assert (out_dir / name).read_bytes() == (TERRAFORM_DIR / name).read_bytes()
    assert load(out_dir) == load(TERRAFORM_DIR)
    assert parse(out_dir / "terraform.tfvars") == {**PLANNED, "table_name": repo.table}
    assert f"wrote {len(modules)} .tf files and terraform.tfvars to {out_dir}" in out

    code, _, err = run(capsys, "terraform", "--repo", str(repo.path), *WORKLOAD, "--out", str(out_dir))
    assert code == 2
    assert err.startswith(f"error: would overwrite {out_dir / modules[0]}") and err.endswith("--out\n")
    again = ("terraform", "--repo", str(repo.path), *WORKLOAD, "--scale-factor", "1", "--out", str(out_dir))
    code, _, _ = run(capsys, *again, "--force")
    assert code == 0
    pinned = parse(out_dir / "terraform.tfvars")
    assert (pinned["read_min_capacity"], pinned["read_max_capacity"]) == (14_286, 14_286)


def test_terraform_errors(repo: ExampleRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(
        capsys,
        "terraform",
        "--repo",
        str(repo.path),
        *WORKLOAD,
        "--out",
        str(tmp_path / "x"),
        "--from",
        str(empty),
    )
    assert (code, err) == (
        2,
        f"error: {empty} holds no .tf file: --from takes a Terraform module directory\n",
    )
    a_file = tmp_path / "file"
    a_file.write_text("")
    code, _, err = run(capsys, "terraform", "--repo", str(repo.path), *WORKLOAD, "--out", str(a_file))
    assert (code, err) == (2, f"error: --out {a_file} is a file, not a directory\n")


@pytest.mark.parametrize("command", ["capacity", "terraform"])
def test_a_wrong_repo_is_one_line_and_status_2(
    command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    extra = ["--out", str(tmp_path / "out")] if command == "terraform" else []
    code, out, err = run(capsys, command, "--repo", str(tmp_path / "nowhere"), *WORKLOAD, *extra)
    assert (code, out) == (2, "")
    assert err == f"error: {tmp_path / 'nowhere'} is not a directory: give the Feast repo that holds {YAML}\n"
    (tmp_path / "feature_store.yaml").write_text(
        f"project: p\nprovider: local\nregistry: {tmp_path / 'r.db'}\nonline_store:\n  type: sqlite\n"
        "entity_key_serialization_version: 3\n"
    )
    code, _, err = run(capsys, command, "--repo", str(tmp_path), *WORKLOAD, *extra)
    assert code == 2
    assert err.startswith(
        f"error: {tmp_path / 'feature_store.yaml'} uses the online store 'sqlite', not this one"
    )
    assert err.count("\n") == 1


def test_options_out_of_range_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_status:
        run(capsys, "capacity", "--repo", str(tmp_path), "--qps", "1", "--entities-per-query", "1",
            "--persist-fraction", "1.5")  # fmt: skip
    assert exit_status.value.code == 2
    assert "argument --persist-fraction: 1.5 is out of range: takes from 0 to 1" in capsys.readouterr().err


def test_library_info_lines_are_held_back(
    repo: ExampleRepo, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """With INFO on (importing Feast's CLI turns it on), botocore says 'Found credentials in
    environment variables' for every client, as a client made here shows; a command says none of it."""
    caplog.set_level(logging.INFO)
    # A session of its own: boto3's default session looks its credentials up (and says so) once.
    fresh = boto3.session.Session().client(
        "dynamodb", endpoint_url=repo.endpoint_url, region_name="us-east-1"
    )
    fresh.describe_table(TableName=repo.table)
    assert any(record.name == "botocore.credentials" for record in caplog.records)
    caplog.clear()
    code, _, _ = capacity(capsys, repo.path)
    assert code == 0
    assert [record.getMessage() for record in caplog.records if record.name.startswith("botocore")] == []
