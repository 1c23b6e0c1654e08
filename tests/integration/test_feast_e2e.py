"""End to end through real Feast: the example repo on this store vs. Feast's sqlite.

Feast's own sqlite online store is the reference: both stores get the same
definitions (feature_repo_example.features) and the same parquet data
(feature_repo_example.data_gen), go through ``apply`` and ``materialize``, and
must then serve identical ``to_dict()`` results for every feature of every view,
nulls for an unknown driver included. Values are also checked against the
parquet files directly, so a mistake shared by both paths cannot hide.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from feast import FeatureStore

from feast_chalk_dynamo.errors import WriteIncomplete
from feature_repo_example import checks, data_gen
from feature_repo_example.features import JOIN_KEY, RepoObjects, build_objects
from tests.cli_repo import example
from tests.fault_proxy import FaultProxy
from tests.servers import Endpoint

MISSING_DRIVER = 999_999


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> data_gen.SourceData:
    """One data set per module: both stores must read byte-identical files."""
    data_dir = tmp_path_factory.mktemp("feast-e2e-data")
    return data_gen.generate(data_dir, now=datetime.now(timezone.utc))


@pytest.fixture
def objects(source: data_gen.SourceData) -> RepoObjects:
    """Fresh Feast objects per test, as applying mutates them (e.g. projections)."""
    return build_objects(source.data_dir)


def window(source: data_gen.SourceData, objects: RepoObjects) -> tuple[datetime, datetime]:
    """The materialization window that covers every row still within ttl."""
    longest_ttl = max(v.ttl for v in objects.feature_views() if v.ttl)
    return source.now - longest_ttl, source.now


def dynamo_store(run_dir: Path, endpoint: Endpoint, table_name: str) -> FeatureStore:
    """A FeatureStore on this plugin: a copy of the example repo, its yaml's variables naming the table."""
    return example(run_dir, endpoint.url, table_name).store()


def sqlite_store(run_dir: Path) -> FeatureStore:
    """The same repo on Feast's built-in sqlite online store, as the reference."""
    run_dir.mkdir(parents=True, exist_ok=True)
    yaml_path = run_dir / "feature_store.yaml"
    yaml_path.write_text(
        "\n".join(
            [
                "project: driver_ranking",
                "provider: local",
                f'registry: "{run_dir / "registry.db"}"',
                "online_store:",
                "  type: sqlite",
                f'  path: "{run_dir / "online.db"}"',
                "offline_store:",
                "  type: file",
                "entity_key_serialization_version: 3",
                "",
            ]
        )
    )
    return FeatureStore(repo_path=str(run_dir), fs_yaml_file=yaml_path)


def read_all(store: FeatureStore, objects: RepoObjects, entity_ids: list[int]) -> dict[str, list[Any]]:
    """Every feature of every view for ``entity_ids``, as plain Python values."""
    response = store.get_online_features(
        features=objects.feature_refs(),
        entity_rows=[{JOIN_KEY: e} for e in entity_ids],
    )
    result: dict[str, list[Any]] = response.to_dict()
    return result


def assert_matches_source(
    actual: dict[str, list[Any]],
    objects: RepoObjects,
    entity_ids: list[int],
    start: datetime,
    end: datetime,
    label: str,
) -> None:
    """Fail with one line per wrong value, relative to the parquet files."""
    expected = checks.expected_online_features(objects.feature_views(), entity_ids, start=start, end=end)
    matched, problems = checks.compare(expected.values, actual, objects.feature_views(), label=label)
    assert not problems, "\n".join(problems[:40])
    assert matched == (len(expected.values) - 1) * len(entity_ids)


@pytest.fixture
def entity_ids(source: data_gen.SourceData) -> list[int]:
    """All generated drivers plus one that has never been written."""
    return [*source.driver_ids, MISSING_DRIVER]


@pytest.fixture
def plugin_store(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, objects: RepoObjects
) -> Iterator[FeatureStore]:
    """This plugin with the example repo applied to a fresh table."""
    store = dynamo_store(tmp_path / "dynamo", moto_endpoint, table_name)
    store.apply(objects.all())
    yield store


def test_plugin_serves_what_sqlite_serves(
    tmp_path: Path,
    plugin_store: FeatureStore,
    source: data_gen.SourceData,
    objects: RepoObjects,
    entity_ids: list[int],
) -> None:
    reference = sqlite_store(tmp_path / "sqlite")
    reference.apply(build_objects(source.data_dir).all())
    start, end = window(source, objects)
    plugin_store.materialize(start, end, objects.materialized())
    reference.materialize(start, end, objects.materialized())

    got = read_all(plugin_store, objects, entity_ids)
    want = read_all(reference, objects, entity_ids)

    assert got == want
    # The comparison above is only as good as the reference; pin both to the data.
    assert_matches_source(got, objects, entity_ids, start, end, label="plugin")
    missing = {name: col[-1] for name, col in got.items() if name != JOIN_KEY}
    assert missing and all(v is None for v in missing.values()), missing

    # Same values through the FeatureService the repo defines.
    by_service = plugin_store.get_online_features(
        features=plugin_store.get_feature_service("driver_ranking"),
        entity_rows=[{JOIN_KEY: e} for e in entity_ids],
    ).to_dict()
    assert by_service == got


def test_older_materialization_does_not_overwrite_newer_values(
    plugin_store: FeatureStore,
    source: data_gen.SourceData,
    objects: RepoObjects,
    entity_ids: list[int],
) -> None:
    """Backfilling an older window must keep the newer rows already served.

    (Feast's sqlite store would overwrite them, so this is checked against the
    source data rather than against sqlite.)
    """
    start, end = window(source, objects)
    older_end = source.now - data_gen.OLD_NEW_SPLIT
    newer = checks.expected_online_features(objects.feature_views(), entity_ids, start=start, end=end)
    older = checks.expected_online_features(objects.feature_views(), entity_ids, start=start, end=older_end)
    # Guard the test itself: the older window must really hold different values.
    for view in objects.feature_views():
        assert older.event_ts[view.name][:-1] != newer.event_ts[view.name][:-1]
        assert all(
            o is not None and n is not None and o < n
            for o, n in zip(older.event_ts[view.name][:-1], newer.event_ts[view.name][:-1], strict=True)
        ), view.name

    plugin_store.materialize(start, end, objects.materialized())
    first = read_all(plugin_store, objects, entity_ids)
    assert_matches_source(first, objects, entity_ids, start, end, label="after newer")

    plugin_store.materialize(start, older_end, objects.materialized())
    second = read_all(plugin_store, objects, entity_ids)
    assert_matches_source(second, objects, entity_ids, start, end, label="after older")
    assert second == first

    # And a store opened afresh (no client-side state) sees the same.
    reopened = FeatureStore(repo_path=str(plugin_store.repo_path), config=plugin_store.config)
    assert read_all(reopened, objects, entity_ids) == first


def test_materialize_of_older_data_into_empty_store_is_served(
    plugin_store: FeatureStore,
    source: data_gen.SourceData,
    objects: RepoObjects,
    entity_ids: list[int],
) -> None:
    """The newer-wins rule must not swallow old rows when nothing newer exists."""
    start = window(source, objects)[0]
    older_end = source.now - data_gen.OLD_NEW_SPLIT
    plugin_store.materialize(start, older_end, objects.materialized())
    got = read_all(plugin_store, objects, entity_ids)
    assert_matches_source(got, objects, entity_ids, start, older_end, label="older only")


def test_source_data_is_deterministic_and_in_the_past(tmp_path: Path, source: data_gen.SourceData) -> None:
    """The contract the other tests lean on: same seed and now give the same
    files, and no row is at or after now (so [start, now) holds them all)."""
    again = data_gen.generate(tmp_path, now=source.now)
    for mine, theirs in (
        (source.stats_path, again.stats_path),
        (source.profile_path, again.profile_path),
        (source.transactions_path, again.transactions_path),
    ):
        table = pq.read_table(mine)
        assert table.equals(pq.read_table(theirs))
        assert max(table.column("event_timestamp").to_pylist()) < source.now


def test_a_materialize_that_fails_part_way_names_what_is_missing_and_a_rerun_finishes(
    tmp_path: Path,
    moto_endpoint: Endpoint,
    table_name: str,
    source: data_gen.SourceData,
    objects: RepoObjects,
    entity_ids: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``feast materialize`` through a proxy that throttles half the writes, one retry each, then again."""
    # Every write one request per row, so that some land and some run out of retries.
    monkeypatch.setenv("DYNAMODB_BULK_WRITE_MIN_ROWS", "1000000")
    monkeypatch.setenv("DYNAMODB_MAX_RETRIES", "1")
    monkeypatch.setenv("DYNAMODB_RETRY_SCALE_FACTOR", "1")
    with FaultProxy(moto_endpoint.url) as proxy:
        store = dynamo_store(
            tmp_path / "dynamo", dataclasses.replace(moto_endpoint, url=proxy.url), table_name
        )
        store.apply(objects.all())
        start, end = window(source, objects)
        proxy.faults.update(operations=frozenset({"UpdateItem"}), throttle_share=0.5, seed=2)
        with pytest.raises(WriteIncomplete) as caught:
            store.materialize(start, end, objects.materialized())
        error = caught.value
        assert error.written > 0 and error.unwritten and str(len(error.unwritten)) in str(error)

        proxy.faults.reset()
        store.materialize(start, end, objects.materialized())  # the same command again
        assert_matches_source(read_all(store, objects, entity_ids), objects, entity_ids, start, end, "rerun")
