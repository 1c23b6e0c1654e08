"""Which versions of a view a migration copies, read from a real file registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feast import FeatureView
from feast.infra.registry.registry import Registry
from feast.repo_config import RegistryConfig
from feast.types import Int64

from feast_chalk_dynamo.migrate.versions import Reader, Version, versions_of
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


Summary = tuple[int | None, int | None, list[str], str, list[tuple[str, int | None, list[str]]]]


def summary(versions: list[Version]) -> list[Summary]:
    """Per version: its number; its definition's number, features and batch source's path; and each
    definition reading its table: how reads name it, its number and its features with their dtypes."""
    return [
        (
            v.number, v.view.current_version_number, [f.name for f in v.view.features],
            v.view.batch_source.path,
            [
                (r.label, r.view.current_version_number, [f"{f.name}: {f.dtype}" for f in r.view.features])
                for r in v.readers
            ],
        )
        for v in versions
    ]  # fmt: skip


def test_every_recorded_version_with_the_definition_it_had(tmp_path: Path) -> None:
    registry = registry_with_two_versions(tmp_path)
    assert summary(versions_of(registry, PROJECT, current(registry), versioning=True)) == [
        (0, 0, ["rate"], str(tmp_path / "v0.parquet"), [("stats@v0", 0, ["rate: Float64"])]),
        (
            1, 1, ["rate", "trips"], str(tmp_path / "v1.parquet"),
            [
                ("stats@v1", 1, ["rate: Float64", "trips: Int64"]),
                ("stats", 1, ["rate: Float64", "trips: Int64"])
            ],
        ),
    ]  # fmt: skip


def test_the_history_not_the_current_number_says_which_versions_exist(tmp_path: Path) -> None:
    """Feast 0.67 sets the current number back to 0 when the unchanged view is applied again: version 0's
    table is then read by the current definition too, and written for both, each with its own types."""
    registry = registry_with_two_versions(tmp_path)
    registry.apply_feature_view(versioned._view(tmp_path / "v1.parquet", 1), PROJECT)
    assert not current(registry).current_version_number
    assert summary(versions_of(registry, PROJECT, current(registry), versioning=True)) == [
        (
            0, 0, ["rate"], str(tmp_path / "v0.parquet"),
            [("stats@v0", 0, ["rate: Float64"]), ("stats", None, ["rate: Float64", "trips: Int64"])],
        ),
        (
            1, 1, ["rate", "trips"], str(tmp_path / "v1.parquet"),
            [("stats@v1", 1, ["rate: Float64", "trips: Int64"])],
        ),
    ]  # fmt: skip


def test_a_retyped_feature_is_read_by_each_definition_as_it_declares_it(tmp_path: Path) -> None:
    """``rate: Int64`` in version 0, ``rate: Float64`` now: version 0's table is read by both, each with its
    own dtype (the copy used to write it with the current one's alone, and refused its every int)."""
    registry = Registry(PROJECT, RegistryConfig(path=str(tmp_path / "registry.db")), repo_path=tmp_path)
    registry.apply_entity(versioned._entity(), PROJECT)
    as_ints = versioned._view(tmp_path / "v.parquet", 0)
    as_ints.features[0].dtype = Int64
    for view in (
        as_ints,
        versioned._view(tmp_path / "v.parquet", 0),
        versioned._view(tmp_path / "v.parquet", 0),
    ):
        registry.apply_feature_view(view, PROJECT)
    assert [(v.number, [(r.label, [str(f.dtype) for f in r.view.features]) for r in v.readers])
            for v in versions_of(registry, PROJECT, current(registry), versioning=True)] == [
        (0, [("stats@v0", ["Int64"]), ("stats", ["Float64"])]),
        (1, [("stats@v1", ["Float64"])]),
    ]  # fmt: skip


def test_without_versioning_the_view_is_its_one_table(tmp_path: Path) -> None:
    registry = registry_with_two_versions(tmp_path)
    view = current(registry)
    assert versions_of(registry, PROJECT, view, versioning=False) == [
        Version(None, view, (Reader("stats", view),))
    ]


def test_a_registry_without_history_gives_the_view_as_it_stands(tmp_path: Path) -> None:
    """As a registry written before Feast kept versions, or one that keeps none (remote, Snowflake)."""

    class NoHistory(Registry):
        def list_feature_view_versions(self, name: str, project: str) -> list[dict[str, Any]]:
            raise NotImplementedError("list_feature_view_versions is not implemented for this registry")

    registry = registry_with_two_versions(tmp_path)
    view = current(registry)
    registry.cached_registry_proto.feature_view_version_history.ClearField("records")
    assert versions_of(registry, PROJECT, view, versioning=True) == [
        Version(None, view, (Reader("stats", view),))
    ]
    no_history = registry_with_two_versions(tmp_path / "other", NoHistory)
    view = current(no_history)
    assert versions_of(no_history, PROJECT, view, versioning=True) == [
        Version(None, view, (Reader("stats", view),))
    ]
