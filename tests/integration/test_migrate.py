"""``feast-chalk-dynamo migrate`` end to end: real Feast, Feast's own DynamoDB store, this store, one server.

Each test materializes the example repo into Feast's built-in DynamoDB store
(its own ``table_name_template`` prefix, so its own ``<prefix><view>``
tables), switches the repo to this store as a user would (the example's own
yaml, ``feast apply`` included), and runs the command. What this store serves afterwards is compared with what
Feast's store serves for the same repo (values, statuses, event timestamps)
and with the parquet files.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from feast import FeatureStore, FeatureView, Field
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.repo_config import RepoConfig
from feast.types import Int64

from feast_chalk_dynamo.cli import main
from feast_chalk_dynamo.items.codec import item_size
from feast_chalk_dynamo.migrate.state import DEFAULT_NAME
from feature_repo_example import checks, config, data_gen
from feature_repo_example.features import JOIN_KEY, RepoObjects, build_objects
from tests.cli_repo import Example, example
from tests.fault_proxy import FaultProxy, fixed
from tests.feast_objects import STORE_TYPE
from tests.integration import test_versioned_views as versioned
from tests.servers import REPO_ROOT, Endpoint

ROWS = 100  # 50 drivers x 2 views in Feast's tables
STATS = "driver_hourly_stats"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> data_gen.SourceData:
    return data_gen.generate(tmp_path_factory.mktemp("migrate-data"), now=datetime.now(timezone.utc))


@dataclass
class Repo(Example):
    """A repo switched to this store, with Feast's tables still holding its materialized rows.

    Its ``endpoint_url`` and ``table`` are what its yaml's variables say: a test points it elsewhere by
    setting them.
    """

    prefix: str  # Feast's table_name_template, so its tables are this test's alone
    objects: RepoObjects
    source: data_gen.SourceData

    @property
    def state(self) -> Path:
        return self.path / DEFAULT_NAME

    def ours(self) -> FeatureStore:
        return self.store()

    def feast(self) -> FeatureStore:
        return FeatureStore(repo_path=str(self.path), fs_yaml_file=self.path / "feast" / "feature_store.yaml")

    def drivers(self) -> list[int]:
        return list(self.source.driver_ids)

    def main(self, *argv: str) -> int:
        """``feast-chalk-dynamo ARGV`` with this repo's variables set."""
        with config.environment(self.variables()):
            return main(list(argv))


def make_repo(tmp_path: Path, endpoint: Endpoint, source: data_gen.SourceData) -> Repo:
    """``feast apply`` and ``feast materialize`` on Feast's DynamoDB store (a yaml of its own beside the
    example's), then the example's yaml, on this store, applied."""
    copy = example(tmp_path / "repo", endpoint.url)
    repo = Repo(
        copy.path,
        copy.endpoint_url,
        copy.table,
        prefix=f"f{uuid.uuid4().hex[:8]}.",
        objects=build_objects(source.data_dir),
        source=source,
    )
    feast_yaml = repo.path / "feast" / "feature_store.yaml"
    feast_yaml.parent.mkdir(parents=True)
    section = {"type": "dynamodb", "region": "us-east-1", "endpoint_url": endpoint.url}
    feast_config = {
        "project": config.PROJECT,
        "provider": "local",
        "registry": str(repo.registry),
        "online_store": {**section, "table_name_template": repo.prefix + "{table_name}"},
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    feast_yaml.write_text(json.dumps(feast_config))  # JSON is YAML
    feast = repo.feast()
    feast.apply(repo.objects.all())
    feast.materialize(*window(repo), repo.objects.materialized())
    repo.ours().apply(build_objects(source.data_dir).all())
    return repo


def window(repo: Repo) -> tuple[datetime, datetime]:
    longest_ttl = max(view.ttl for view in repo.objects.feature_views() if view.ttl)
    return repo.source.now - longest_ttl, repo.source.now


@pytest.fixture
def repo(tmp_path: Path, moto_endpoint: Endpoint, source: data_gen.SourceData) -> Repo:
    return make_repo(tmp_path, moto_endpoint, source)


@dataclass
class Served:
    values: dict[str, list[Any]]
    statuses: dict[str, list[str]]
    event_ts: dict[str, list[datetime | None]]


def served(store: FeatureStore, repo: Repo, drivers: list[int]) -> Served:
    """Every feature of every view of the repo."""
    return answers(store, repo.objects.feature_refs(), drivers)


def answers(store: FeatureStore, refs: list[str], drivers: list[int]) -> Served:
    """Values as the SDK gives them, and each value's status and event time."""
    response = store.get_online_features(features=refs, entity_rows=[{JOIN_KEY: d} for d in drivers])
    proto = response.proto
    names = list(proto.metadata.feature_names.val)
    statuses = {n: [str(s) for s in r.statuses] for n, r in zip(names, proto.results, strict=True)}
    stamps = {
        name: [ts.ToDatetime(tzinfo=timezone.utc) if ts.seconds else None for ts in result.event_timestamps]
        for name, result in zip(names, proto.results, strict=True)
        if name != JOIN_KEY
    }
    return Served(response.to_dict(), statuses, stamps)


def assert_same_as_feast_and_source(repo: Repo, drivers: list[int] | None = None) -> Served:
    """This store serves what Feast's store serves, value by value, status and event time, and the parquet."""
    drivers = drivers or repo.drivers()
    ours, theirs = served(repo.ours(), repo, drivers), served(repo.feast(), repo, drivers)
    assert ours.values == theirs.values
    assert ours.statuses == theirs.statuses
    assert ours.event_ts == theirs.event_ts
    views = repo.objects.feature_views()
    expected = checks.expected_online_features(views, drivers, start=window(repo)[0], end=window(repo)[1])
    matched, problems = checks.compare(expected.values, ours.values, views, label="migrated")
    assert not problems, "\n".join(problems[:20])
    assert matched == sum(len(view.features) for view in views) * len(drivers)
    for view in views:
        for feature in view.features:
            assert ours.event_ts[feature.name] == expected.event_ts[view.name], feature.name
    return ours


def migrate(repo: Repo, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = repo.main("migrate", "--repo", str(repo.path), "--from-table-prefix", repo.prefix, *args)
    out = capsys.readouterr()
    return code, out.out + out.err


TOTAL = re.compile(
    r"total: ([\d,]+) rows read, ([\d,]+) written, ([\d,]+) skipped as stale .*?, ([\d,]+) failed "
    r"\(([\d,]+) with an unresolved entity key, ([\d,]+) not written, [\d,]+ unstorable\)"
)


def totals(output: str) -> tuple[int, ...]:
    """(read, written, stale, failed, unresolved, not written) from the report's total line."""
    found = TOTAL.search(output)
    assert found, output
    return tuple(int(n.replace(",", "")) for n in found.groups())


def scanned(output: str) -> int:
    found = re.search(r"this run scanned ([\d,]+) rows", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


def entity_items(repo: Repo, endpoint_url: str | None = None) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", endpoint_url=endpoint_url or repo.endpoint_url, region_name="us-east-1")
    pages = client.get_paginator("scan").paginate(TableName=repo.table)
    return [item for page in pages for item in page["Items"] if item["sk"]["S"] == "#"]


def feast_items(repo: Repo) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", endpoint_url=repo.endpoint_url, region_name="us-east-1")
    return [
        item
        for view in repo.objects.feature_views()
        for page in client.get_paginator("scan").paginate(TableName=repo.prefix + view.name)
        for item in page["Items"]
    ]


# -- the migration ------------------------------------------------------------------------------


def test_every_value_and_event_time_served_after_migrating_is_feast_s(
    tmp_path: Path,
    dynamodb_endpoint: Endpoint,
    source: data_gen.SourceData,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = make_repo(tmp_path, dynamodb_endpoint, source)
    assert entity_items(repo) == []

    code, output = migrate(
        repo, capsys, "--segments", "3", "--page-size", "16", "--verify", "20", "--seed", "1"
    )

    assert code == 0, output
    assert "skipped driver_transactions: a windowed view; Feast's DynamoDB store keeps no" in output
    assert totals(output) == (ROWS, ROWS, 0, 0, 0, 0)
    assert re.search(
        r"verified 20 entities \(driver_id\), 200 feature values \(\d+ present in Feast's store\): "
        r"0 differences",
        output,
    ), output
    assert len(entity_items(repo)) == len(repo.drivers())
    served_ = assert_same_as_feast_and_source(repo, [*repo.drivers(), 999_999])
    assert {served_.values[f.name][-1] for v in repo.objects.feature_views() for f in v.features} == {None}
    # Feast's tables are left as they were: rolling back is restoring the yaml.
    assert len(feast_items(repo)) == ROWS


def test_rows_written_before_a_feature_joined_verify_without_a_difference(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Feast's rows of driver_hourly_stats were written before ``late_feature`` joined the view, and
    driver_profile's rows hold nulls: both stores answer the first NOT_FOUND feature by feature and
    the nulls PRESENT, so ``--verify`` compares every feature and finds no difference."""
    objects = build_objects(repo.source.data_dir)
    stats = objects.driver_hourly_stats
    grown = FeatureView(
        name=stats.name,
        entities=[objects.driver],
        ttl=stats.ttl,
        schema=[Field(name=JOIN_KEY, dtype=Int64), *stats.features, Field(name="late_feature", dtype=Int64)],
        online=True,
        source=objects.stats_source,
    )
    repo.ours().apply([objects.driver, objects.stats_source, grown])
    drivers = repo.drivers()

    code, output = migrate(repo, capsys, "--verify", str(len(drivers)), "--seed", "1")

    assert code == 0, output
    values = len(drivers) * (len(stats.features) + 1 + len(objects.driver_profile.features))
    assert f"verified {len(drivers)} entities (driver_id), {values:,} feature values" in output, output
    assert "0 differences" in output, output
    refs = [f"{STATS}:late_feature", f"{STATS}:conv_rate"]
    ours, theirs = answers(repo.ours(), refs, drivers), answers(repo.feast(), refs, drivers)
    assert ours.statuses == theirs.statuses and set(ours.statuses["late_feature"]) == {
        str(FieldStatus.NOT_FOUND)
    }
    assert ours.values == theirs.values and ours.event_ts == theirs.event_ts
    assert_same_as_feast_and_source(repo)


def test_a_newer_row_already_in_this_store_is_kept_and_counted_stale(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    driver = repo.drivers()[7]
    newer = repo.source.now + timedelta(minutes=5)
    row = {JOIN_KEY: [driver], "event_timestamp": [newer], "created": [newer]}
    row.update({"conv_rate": [0.25], "acc_rate": [0.5], "avg_daily_trips": [4242]})
    repo.ours().write_to_online_store(STATS, pd.DataFrame(row))

    code, output = migrate(repo, capsys)

    assert code == 0, output
    assert totals(output) == (ROWS, ROWS - 1, 1, 0, 0, 0)
    ours = served(repo.ours(), repo, [driver])
    assert ours.values["avg_daily_trips"] == [4242] and ours.values["conv_rate"] == [0.25]
    assert ours.event_ts["avg_daily_trips"] == [newer]
    others = [d for d in repo.drivers() if d != driver]
    assert_same_as_feast_and_source(repo, others)


def test_rows_of_the_same_time_are_written_and_the_summary_says_so(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stale means a newer row: the guard lets a row of the same time through, and it is counted written.
    The summary said stale meant a row 'as new or newer'."""
    assert migrate(repo, capsys)[0] == 0
    code, output = migrate(repo, capsys, "--restart")  # every row again, at the time already stored
    assert code == 0, output
    assert totals(output) == (ROWS, ROWS, 0, 0, 0, 0)
    assert "0 skipped as stale (this store held a newer row)" in output
    assert_same_as_feast_and_source(repo)


def test_a_state_file_of_a_dropped_and_re_created_destination_is_refused(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state file outlives the table it records rows copied into: a rerun into a new table of the
    same name said 'complete' and copied nothing."""
    assert migrate(repo, capsys)[0] == 0
    boto3.client("dynamodb", endpoint_url=repo.endpoint_url, region_name="us-east-1").delete_table(
        TableName=repo.table
    )
    repo.ours().apply(build_objects(repo.source.data_dir).all())  # the store creates the table again

    code, output = migrate(repo, capsys)
    assert code == 2 and "dropped and created again" in output and "--restart" in output, output
    assert entity_items(repo) == []

    code, output = migrate(repo, capsys, "--restart")
    assert code == 0, output
    assert totals(output) == (ROWS, ROWS, 0, 0, 0, 0)
    assert_same_as_feast_and_source(repo)


@pytest.mark.parametrize("segments", [1, 3])
def test_pages_are_written_at_once_and_each_counted_once(
    repo: Repo,
    moto_endpoint: Endpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    segments: int,
) -> None:
    """Pages of one segment, and of several, are written at once: each page here is one transaction,
    and the proxy in front of this store's table sees several in flight (it saw one: a page was written
    at a time). Each is counted by what its own write did: a stale row once, as stale."""
    monkeypatch.setenv("DYNAMODB_BULK_WRITE_MIN_ROWS", "1")  # a page, however small, is one transaction
    driver = repo.drivers()[7]
    newer = repo.source.now + timedelta(minutes=5)
    row = {JOIN_KEY: [driver], "event_timestamp": [newer], "created": [newer]}
    row.update({"conv_rate": [0.25], "acc_rate": [0.5], "avg_daily_trips": [4242]})
    repo.ours().write_to_online_store(STATS, pd.DataFrame(row))
    with FaultProxy(moto_endpoint.url) as slow:
        slow.faults.update(operations=frozenset({"TransactWriteItems", "UpdateItem"}), delay=fixed(0.05))
        repo.endpoint_url = slow.url  # this store's table; Feast's are read from moto directly
        code, output = migrate(
            repo, capsys, "--from-endpoint-url", moto_endpoint.url, "--page-size", "5",
            "--segments", str(segments),
        )  # fmt: skip
        in_flight = slow.faults.max_in_flight
    repo.endpoint_url = moto_endpoint.url

    assert code == 0, output
    assert in_flight >= 2
    assert totals(output) == (ROWS, ROWS - 1, 1, 0, 0, 0)
    recorded = json.loads(repo.state.read_text())
    assert all(s["done"] for t in recorded["tables"].values() for s in t["segments"])
    counts = [t["counts"] for t in recorded["tables"].values()]
    assert [sum(c[name] for c in counts) for name in ("read", "written", "stale")] == [ROWS, ROWS - 1, 1]
    assert served(repo.ours(), repo, [driver]).values["avg_daily_trips"] == [4242]
    assert_same_as_feast_and_source(repo, [d for d in repo.drivers() if d != driver])


def test_a_migration_killed_half_way_resumes_and_scans_only_what_was_left(
    repo: Repo, moto_endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL once the state file shows some pages done; the rerun finishes without starting over."""
    with FaultProxy(moto_endpoint.url) as slow:
        slow.faults.update(operations=frozenset({"TransactWriteItems", "UpdateItem"}), delay=fixed(0.05))
        repo.endpoint_url = slow.url
        command = [sys.executable, "-m", "feast_chalk_dynamo.cli", "migrate", "--repo", str(repo.path)]
        command += ["--from-table-prefix", repo.prefix, "--page-size", "3", "--segments", "2"]
        env = os.environ | repo.variables()
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        try:
            done = wait_for_recorded_rows(repo.state, process, at_least=ROWS // 4)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.communicate(timeout=30)
    assert 0 < done < ROWS
    repo.endpoint_url = moto_endpoint.url

    code, output = migrate(repo, capsys, "--page-size", "3", "--segments", "2")

    assert code == 0, output
    assert scanned(output) < ROWS
    assert scanned(output) <= ROWS - done
    # Rows the killed run wrote after its last recorded page are written again, and counted once.
    assert totals(output) == (ROWS, ROWS, 0, 0, 0, 0)
    assert_same_as_feast_and_source(repo)


def wait_for_recorded_rows(
    state: Path, process: subprocess.Popen[bytes], at_least: int, timeout: float = 120
) -> int:
    """The rows the state file records, once it records ``at_least``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0].decode()
        try:
            recorded = json.loads(state.read_text())
        except (FileNotFoundError, ValueError):
            recorded = None
        if recorded:
            read = sum(table["counts"]["read"] for table in recorded["tables"].values())
            if read >= at_least:
                return read
        time.sleep(0.01)
    raise AssertionError(f"not {at_least} rows recorded within {timeout} s")


def test_rows_a_failed_write_left_are_counted_and_not_recorded_as_done(
    repo: Repo, moto_endpoint: Endpoint, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNAMODB_BULK_WRITE_MIN_ROWS", "1000000")  # a request per row: some land, some not
    monkeypatch.setenv("DYNAMODB_MAX_RETRIES", "1")
    monkeypatch.setenv("DYNAMODB_RETRY_SCALE_FACTOR", "1")
    with FaultProxy(moto_endpoint.url) as flaky:
        flaky.faults.update(operations=frozenset({"UpdateItem"}), throttle_share=0.3, seed=3)
        repo.endpoint_url = flaky.url
        code, output = migrate(repo, capsys, "--page-size", "10", "--segments", "1")
    read, written, stale, failed, unresolved, not_written = totals(output)
    assert code == 1, output
    assert not_written > 0 and failed == not_written and unresolved == 0
    assert read == written + stale + not_written
    assert "rows were not written: run the same command again to retry them" in output
    recorded = json.loads(repo.state.read_text())
    recorded_rows = sum(t["counts"]["read"] for t in recorded["tables"].values())
    assert recorded_rows < ROWS
    assert not all(s["done"] for t in recorded["tables"].values() for s in t["segments"])

    repo.endpoint_url = moto_endpoint.url
    code, output = migrate(repo, capsys, "--page-size", "10", "--segments", "1")
    assert code == 0, output
    # Only pages in order up to the first failed one were recorded: the rerun scans all the rest.
    assert scanned(output) == ROWS - recorded_rows
    assert totals(output)[0] == ROWS and totals(output)[3] == 0
    assert_same_as_feast_and_source(repo)


def test_keys_in_no_batch_source_are_reported_then_resolved_by_an_entities_file(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pushed = 77_777
    at = repo.source.now - timedelta(minutes=1)
    row = {JOIN_KEY: [pushed], "event_timestamp": [at], "created": [at]}
    row.update({"conv_rate": [0.125], "acc_rate": [0.75], "avg_daily_trips": [9]})
    repo.feast().write_to_online_store(STATS, pd.DataFrame(row))

    code, output = migrate(repo, capsys)
    assert code == 1, output
    assert totals(output) == (ROWS + 1, ROWS, 0, 1, 1, 0)
    assert re.search(r"1 rows had an entity id .* \(first ids: [0-9a-f]{32}\)", output), output
    assert served(repo.ours(), repo, [pushed]).values["avg_daily_trips"] == [None]

    entities = tmp_path / "pushed.csv"
    entities.write_text(f"{JOIN_KEY}\n{pushed}\n")
    code, output = migrate(repo, capsys, "--entities", str(entities))
    assert code == 2 and "belongs to a migration with other arguments" in output and "--restart" in output

    code, output = migrate(repo, capsys, "--entities", str(entities), "--restart")
    assert code == 0, output
    assert totals(output) == (ROWS + 1, ROWS + 1, 0, 0, 0, 0)
    ours, theirs = served(repo.ours(), repo, [pushed]), served(repo.feast(), repo, [pushed])
    assert ours.values["avg_daily_trips"] == [9]
    assert (ours.values, ours.event_ts) == (theirs.values, theirs.event_ts)
    assert_same_as_feast_and_source(repo)


@dataclass
class VersionedRepo:
    """Versions 0 and 1 of ``stats`` materialized into Feast's DynamoDB store, the repo then switched."""

    path: Path
    prefix: str  # Feast's table_name_template, so its tables are this test's alone
    feast_config: RepoConfig

    def feast(self) -> FeatureStore:
        """A FeatureStore on Feast's store, reading the registry afresh (another store may have applied)."""
        return FeatureStore(config=self.feast_config)

    def table(self, version: int) -> str:
        return self.prefix + ("stats" if version == 0 else f"stats_v{version}")


# How the repo gets to the switch, after versions 0 and 1 were applied and materialized on Feast's store:
# its `feast apply` applies the entity alone (the registry's current version stays 1); or the unchanged
# view too, as a real one does, which sets Feast's current version back to 0; or Feast's own repo was
# applied again so, and materialized generation 2's rows into version 0's table, before the switch.
SWITCHES = ["entity-applied", "view-reapplied", "reset-and-materialized"]


def versioned_repo(tmp_path: Path, endpoint: Endpoint, table_name: str, switch: str) -> VersionedRepo:
    prefix = f"f{uuid.uuid4().hex[:8]}."
    feast_section = {"type": "dynamodb", "region": "us-east-1", "endpoint_url": endpoint.url}
    repo = VersionedRepo(
        path=tmp_path,
        prefix=prefix,
        feast_config=RepoConfig(
            project=versioned.PROJECT,
            provider="local",
            registry=versioned._registry(tmp_path / "registry.db"),
            online_store={**feast_section, "table_name_template": prefix + "{table_name}"},
            entity_key_serialization_version=3,
        ),
    )
    source = tmp_path / "stats.parquet"
    feast = repo.feast()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for step in versioned._steps(source, now)[:2]:
        step(feast)  # v0 with generation 0's rows, then v1 (a new feature) with generation 1's
    if switch == "reset-and-materialized":
        versioned._write_source(source, 2, now)
        feast.apply([versioned._entity(), versioned._view(source, 1)])
        feast.materialize(now - timedelta(hours=1), now)
    history = feast.registry.list_feature_view_versions("stats", versioned.PROJECT)
    assert [record["version_number"] for record in history] == [0, 1]
    section = {"type": STORE_TYPE, "table_name": table_name, "endpoint_url": endpoint.url}
    config = {
        "project": versioned.PROJECT,
        "provider": "local",
        "registry": versioned._registry(tmp_path / "registry.db"),
        "online_store": {**section, "create_tables_if_not_exists": True},
        "entity_key_serialization_version": 3,
    }
    (tmp_path / "feature_store.yaml").write_text(json.dumps(config))  # JSON is YAML
    objects: list[Any] = [versioned._entity()]
    if switch != "entity-applied":
        objects.append(versioned._view(source, 1))
    FeatureStore(repo_path=str(tmp_path)).apply(objects)
    return repo


def version_line(output: str, repo: VersionedRepo, version: int) -> re.Match[str] | None:
    """The report's or the dry run's line of one version's table: its name, the version, then numbers."""
    return re.search(rf"^\s*{re.escape(repo.table(version))}\s+stats@v{version}\s+3\s", output, re.MULTILINE)


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_version_of_a_versioned_view_is_copied_from_its_own_table(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, capsys: pytest.CaptureFixture[str], switch: str
) -> None:
    """Feast keeps version N of ``stats`` in ``<prefix>stats_vN`` (version 0 in ``<prefix>stats``), and a
    read of ``stats@vN`` goes there: each version is copied into its own namespace, so pinned reads of
    either version, and reads of the current one, answer as Feast's store does.

    Re-applying the unchanged view sets Feast's current version back to 0, so ``stats:`` then reads
    version 0's table through either store, with the current definition's features; materializing then
    writes that definition's rows there, and the copy keeps every feature of them.
    """
    repo = versioned_repo(tmp_path, moto_endpoint, table_name, switch)
    reset = switch != "entity-applied"
    ours = FeatureStore(repo_path=str(tmp_path))
    assert (ours.get_feature_view("stats").current_version_number or 0) == (0 if reset else 1)
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint.url, region_name="us-east-1")
    for version in (0, 1):
        assert client.scan(TableName=repo.table(version), Select="COUNT")["Count"] == 3

    args = ["migrate", "--repo", str(tmp_path), "--from-table-prefix", repo.prefix, "--views", "stats"]
    assert main([*args, "--dry-run"]) == 0
    output = capsys.readouterr().out
    assert version_line(output, repo, 0) and version_line(output, repo, 1), output
    code = main([*args, "--verify", "10", "--seed", "1"])
    output = capsys.readouterr().out

    assert code == 0, output
    assert totals(output) == (6, 6, 0, 0, 0, 0)
    assert version_line(output, repo, 0) and version_line(output, repo, 1), output
    # Each version compared by its own references: 3 drivers x (v0's rate, v1's rate and trips).
    verified = "verified 3 entities (driver_id), 9 feature values (9 present in Feast's store): 0 differences"
    assert verified in output
    drivers = [*versioned.DRIVERS, versioned.MISSING]
    # Re-applied alone, `stats:trips` names a feature version 0's rows never had: NOT_FOUND in both stores.
    for refs in (["stats@v0:rate"], ["stats@v1:rate", "stats@v1:trips"], ["stats:rate", "stats:trips"]):
        assert answers(ours, refs, drivers) == answers(repo.feast(), refs, drivers), refs
    # The values say which generation of rows each table held.
    generation_0, generation_2 = ([n + d / 10 for d in versioned.DRIVERS] + [None] for n in (0, 2))
    version_0 = generation_2 if switch == "reset-and-materialized" else generation_0
    assert answers(ours, ["stats@v0:rate"], drivers).values["rate"] == version_0
    assert answers(ours, ["stats@v1:trips"], drivers).values["trips"] == [101, 102, 103, None]
    rate = answers(ours, ["stats:rate"], drivers).values["rate"]
    assert rate == (version_0 if reset else [1.1, 1.2, 1.3, None])
    if switch == "reset-and-materialized":
        assert answers(ours, ["stats:trips"], drivers).values["trips"] == [201, 202, 203, None]


def test_a_version_without_a_table_is_noted_and_the_others_copied(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = versioned_repo(tmp_path, moto_endpoint, table_name, "entity-applied")
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint.url, region_name="us-east-1")
    client.delete_table(TableName=repo.table(0))  # as if version 0 was applied with versioning off
    args = ["migrate", "--repo", str(tmp_path), "--from-table-prefix", repo.prefix]

    code = main(args)
    output = capsys.readouterr().out

    assert code == 0, output
    assert f"skipped stats@v0 ({repo.table(0)}): no such table" in output
    assert totals(output) == (3, 3, 0, 0, 0, 0) and version_line(output, repo, 1), output
    refs = ["stats@v1:rate", "stats@v1:trips"]
    drivers = [*versioned.DRIVERS, versioned.MISSING]
    ours = FeatureStore(repo_path=str(tmp_path))
    assert answers(ours, refs, drivers) == answers(repo.feast(), refs, drivers)

    client.delete_table(TableName=repo.table(1))
    assert main([*args, "--restart"]) == 2
    assert (
        f"Feast's table '{repo.table(0)}' or '{repo.table(1)}' for view 'stats' does not exist"
        in capsys.readouterr().err
    )


# -- dry run and verification -------------------------------------------------------------------


def test_a_dry_run_writes_nothing_and_sizes_both_layouts(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = migrate(repo, capsys, "--dry-run")

    assert code == 0, output
    assert entity_items(repo) == [] and not repo.state.exists()
    before = feast_items(repo)
    assert f"storage before: {len(before)} items, {sum(map(item_size, before)):,} bytes" in output
    estimated = re.search(r"storage after:  (\d+) items, ([\d,]+) bytes", output)
    assert estimated, output
    assert int(estimated.group(1)) == len(repo.drivers())
    assert re.search(r"read units to read every view of an entity:  before 1\.00, after 0\.50", output)

    code, output = migrate(repo, capsys)
    assert code == 0, output
    after = entity_items(repo)
    # `feast apply` allocated every id the rows are written under: the estimate is the size written.
    assert int(estimated.group(2).replace(",", "")) == sum(map(item_size, after))


def test_verify_reports_every_difference_and_fails(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate(repo, capsys)[0] == 0
    driver = repo.drivers()[3]
    planted = repo.source.now + timedelta(minutes=1)
    row = {JOIN_KEY: [driver], "event_timestamp": [planted], "created": [planted]}
    row.update({"conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [31337]})
    repo.ours().write_to_online_store(STATS, pd.DataFrame(row))

    code, output = migrate(repo, capsys, "--verify", str(len(repo.drivers())))

    assert code == 1, output
    differences = [line for line in output.splitlines() if line.startswith("difference: ")]
    assert all(f"driver_id={driver} {STATS}__" in line for line in differences), differences
    assert any(
        "avg_daily_trips: value {int64_val: " in line and "{int64_val: 31337} here" in line
        for line in differences
    )
    assert sum("event timestamp" in line for line in differences) == 3  # one per feature of the view
    assert (
        f"verified {len(repo.drivers())} entities" in output and f"{len(differences)} differences" in output
    )


# -- bad input ----------------------------------------------------------------------------------


def test_clear_errors_for_a_wrong_setup(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def error(*args: str, at: Path | None = None) -> str:
        code = repo.main("migrate", "--repo", str(at or repo.path), "--from-table-prefix", repo.prefix, *args)
        out = capsys.readouterr()
        assert code == 2, out
        assert out.out == ""
        return out.err

    assert "is not a directory" in error(at=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert "has no feature_store.yaml" in error(at=tmp_path / "empty")
    assert "uses the online store 'dynamodb'; switch" in error(at=repo.path / "feast")
    assert (
        "Feast's table 'elsewhere.driver_hourly_stats' for view 'driver_hourly_stats' does not exist"
        in error("--from-table-prefix", "elsewhere.")
    )
    assert "--views names ['nope']" in error("--views", f"{STATS},nope")
    windowed = repo.objects.driver_transactions.name
    assert f"--views names ['{windowed}']: a windowed view; " in error("--views", windowed)
    assert "--segments takes 1 to 1000" in error("--segments", "0")
    assert "--entities file(s) not found" in error("--entities", str(tmp_path / "missing.csv"))
    (tmp_path / "wrong.csv").write_text("user_id\n1\n")
    assert "has columns ['user_id'], not all the join keys" in error(
        "--entities", str(tmp_path / "wrong.csv")
    )
    repo.table = f"t-{uuid.uuid4().hex[:8]}"
    missing = error()
    assert "this store's table" in missing and "does not exist" in missing and "run `feast apply`" in missing
    assert not repo.state.exists()


def test_help_and_the_config_command(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["migrate", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    options = "--repo --from-table-prefix --from-region --from-endpoint-url --views --entities --segments"
    for option in [*options.split(), "--page-size", "--state", "--restart", "--dry-run", "--verify"]:
        assert option in text
    assert repo.main("config", str(repo.path)) == 0
    assert repo.table in capsys.readouterr().out


def test_state_file_name_is_ignored_by_git() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", f"feature_repo_example/{DEFAULT_NAME}"], cwd=REPO_ROOT, check=False
    )
    assert ignored.returncode == 0
