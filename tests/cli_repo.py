"""The example repo as a user of ``feast-chalk-dynamo`` has it: a directory with its yaml, applied and
materialized into this store on a test server; and ``main`` run as the console script runs it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from feast import FeatureStore

from feast_chalk_dynamo.cli import main
from feature_repo_example import data_gen
from feature_repo_example.config import render_feature_store_yaml
from feature_repo_example.features import RepoObjects, build_objects
from tests.servers import free_port


@dataclass(frozen=True)
class ExampleRepo:
    path: Path
    table: str
    endpoint_url: str
    objects: RepoObjects
    source: data_gen.SourceData

    @property
    def registry(self) -> Path:
        return self.path / "registry.db"

    def store(self) -> FeatureStore:
        return FeatureStore(repo_path=str(self.path))

    def client(self) -> Any:
        return boto3.client("dynamodb", endpoint_url=self.endpoint_url, region_name="us-east-1")

    def entity_items(self) -> list[dict[str, Any]]:
        pages = self.client().get_paginator("scan").paginate(TableName=self.table)
        return [item for page in pages for item in page["Items"] if item["sk"]["S"] == "#"]


def write_yaml(repo: Path, endpoint_url: str, table: str, registry: Path | None = None) -> None:
    """A repo's yaml; ``registry`` shares another repo's (its applied views), else its own."""
    repo.mkdir(parents=True, exist_ok=True)
    text = render_feature_store_yaml(
        registry_path=registry or repo / "registry.db", endpoint_url=endpoint_url, table_name=table
    )
    (repo / "feature_store.yaml").write_text(text)


def example_repo(path: Path, endpoint_url: str) -> ExampleRepo:
    """``feast apply`` and ``feast materialize`` of the example repo, into a table of its own."""
    source = data_gen.generate(path / "data", now=datetime.now(timezone.utc))
    repo = ExampleRepo(
        path / "repo", f"t-{uuid.uuid4().hex[:8]}", endpoint_url, build_objects(source.data_dir), source
    )
    write_yaml(repo.path, endpoint_url, repo.table)
    store = repo.store()
    store.apply(repo.objects.all())
    longest_ttl = max(view.ttl for view in repo.objects.feature_views() if view.ttl)
    store.materialize(source.now - longest_ttl, source.now)
    return repo


def unreachable_url() -> str:
    """A loopback port nothing listens on (the kernel just handed it out and it was let go)."""
    return f"http://127.0.0.1:{free_port()}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``feast-chalk-dynamo ARGV``: exit status, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
