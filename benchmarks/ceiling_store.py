"""An online store that answers every read from rows built once: the ceiling of ``feast serve``.

A read here is one dict lookup per entity key, so what a ``feast serve`` request
still costs with this store is Feast's own work: HTTP, parsing the request,
filling the response's protos and writing its JSON. No online store can serve
below that; ``serve_bench`` reports every store as a share of it.

``online_write_batch`` keeps the rows it is handed (the same protos every other
store of the benchmark is loaded with) in one pickle file per view under
``rows_dir``, each value serialized (Feast's protos do not pickle). A process
that serves parses them all once, at ``initialize`` (Feast calls it in each
worker of ``feast serve`` before its first request), so no request pays for
building a value. The rows are held ready to answer: the
``(event time, {feature: ValueProto})`` pairs ``online_read`` returns, keyed by
the entity key's serialized proto.

``type: benchmarks.ceiling_store.CeilingOnlineStore`` and ``rows_dir:`` in a repo config.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from feast import Entity, FeatureView
from feast.infra.online_stores.online_store import OnlineStore
from feast.infra.supported_async_methods import SupportedAsyncMethods
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import FeastConfigBaseModel, RepoConfig

# What online_read answers for one entity: its event time and values, or (None, None) if absent.
Row = tuple[datetime | None, dict[str, ValueProto] | None]
ABSENT: Row = (None, None)
# As kept on disk: Feast's protos do not pickle, their serialized bytes do.
StoredRow = tuple[datetime, dict[str, bytes]]


class CeilingOnlineStoreConfig(FeastConfigBaseModel):
    """``online_store:`` section."""

    type: Literal["benchmarks.ceiling_store.CeilingOnlineStore"] = (
        "benchmarks.ceiling_store.CeilingOnlineStore"
    )
    rows_dir: str
    """Where ``online_write_batch`` leaves each view's rows, and serving processes read them."""


class CeilingOnlineStore(OnlineStore):
    """Reads answered from memory, in the process's own copy of every row written before it started."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[bytes, Row]] | None = None

    @property
    def async_supported(self) -> SupportedAsyncMethods:
        # As every store the benchmark compares: feast serve then awaits the read on its loop.
        return SupportedAsyncMethods(read=True, write=False)

    async def initialize(self, config: RepoConfig) -> None:
        self._views(config)

    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[Row]:
        rows = self._views(config).get(table.name, {})
        return [rows.get(key.SerializeToString(), ABSENT) for key in entity_keys]

    async def online_read_async(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[Row]:
        return self.online_read(config, table, entity_keys, requested_features)

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        """Merged into the view's file; a process already serving does not see them (it read them once)."""
        path = _view_path(config, table.name)
        stored: dict[bytes, StoredRow] = _read(path) if path.exists() else {}
        stored.update(
            (
                key.SerializeToString(),
                (event_time, {name: value.SerializeToString() for name, value in values.items()}),
            )
            for key, values, event_time, _ in data
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            pickle.dump(stored, out, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)
        if progress:
            progress(len(data))

    def _views(self, config: RepoConfig) -> dict[str, dict[bytes, Row]]:
        if self._rows is None:
            rows_dir = Path(config.online_store.rows_dir)
            self._rows = {path.stem: _load(path) for path in rows_dir.glob("*.pickle")}
        return self._rows

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[FeatureView],
        tables_to_keep: Sequence[FeatureView],
        entities_to_delete: Sequence[Entity],
        entities_to_keep: Sequence[Entity],
        partial: bool,
    ) -> None:
        for table in tables_to_delete:
            _view_path(config, table.name).unlink(missing_ok=True)

    def teardown(self, config: RepoConfig, tables: Sequence[FeatureView], entities: Sequence[Entity]) -> None:
        for table in tables:
            _view_path(config, table.name).unlink(missing_ok=True)


def _view_path(config: RepoConfig, view: str) -> Path:
    return Path(config.online_store.rows_dir) / f"{view}.pickle"


def _read(path: Path) -> dict[bytes, StoredRow]:
    # The benchmark's own files, written above by the same process tree: pickle is safe here.
    with path.open("rb") as source:
        stored: dict[bytes, StoredRow] = pickle.load(source)  # noqa: S301
    return stored


def _load(path: Path) -> dict[bytes, Row]:
    """A view's rows as ``online_read`` answers them, every value parsed here, once."""
    return {
        key: (event_time, {name: ValueProto.FromString(value) for name, value in values.items()})
        for key, (event_time, values) in _read(path).items()
    }
