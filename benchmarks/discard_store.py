"""An online store that keeps nothing: the ceiling of Feast's materialize pipeline alone.

``FeatureStore.materialize`` reads the offline source, deduplicates, converts
Arrow to protos and hands the rows to the online store; with a store that only
acknowledges them, what is left is Feast's own cost. No online store can
materialize faster than that, so end-to-end throughput is reported against it.

``type: benchmarks.discard_store.DiscardOnlineStore`` in a repo config; Feast
imports ``DiscardOnlineStoreConfig`` from this module by that name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from feast import Entity, FeatureView
from feast.infra.online_stores.online_store import OnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import FeastConfigBaseModel, RepoConfig


class DiscardOnlineStoreConfig(FeastConfigBaseModel):
    """``online_store:`` section: nothing to configure."""

    type: Literal["benchmarks.discard_store.DiscardOnlineStore"] = (
        "benchmarks.discard_store.DiscardOnlineStore"
    )


class DiscardOnlineStore(OnlineStore):
    """Acknowledges every row and stores none; reads find nothing."""

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        if progress:
            progress(len(data))

    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, ValueProto] | None]]:
        # One "absent" per key: Feast lines answers up with the keys it asked for.
        return [(None, None)] * len(entity_keys)

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[FeatureView],
        tables_to_keep: Sequence[FeatureView],
        entities_to_delete: Sequence[Entity],
        entities_to_keep: Sequence[Entity],
        partial: bool,
    ) -> None:
        pass

    def teardown(self, config: RepoConfig, tables: Sequence[FeatureView], entities: Sequence[Entity]) -> None:
        pass
