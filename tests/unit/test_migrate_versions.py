"""Which versions of a view a migration copies, read from a real file registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feast import FeatureView
from feast.infra.registry.registry import Registry
from feast.repo_config import RegistryConfig

from feast_chalk_dynamo.migrate.versions import Version, versions_of
from tests.integration import test_versioned_views as versioned

PROJECT = versioned.PROJECT


def registry_with_two_versions(tmp_path: Path, registry_class: type[Registry] = Registry) -> Registry:
    registry = registry_class(PROJECT, RegistryConfig(path=str(tmp_path / "registry.db")), repo_path=tmp_path)
    registry.apply_entity(versioned._entity(), PROJECT)
    for number in (0, 1):
        registry.apply_feature_view(versioned._view(tmp_path / f"v{number}.parquet", number), PROJECT)
    return registry


def current(registry: Registry) -> FeatureView:
    return registry.get_feature_view("stats", PROJECT)


Summary = tuple[int | None, int | None, list[str], str, int | None, list[str]]


def summary(versions: list[Version]) -> list[Summary]:
    """Per version: its number; its definition's number, features and batch source's path; and the
    number and features it is written with."""
    return [
        (
            v.number, v.view.current_version_number, [f.name for f in v.view.features],
            v.view.batch_source.path, v.written.current_version_number, [f.name for f in v.written.features],
        )
        for v in versions
    ]  # fmt: skip


def test_every_recorded_version_with_the_definition_it_had(tmp_path: Path) -> None:
    registry = registry_with_two_versions(tmp_path)
    assert summary(versions_of(registry, PROJECT, current(registry), versioning=True)) == [
        (0, 0, ["rate"], str(tmp_path / "v0.parquet"), 0, ["rate"]),
        (1, 1, ["rate", "trips"], str(tmp_path / "v1.parquet"), 1, ["rate", "trips"]),
    ]


def test_the_history_not_the_current_number_says_which_versions_exist(tmp_path: Path) -> None:
    """Feast 0.67 sets the current number back to 0 when the unchanged view is applied again: version 0's
    table is then read as the current one, with the current definition's features, and written so."""
    registry = registry_with_two_versions(tmp_path)
    registry.apply_feature_view(versioned._view(tmp_path / "v1.parquet", 1), PROJECT)
    assert not current(registry).current_version_number
    assert summary(versions_of(registry, PROJECT, current(registry), versioning=True)) == [
        (0, 0, ["rate"], str(tmp_path / "v0.parquet"), 0, ["rate", "trips"]),
        (1, 1, ["rate", "trips"], str(tmp_path / "v1.parquet"), 1, ["rate", "trips"]),
    ]


def test_without_versioning_the_view_is_its_one_table(tmp_path: Path) -> None:
    registry = registry_with_two_versions(tmp_path)
    view = current(registry)
    assert versions_of(registry, PROJECT, view, versioning=False) == [Version(None, view, view)]


def test_a_registry_without_history_gives_the_view_as_it_stands(tmp_path: Path) -> None:
    """As a registry written before Feast kept versions, or one that keeps none (remote, Snowflake)."""

    class NoHistory(Registry):
        def list_feature_view_versions(self, name: str, project: str) -> list[dict[str, Any]]:
            raise NotImplementedError("list_feature_view_versions is not implemented for this registry")

    registry = registry_with_two_versions(tmp_path)
    view = current(registry)
    registry.cached_registry_proto.feature_view_version_history.ClearField("records")
    assert versions_of(registry, PROJECT, view, versioning=True) == [Version(None, view, view)]
    no_history = registry_with_two_versions(tmp_path / "other", NoHistory)
    view = current(no_history)
    assert versions_of(no_history, PROJECT, view, versioning=True) == [Version(None, view, view)]
