"""``feast-chalk-dynamo config``: each knob's value and where it came from; a wrong repo in one line.

It reads the yaml and the environment only, so no server is needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from feast_chalk_dynamo.cli import main
from feast_chalk_dynamo.repos import YAML
from tests.cli_repo import run


def repo(tmp_path: Path, online_store: str) -> Path:
    (tmp_path / YAML).write_text(
        f"project: p\nprovider: local\nregistry: {tmp_path / 'registry.db'}\nonline_store:\n{online_store}"
        "entity_key_serialization_version: 3\n"
    )
    return tmp_path


OURS = "  type: feast_chalk_dynamo.ChalkDynamoOnlineStore\n  table_name: t-config\n  max_retries: 4\n"


def row(out: str, knob: str) -> list[str]:
    found = re.search(rf"^{knob} .*$", out, re.MULTILINE)
    assert found, out
    return found.group(0).split()


def test_each_knob_its_variable_value_and_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNAMODB_NUM_SERDE_THREADS", "3")
    monkeypatch.delenv("DYNAMODB_MAX_RETRIES", raising=False)
    path = repo(tmp_path, OURS)
    for argv in (["config", str(path)], ["config", "--repo", str(path)]):
        code, out, err = run(capsys, *argv)
        assert (code, err) == (0, "")
        assert row(out, "table_name") == ["table_name", "-", "'t-config'", "yaml"]
        assert row(out, "max_retries") == ["max_retries", "DYNAMODB_MAX_RETRIES", "4", "yaml"]
        assert row(out, "num_serde_threads") == [
            "num_serde_threads",
            "DYNAMODB_NUM_SERDE_THREADS",
            "3",
            "env",
        ]
        assert row(out, "getitem_min_batch_size") == [
            "getitem_min_batch_size",
            "DYNAMODB_GETITEM_MIN_BATCH_SIZE",
            "10",
            "default",
        ]


def test_the_current_directory_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo(tmp_path, OURS))
    code, out, _ = run(capsys, "config")
    assert code == 0
    assert row(out, "table_name")[2] == "'t-config'"


def test_a_wrong_repo_is_one_line_and_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = tmp_path / "nowhere"
    assert run(capsys, "config", str(nowhere)) == (
        2,
        "",
        f"error: {nowhere} is not a directory: give the Feast repo that holds {YAML}\n",
    )
    assert run(capsys, "config", str(tmp_path)) == (
        2,
        "",
        f"error: {tmp_path} has no {YAML}: give the Feast repo that holds it\n",
    )
    repo(tmp_path, "  type: sqlite\n")
    code, out, err = run(capsys, "config", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (
        f"error: {tmp_path / YAML} uses the online store 'sqlite', not this one "
        "(type: feast_chalk_dynamo.ChalkDynamoOnlineStore); see the README, 'Using it'\n"
    )
    repo(tmp_path, "  type: feast_chalk_dynamo.ChalkDynamoOnlineStore\n  max_retires: 4\n")
    code, out, err = run(capsys, "config", str(tmp_path))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: could not load {tmp_path / YAML}: ") and "max_retires" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", ["config", "capacity", "terraform", "inspect", "bench", "migrate"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main([command, "--help"])
    assert exit_status.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: feast-chalk-dynamo {command} ")
    assert "options:" in out


WORKLOAD = ["--qps", "1", "--entities-per-query", "1", "--persist-fraction", "0.1"]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["capacity", "--repo", ".", "--qps", "-1", *WORKLOAD[2:]],
            "argument --qps: -1 is out of range: takes at least 0",
        ),
        (
            ["capacity", "--repo", "."],
            "the following arguments are required: --qps, --entities-per-query, --persist-fraction",
        ),
        (["terraform", "--repo", ".", *WORKLOAD], "the following arguments are required: --out"),
        (["inspect", "--repo", "."], "the following arguments are required: --entity"),
        (
            ["bench", "--endpoint-url", "u", "--data", "x"],
            "argument --data: invalid choice: 'x' (choose from 'mixed', 'numeric', 'both')",
        ),
        (["migrate", "--repo", ".", "--segments", "x"], "argument --segments: invalid int value: 'x'"),
        (["config", "--nope"], "unrecognized arguments: --nope"),
        ([], "the following arguments are required: COMMAND"),
        (["nope"], "argument COMMAND: invalid choice: 'nope' (choose from "),
    ],
)  # fmt: skip
def test_a_bad_option_is_one_line_and_status_2(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse printed the command's whole usage first: 12 lines for capacity, before the one that says
    what is wrong."""
    with pytest.raises(SystemExit) as exit_status:
        main(argv)
    assert exit_status.value.code == 2
    out, err = capsys.readouterr()
    command = "feast-chalk-dynamo" + (f" {argv[0]}" if argv and argv[0] != "nope" else "")
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"error: {error}") and err.endswith(f" (see {command} --help)\n"), err
