"""The example repo as a user of ``feast-chalk-dynamo`` has it: a copy of the checkout's directory,
its shipped yaml set by the environment variables it reads, applied and materialized into this store
on a test server; and ``main`` run as the console script runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from feast import FeatureStore

from feast_chalk_dynamo.cli import main
from feature_repo_example import config, data_gen
from feature_repo_example.features import RepoObjects, build_objects
from tests.servers import REPO_ROOT, free_port

EXAMPLE = "feature_repo_example"


def copy_example(dest: Path) -> Path:
    """The checkout's example directory as git tracks it, copied to ``dest``: what a clone has (no data,
    no registry), so a file the example needs and git lacks fails the test that copies it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", EXAMPLE], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.split(b"\0")):
        tracked = Path(os.fsdecode(name))
        target = dest / tracked.relative_to(EXAMPLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / tracked, target)
    return dest


@dataclass
class Example:
    """A copy of the example repo, and the registry (in it) and table its yaml's variables name."""

    path: Path
    endpoint_url: str
    table: str

    @property
    def registry(self) -> Path:
        return self.path / "registry.db"

    def variables(self, *, endpoint_url: str | None = None, table: str | None = None) -> dict[str, str]:
        """The yaml's variables: this repo's, or its registry with another endpoint or table."""
        return config.variables(
            registry=self.registry,
            endpoint_url=self.endpoint_url if endpoint_url is None else endpoint_url,
            table_name=table or self.table,
        )

    def export(
        self, monkeypatch: pytest.MonkeyPatch, *, endpoint_url: str | None = None, table: str | None = None
    ) -> None:
        """The variables set for the rest of the test, as a user exports them before a command."""
        for name, value in self.variables(endpoint_url=endpoint_url, table=table).items():
            monkeypatch.setenv(name, value)

    def store(self) -> FeatureStore:
        return config.feature_store(self.variables(), self.path)

    def client(self) -> Any:
        return boto3.client("dynamodb", endpoint_url=self.endpoint_url, region_name="us-east-1")


def example(path: Path, endpoint_url: str, table: str | None = None) -> Example:
    """A fresh copy of the example repo at ``path``, for a table of its own unless ``table`` is given."""
    return Example(copy_example(path), endpoint_url, table or f"t-{uuid.uuid4().hex[:8]}")


@dataclass
class ExampleRepo(Example):
    """The example repo applied and materialized, its data generated where its definitions look."""

    objects: RepoObjects
    source: data_gen.SourceData

    def entity_items(self) -> list[dict[str, Any]]:
        pages = self.client().get_paginator("scan").paginate(TableName=self.table)
        return [item for page in pages for item in page["Items"] if item["sk"]["S"] == "#"]


def example_repo(path: Path, endpoint_url: str) -> ExampleRepo:
    """``feast apply`` and ``feast materialize`` of the example repo, into a table of its own."""
    copy = example(path / "repo", endpoint_url)
    source = data_gen.generate(copy.path / "data", now=datetime.now(timezone.utc))
    repo = ExampleRepo(copy.path, copy.endpoint_url, copy.table, build_objects(source.data_dir), source)
    store = repo.store()
    store.apply(repo.objects.all())
    longest_ttl = max(view.ttl for view in repo.objects.feature_views() if view.ttl)
    store.materialize(source.now - longest_ttl, source.now, repo.objects.materialized())
    return repo


def unreachable_url() -> str:
    """A loopback port nothing listens on (the kernel just handed it out and it was let go)."""
    return f"http://127.0.0.1:{free_port()}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``feast-chalk-dynamo ARGV``: exit status, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
