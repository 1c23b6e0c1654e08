"""``migrate`` of a feature whose dtype changed: Feast's tables hold values of the old type.

Feast's DynamoDB store serves each value as it was written, whatever the view
declares now. With versioning on, a version keeps its own definition and the
current one may read version 0's table too; with it off, one table holds rows
of both types. Each test materializes into Feast's store on a real server
(behind the strict proxy), switches the repo to this store, migrates, and
reads both stores through real Feast.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from feast import FeatureStore, FeatureView, Field, FileSource
from feast.repo_config import RepoConfig
from feast.types import FeastType, Float64, Int64, String

from feast_chalk_dynamo.cli import main
from tests.feast_objects import STORE_TYPE
from tests.integration import test_versioned_views as versioned
from tests.integration.test_migrate import answers, totals
from tests.servers import Endpoint

PROJECT = "retyped"
DRIVERS = list(range(1, 41))
MISSING = 999
NOT_A_DOUBLE = 2**53 + 1  # an int64 no double holds exactly


def view(source: Path, rate: FeastType) -> FeatureView:
    return FeatureView(
        name="vv",
        entities=[versioned._entity()],
        schema=[
            Field(name="driver_id", dtype=Int64),
            Field(name="rate", dtype=rate),
            Field(name="y", dtype=String),
        ],
        source=FileSource(path=str(source), timestamp_field="ts"),
        ttl=timedelta(days=1),
    )


@dataclass
class Repo:
    path: Path
    prefix: str  # Feast's table_name_template: its tables are this test's alone
    versioning: bool
    source: Path
    now: datetime
    endpoint_url: str

    def registry(self) -> dict[str, Any]:
        return {
            **versioned._registry(self.path / "registry.db"),
            "enable_online_feature_view_versioning": self.versioning,
        }

    def feast(self) -> FeatureStore:
        section = {"type": "dynamodb", "region": "us-east-1", "endpoint_url": self.endpoint_url}
        return FeatureStore(
            config=RepoConfig(
                project=PROJECT,
                provider="local",
                registry=self.registry(),
                online_store={**section, "table_name_template": self.prefix + "{table_name}"},
                entity_key_serialization_version=3,
            )
        )

    def ours(self) -> FeatureStore:
        return FeatureStore(repo_path=str(self.path))

    def materialize(self, rate: FeastType, rows: dict[int, Any], age_minutes: int) -> None:
        """Apply ``vv`` with ``rate`` of this type; materialize these drivers' rates into Feast's store."""
        pd.DataFrame(
            {
                "driver_id": list(rows),
                "ts": [self.now - timedelta(minutes=age_minutes)] * len(rows),
                "rate": list(rows.values()),
                "y": [f"y{driver}-{age_minutes}" for driver in rows],
            }
        ).to_parquet(self.source)
        feast = self.feast()
        feast.apply([versioned._entity(), view(self.source, rate)])
        feast.materialize(self.now - timedelta(hours=1), self.now)

    def switch(self, table_name: str) -> None:
        """The yaml on this store, and `feast apply` of the view as it stands (Float64), as a user does."""
        section = {"type": STORE_TYPE, "table_name": table_name, "endpoint_url": self.endpoint_url}
        config = {
            "project": PROJECT,
            "provider": "local",
            "registry": self.registry(),
            "online_store": {**section, "create_tables_if_not_exists": True},
            "entity_key_serialization_version": 3,
        }
        (self.path / "feature_store.yaml").write_text(json.dumps(config))  # JSON is YAML
        self.ours().apply([versioned._entity(), view(self.source, Float64)])

    def migrate(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
        code = main(["migrate", "--repo", str(self.path), "--from-table-prefix", self.prefix, *args])
        out = capsys.readouterr()
        return code, out.out + out.err


def make_repo(tmp_path: Path, endpoint: Endpoint, versioning: bool) -> Repo:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    prefix = f"f{uuid.uuid4().hex[:8]}."
    return Repo(tmp_path, prefix, versioning, tmp_path / "vv.parquet", now, endpoint.url)


def same_reads(repo: Repo, refs: list[str], drivers: list[int]) -> None:
    ours, theirs = answers(repo.ours(), refs, drivers), answers(repo.feast(), refs, drivers)
    assert ours == theirs, refs


def not_copied(output: str) -> int:
    found = re.search(r"; ([\d,]+) values of written rows not copied", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


def test_each_version_is_copied_with_its_own_types_and_the_current_one_s(
    tmp_path: Path, dynamodb_endpoint: Endpoint, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's repro: ``vv(rate: Int64)`` materialized (version 0), then ``vv(rate: Float64)``
    (version 1), then the switch, whose apply makes ``vv:`` read version 0's table again.
    ``vv@v0:rate`` reads its ints as Int64, ``vv:rate`` the same values as Float64, ``vv@v1:rate`` its
    doubles: as Feast's store serves them, every value and status equal. The copy used to write version
    0's table with the current types alone, refused every int, and copied nothing of version 0, not
    even ``y``."""
    repo = make_repo(tmp_path, dynamodb_endpoint, versioning=True)
    repo.materialize(Int64, {driver: driver * 10 for driver in DRIVERS}, age_minutes=20)
    repo.materialize(Float64, {driver: driver + 0.5 for driver in DRIVERS}, age_minutes=10)
    repo.switch(table_name)
    assert not repo.ours().get_feature_view("vv").current_version_number  # the apply set it back to 0

    code, output = repo.migrate(capsys, "--verify", "40", "--seed", "1")

    assert code == 0, output
    assert totals(output) == (80, 80, 0, 0, 0, 0) and not_copied(output) == 0
    assert (
        "verified 40 entities (driver_id), 160 feature values (160 present in Feast's store): 0 differences"
        in output
    )
    drivers = [*DRIVERS, MISSING]
    for refs in (["vv@v0:rate", "vv@v0:y"], ["vv@v1:rate", "vv@v1:y"], ["vv:rate", "vv:y"]):
        same_reads(repo, refs, drivers)
    ours = repo.ours()
    rates = {
        ref: answers(ours, [ref], DRIVERS).values["rate"] for ref in ("vv@v0:rate", "vv:rate", "vv@v1:rate")
    }
    assert rates["vv@v0:rate"] == [driver * 10 for driver in DRIVERS]
    assert {type(rate) for rate in rates["vv@v0:rate"]} == {int}  # each as its definition declares it
    assert rates["vv:rate"] == rates["vv@v0:rate"] and {type(rate) for rate in rates["vv:rate"]} == {float}
    assert rates["vv@v1:rate"] == [driver + 0.5 for driver in DRIVERS]

    code, output = repo.migrate(capsys, "--dry-run")
    assert code == 0, output


def test_a_dtype_changed_in_place_copies_every_row_and_names_each_value_it_cannot_type(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Versioning off: 30 rows of ints, then 10 of doubles, in Feast's one table; the view says Float64.
    The ints are copied as doubles, but for one no double holds exactly: that value is counted and named
    with its entity, the rest of its row and every other row is copied, and the exit status is 1 with no
    advice to rerun (a rerun meets the same value). The copy used to stop on the first page."""
    repo = make_repo(tmp_path, moto_endpoint, versioning=False)
    ints = {driver: driver * 10 for driver in DRIVERS[:30]}
    odd = DRIVERS[6]
    ints[odd] = NOT_A_DOUBLE
    repo.materialize(Int64, ints, age_minutes=20)
    repo.materialize(Float64, {driver: driver + 0.5 for driver in DRIVERS[30:]}, age_minutes=10)
    repo.switch(table_name)
    entities = tmp_path / "drivers.csv"  # the batch source holds the last 10 drivers alone now
    entities.write_text("driver_id\n" + "".join(f"{driver}\n" for driver in DRIVERS))

    code, output = repo.migrate(capsys, "--entities", str(entities), "--dry-run")
    assert code == 1, output
    assert f"vv:rate: 1 (first: driver_id={odd}: int64_val {NOT_A_DOUBLE} has no exact double)" in output

    code, output = repo.migrate(capsys, "--entities", str(entities), "--verify", "40", "--seed", "1")

    assert code == 1, output
    assert totals(output) == (40, 40, 0, 0, 0, 0) and not_copied(output) == 1
    assert f"vv:rate: 1 (first: driver_id={odd}: int64_val {NOT_A_DOUBLE} has no exact double)" in output
    assert "nor would a rerun copy them" in output and "run the same command again" not in output
    differences = [line for line in output.splitlines() if line.startswith("difference: ")]
    feast_s = f"{{int64_val: {NOT_A_DOUBLE}}}"
    assert differences == [
        f"difference: driver_id={odd} vv__rate: value {feast_s} in Feast's store, null here"
    ]
    others = [driver for driver in DRIVERS if driver != odd] + [MISSING]
    same_reads(repo, ["vv:rate", "vv:y"], others)
    same_reads(repo, ["vv:y"], [odd])
    assert answers(repo.ours(), ["vv:rate"], [odd]).values["rate"] == [None]

    # The state records it all: nothing left to do, and the same verdict.
    code, output = repo.migrate(capsys, "--entities", str(entities))
    assert code == 1 and "this run scanned 0 rows" in output and not_copied(output) == 1, output
    assert "complete:" in output
