"""``migrate`` of rows Feast's store holds and this one can never write: counted, named, the rest copied.

Feast's DynamoDB store keys an item by a hash of the entity key and keeps
each view in a table of its own; this store keys an item by the readable key
(DynamoDB holds at most 2048 bytes of it) and keeps every view of an entity on
one item (400 KB at most). So a long key, or two large rows of one entity,
fit there and not here. Such a row used to fail the write of its whole page,
over and over: every rerun stopped the segment at the same page.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.repo_config import RepoConfig
from feast.types import String

from feast_chalk_dynamo.cli import main
from tests.feast_objects import STORE_TYPE
from tests.integration.test_migrate import totals
from tests.servers import Endpoint

PROJECT = "unstorable"
USER = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
LONG_KEY = "k" * 3000  # past DynamoDB's 2048-byte partition key
BIG = "big"  # 210 KB in each view: one item of both passes 400 KB
USERS = ["u1", "u2", "u3", "u4", "u5", LONG_KEY, BIG]
VIEWS = ("a", "b")


def view(name: str, source: Path) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[USER],
        schema=[Field(name="user_id", dtype=String), Field(name=f"{name}_text", dtype=String)],
        source=FileSource(path=str(source), timestamp_field="ts"),
        ttl=timedelta(days=1),
    )


def make_repo(path: Path, endpoint: Endpoint, table_name: str) -> tuple[FeatureStore, str]:
    """Both views materialized into Feast's store, the yaml then switched to this one; and the prefix of
    Feast's tables."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    source = path / "users.parquet"
    texts = ["x" * 210_000 if user == BIG else f"text of {user[:8]}" for user in USERS]
    frame = {"user_id": USERS, "ts": [now - timedelta(minutes=5)] * len(USERS)}
    pd.DataFrame({**frame, "a_text": texts, "b_text": texts}).to_parquet(source)
    registry = {"registry_type": "file", "path": str(path / "registry.db")}
    prefix = f"f{uuid.uuid4().hex[:8]}."
    feast = FeatureStore(
        config=RepoConfig(
            project=PROJECT,
            provider="local",
            registry=registry,
            online_store={
                "type": "dynamodb", "region": "us-east-1", "endpoint_url": endpoint.url,
                "table_name_template": prefix + "{table_name}",
            },
            entity_key_serialization_version=3,
        )
    )  # fmt: skip
    objects = [USER, *(view(name, source) for name in VIEWS)]
    feast.apply(objects)
    feast.materialize(now - timedelta(hours=1), now)
    section = {"type": STORE_TYPE, "table_name": table_name, "endpoint_url": endpoint.url}
    config = {
        "project": PROJECT,
        "provider": "local",
        "registry": registry,
        "online_store": {**section, "create_tables_if_not_exists": True},
        "entity_key_serialization_version": 3,
    }
    (path / "feature_store.yaml").write_text(json.dumps(config))  # JSON is YAML
    FeatureStore(repo_path=str(path)).apply(objects)
    return feast, prefix


def read(store: FeatureStore, users: list[str]) -> dict[str, list[object]]:
    refs = [f"{name}:{name}_text" for name in VIEWS]
    return store.get_online_features(features=refs, entity_rows=[{"user_id": u} for u in users]).to_dict()


def test_rows_this_store_cannot_hold_are_counted_and_named_and_the_rest_copied(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    feast, prefix = make_repo(tmp_path, moto_endpoint, table_name)
    args = ["migrate", "--repo", str(tmp_path), "--from-table-prefix", prefix]

    code = main([*args, "--dry-run"])
    output = capsys.readouterr().out
    assert code == 1, output
    assert "2 rows cannot be stored in this store (first: user_id='kkkk" in output  # the long key, per view

    code = main(args)
    output = capsys.readouterr().out

    assert code == 1, output
    assert totals(output) == (14, 11, 0, 3, 0, 0), (
        output
    )  # read, written, stale, failed, unresolved, not written
    assert "0 not written, 3 unstorable)" in output
    unstorable = re.search(
        r"^3 rows cannot be stored in this store, nor would a rerun store them \(first: (.*)\); ",
        output,
        re.M,
    )
    assert unstorable, output
    assert unstorable.group(1).count("partition keys hold at most 2048") == 2
    assert unstorable.group(1).count("user_id='big': ") == 1 and "past DynamoDB's 409600-byte limit" in output
    assert "run the same command again" not in output and "complete:" in output
    ordinary = USERS[:5]
    ours = read(FeatureStore(repo_path=str(tmp_path)), [*ordinary, BIG])
    assert {name: values[:5] for name, values in ours.items()} == read(feast, ordinary)
    assert sorted(text is None for text in (ours["a_text"][5], ours["b_text"][5])) == [False, True]

    code = main(args)  # the state records every page: nothing to scan, the same verdict
    output = capsys.readouterr().out
    assert code == 1 and "this run scanned 0 rows" in output and "3 unstorable)" in output, output
