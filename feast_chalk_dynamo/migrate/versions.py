"""The versions of a view to copy, each with the definition it had.

With ``registry.enable_online_feature_view_versioning`` Feast's DynamoDB store
keeps version N of a view in a table of its own (``<view>_v<N>``, version 0
in ``<view>``), and a read of ``view@vN`` goes to that table. This store
keeps version N in namespace ``<view>@v<N>``. So a migration copies every
version the registry's history records, not only the current one. Each
version is written with its own definition, whose ``current_version_number``
is N (``get_feature_view_by_version``): that number names both Feast's table
and this store's namespace, and the definition holds the version's own
features, join keys and batch source.

The history says which versions exist, not the view's
``current_version_number``: Feast 0.67 sets that back to 0 whenever an
unchanged view is applied again (the ``feast apply`` after switching the yaml
does it), and from then on it names the version Feast reads as current, not
the newest one. Reads of ``view:feature`` then go to version 0's table with
the current definition's features (and ``feast materialize`` writes that
definition's rows there); so the table the current definition reads is
written for both definitions: each value under the version's own feature and
under the current definition's of its name, each typed as its definition
declares it (``retype``): ``rate: Int64`` in version 0 and ``rate: Float64``
now are two features of one namespace, read by ``view@v0:rate`` and
``view:rate``.
"""

from __future__ import annotations

from dataclasses import dataclass

from feast import FeatureView
from feast.infra.online_stores.helpers import compute_versioned_name
from feast.infra.registry.base_registry import BaseRegistry


@dataclass(frozen=True)
class Reader:
    """A definition whose reads go to a version's table, and how those reads name it."""

    label: str  # ``view@vN`` for the version's own definition, ``view`` for the current one
    view: FeatureView


@dataclass(frozen=True)
class Version:
    # None when versions are not kept apart (versioning off) or the registry records none: the view's
    # one table, read as ``view:feature``.
    number: int | None
    view: FeatureView  # the version's own definition: what ``view@vN:feature`` reads
    # Every definition that reads the version's table, its own first: its rows are written for each.
    readers: tuple[Reader, ...]


def version_label(view: str, version: int | None) -> str:
    """The view, or the version as reads name it (``stats@v0``): what the state and report go by."""
    return view if version is None else f"{view}@v{version}"


def versions_of(registry: BaseRegistry, project: str, view: FeatureView, versioning: bool) -> list[Version]:
    """Every version of ``view`` with its definition, oldest first.

    A registry with no history of the view (the remote and Snowflake
    registries keep none, and neither did Feast before versions) gives the
    view as it stands: Feast cannot read any other version from it either.
    """
    unversioned = [Version(None, view, (Reader(view.name, view),))]
    if not versioning:
        return unversioned
    try:
        records = registry.list_feature_view_versions(view.name, project)
    except NotImplementedError:
        records = []
    if not records:
        return unversioned
    return [_version(registry, project, view, int(record["version_number"])) for record in records]


def _version(registry: BaseRegistry, project: str, current: FeatureView, number: int) -> Version:
    own = registry.get_feature_view_by_version(current.name, project, number)
    # A history holds one kind of view: Feast refuses another kind under a live view's name, and
    # deleting the view deletes its history.
    assert isinstance(own, FeatureView), type(own)
    readers = [Reader(version_label(own.name, number), own)]
    if compute_versioned_name(own, True) == compute_versioned_name(current, True):
        readers.append(Reader(current.name, current))
    return Version(number, own, tuple(readers))
