"""Mapping names and short ids: injective for every string Feast accepts, never a reserved attribute."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.items import layout
from feast_chalk_dynamo.items.layout import id_for_counter, is_reserved_attribute, ts_attr, values_attr
from feast_chalk_dynamo.items.names import (
    MappingState,
    attribute_ids,
    feature_name,
    name_component,
    namespace_name,
    namespace_prefix,
    project_features_prefix,
    project_name,
    unversioned_view_name,
    versioned_view_name,
    view_features_prefix,
)

# DynamoDB's limit on a sort key, which every mapping name is.
MAX_SORT_KEY_BYTES = 1024

# Feast: projects are word characters and hyphens, not starting with _ or -
# (feast.repo_operations.is_valid_name); views and features are any string.
PROJECTS = st.from_regex(r"[^\W_][\w-]{0,40}", fullmatch=True) | st.from_regex(
    r"[^\W_]\w{300,320}", fullmatch=True
)
NAMES = st.text(max_size=30) | st.text(alphabet="/%v2aF5H", max_size=8) | st.text(min_size=290, max_size=400)
DTYPES = st.sampled_from(["INT64", "STRING", "DOUBLE_LIST", "UNIX_TIMESTAMP", "MAP", "JSON"])


def test_first_million_ids_are_unique_and_never_reserved() -> None:
    ids = [i for n in range(1, 1_000_001) if (i := id_for_counter(n)) is not None]
    assert len(set(ids)) == len(ids)
    assert not any(is_reserved_attribute(i) for i in ids)
    assert len(ids) == 1_000_000 - 2  # only pk (920) and sk (1028) are skipped
    assert id_for_counter(920) is None and id_for_counter(1028) is None


def test_every_attribute_the_layout_names_is_reserved() -> None:
    """The class: an attribute the layout adds later must start with the reserved prefix too."""
    constants = {
        name: value
        for name, value in vars(layout).items()
        if name.endswith(("_ATTR", "_PREFIX")) and isinstance(value, str) and name != "RESERVED_PREFIX"
    }
    assert constants, "no layout attribute constants found"
    for name, value in constants.items():
        assert is_reserved_attribute(value), name
    for namespace_id in ("0", "pk", "zz"):
        assert is_reserved_attribute(ts_attr(namespace_id)) and is_reserved_attribute(
            values_attr(namespace_id)
        )
    assert is_reserved_attribute(layout.PK) and is_reserved_attribute(layout.SK)


@given(st.integers(min_value=1, max_value=36**6 - 1))
def test_ids_are_short_base36_text(number: int) -> None:
    found = id_for_counter(number)
    assert found is None or re.fullmatch(r"[0-9a-z]{1,6}", found)


@given(NAMES, NAMES)
def test_components_are_injective_and_hold_no_separator(a: str, b: str) -> None:
    assert "/" not in name_component(a)
    assert (name_component(a) == name_component(b)) == (a == b)


@given(PROJECTS, NAMES, NAMES, DTYPES, PROJECTS, NAMES, NAMES, DTYPES)
def test_feature_names_are_injective(
    p1: str, v1: str, f1: str, d1: str, p2: str, v2: str, f2: str, d2: str
) -> None:
    same = (p1, v1, f1, d1) == (p2, v2, f2, d2)
    assert (feature_name(p1, v1, f1, d1) == feature_name(p2, v2, f2, d2)) == same


@given(PROJECTS, NAMES, NAMES, DTYPES, NAMES)
def test_a_view_prefix_matches_only_that_views_features(
    project: str, view: str, feature: str, dtype: str, other_view: str
) -> None:
    """Removing view ``v`` must not match ``v/a``'s names (the prefix-match bug)."""
    name = feature_name(project, other_view, feature, dtype)
    assert name.startswith(view_features_prefix(project, view)) == (view == other_view)
    assert name.startswith(project_features_prefix(project))
    assert namespace_name(project, other_view).startswith(namespace_prefix(project))
    if view != other_view:
        assert namespace_name(project, view) != namespace_name(project, other_view)


@given(PROJECTS, PROJECTS, NAMES, NAMES, DTYPES)
def test_projects_never_share_a_prefix(p1: str, p2: str, view: str, feature: str, dtype: str) -> None:
    name = feature_name(p2, view, feature, dtype)
    assert name.startswith(project_features_prefix(p1)) == (p1 == p2)
    assert namespace_name(p2, view).startswith(namespace_prefix(p1)) == (p1 == p2)
    assert (project_name(p1) == project_name(p2)) == (p1 == p2)


@given(PROJECTS, NAMES, NAMES, DTYPES)
def test_every_name_fits_a_sort_key(project: str, view: str, feature: str, dtype: str) -> None:
    for name in (
        feature_name(project, view, feature, dtype),
        namespace_name(project, view),
        project_name(project),
    ):
        assert 0 < len(name.encode("utf-8")) <= MAX_SORT_KEY_BYTES


def test_the_reported_collision_is_gone() -> None:
    assert feature_name("p", "v", "a/b", "INT64") != feature_name("p", "v/a", "b", "INT64")
    assert not feature_name("p", "v/a", "b", "INT64").startswith(view_features_prefix("p", "v"))
    assert feature_name("p", "driver_stats", "conv_rate", "FLOAT") == "fqn/p/driver_stats/conv_rate/FLOAT"


def _view(name: str, current: int | None = None, pinned: int | None = None) -> SimpleNamespace:
    """What decides a Feast view's version, as Feast's compute_versioned_name reads it."""
    return SimpleNamespace(
        name=name, current_version_number=current, projection=SimpleNamespace(version_tag=pinned)
    )


VIEW_NAMES = NAMES.filter(lambda name: "@" not in name)  # Feast refuses '@' in a view name
VERSIONS = st.none() | st.integers(min_value=0, max_value=10**6)


@given(VIEW_NAMES, VERSIONS, VIEW_NAMES, VERSIONS)
def test_versioned_namespaces_are_injective_and_name_their_view(
    a: str, version_a: int | None, b: str, version_b: int | None
) -> None:
    """(view, version) pairs map to distinct namespaces; version 0 and no version are the bare name."""
    namespace_a = versioned_view_name(_view(a, version_a), True)
    namespace_b = versioned_view_name(_view(b, version_b), True)
    assert unversioned_view_name(namespace_a) == a
    assert (namespace_a == namespace_b) == (a == b and (version_a or 0) == (version_b or 0))


def test_a_pinned_version_wins_and_versioning_off_keeps_the_bare_name() -> None:
    """``x_v2`` stays a view of its own, where Feast's tables would name version 2 of ``x`` so too."""
    assert versioned_view_name(_view("stats", current=2), True) == "stats@v2"
    assert versioned_view_name(_view("stats", current=2, pinned=1), True) == "stats@v1"
    assert versioned_view_name(_view("stats", current=2, pinned=0), True) == "stats"
    assert versioned_view_name(_view("stats", current=2), False) == "stats"
    assert versioned_view_name(_view("stats_v2"), True) == "stats_v2"
    with pytest.raises(ValueError, match="reserves"):
        versioned_view_name(_view("a@v2"), False)


def _state_items(epoch: str | None, change: str | None, n: int | None, counter: int | None) -> list[dict]:
    items: list[dict] = []
    if counter is not None:
        items.append({"pk": {"S": "~meta"}, "sk": {"S": "~counter"}, "n": {"N": str(counter)}})
    generation: dict = {"pk": {"S": "~meta"}, "sk": {"S": "~generation"}}
    if n is not None:
        generation["n"] = {"N": str(n)}
    if change is not None:
        generation["c"] = {"S": change}
    if epoch is not None:
        generation["e"] = {"S": epoch}
    if len(generation) > 2:
        items.append(generation)
    return items


def test_mapping_state_tells_tables_apart_when_their_numbers_repeat() -> None:
    """A re-created table's first change has the numbers the old one had; its tokens differ."""
    old = MappingState.from_items(_state_items("e1", "c1", 1, 5))
    new = MappingState.from_items(_state_items("e2", "c2", 1, 5))
    assert old != new and old.counter == new.counter == 5


def test_mapping_state_of_a_table_never_changed_and_of_an_older_versions_table() -> None:
    assert MappingState.from_items([]) == MappingState(epoch=None, change=None, counter=0)
    # A table last changed by a version without tokens: its count stands in for the change.
    legacy = MappingState.from_items(_state_items(None, None, 3, 9))
    assert legacy == MappingState(epoch=None, change="n3", counter=9)
    assert legacy != MappingState.from_items(_state_items(None, None, 4, 9))


@given(st.integers(min_value=1, max_value=10**9))
def test_attribute_ids_name_the_live_id_and_every_retired_one(number: int) -> None:
    live = id_for_counter(number) or "x"
    item = {"id": {"S": live}, "retired": {"M": {"a1": {"N": "1"}, "b2": {"N": "2"}}}}
    assert attribute_ids(item) == [live, "a1", "b2"]
    assert attribute_ids({"retired": {"M": {"a1": {"N": "1"}}}}) == ["a1"]
