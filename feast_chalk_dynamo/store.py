"""The Feast OnlineStore: wiring between Feast's objects and the engine.

This is the only module (with the CLI) that knows Feast's registry types; it
turns feature views into layouts of ids and hands the I/O to the engine.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from feast import Entity, FeatureView, utils
from feast.infra.online_stores.online_store import OnlineStore
from feast.infra.supported_async_methods import SupportedAsyncMethods
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig

from feast_chalk_dynamo import windowed
from feast_chalk_dynamo.aggregates.pages import PageLayout, pages_prefix
from feast_chalk_dynamo.aggregates.partials import Parts
from feast_chalk_dynamo.aggregates.spec import is_windowed
from feast_chalk_dynamo.aggregates.whole import WholeBuckets
from feast_chalk_dynamo.aggregates.writer import Event
from feast_chalk_dynamo.dynamo import metrics
from feast_chalk_dynamo.engine import ENGINES, Engine
from feast_chalk_dynamo.items.codec import value_field_for
from feast_chalk_dynamo.items.expiry import expiry_state_name
from feast_chalk_dynamo.items.layout import encode_entity_key, project_prefix, ts_attr, values_attr
from feast_chalk_dynamo.items.names import (
    NamespaceInfo,
    attribute_ids,
    dtype_name,
    feature_name,
    namespace_name,
    namespace_prefix,
    project_features_prefix,
    project_name,
    unversioned_view_name,
    versioned_view_name,
    view_features_prefix,
)
from feast_chalk_dynamo.items.slots import FeatureSlot, micros_to_datetime
from feast_chalk_dynamo.local.bloom_table import bloom_pk
from feast_chalk_dynamo.precomputed import OrdinaryReadOfPrecomputedServices
from feast_chalk_dynamo.reads.decoders import ProtoRows, ValueRow, ValueRows
from feast_chalk_dynamo.reads.reader import RowsFactory, ViewLayout, ViewRead
from feast_chalk_dynamo.reads.response import populate
from feast_chalk_dynamo.settings import DynamoSettings, refuse_unset_variables
from feast_chalk_dynamo.writes import EntityRow, WriteLayout, WriteStats

AnyView = FeatureView | OnDemandFeatureView
# Entities a backfill writes at a time (their bucket pages, then their items): bounds the requests
# one call has in hand, not the events folded.
SET_ENTITIES = 1_000


class ChalkDynamoOnlineStoreConfig(DynamoSettings):
    """``online_store:`` section of feature_store.yaml for this store."""

    type: Literal[
        "feast_chalk_dynamo.ChalkDynamoOnlineStore",
        "feast_chalk_dynamo.store.ChalkDynamoOnlineStore",
    ] = "feast_chalk_dynamo.ChalkDynamoOnlineStore"


def _settings(config: RepoConfig) -> ChalkDynamoOnlineStoreConfig:
    settings = config.online_store
    if not isinstance(settings, ChalkDynamoOnlineStoreConfig):
        raise TypeError(f"online_store config is {type(settings).__name__}, not ChalkDynamoOnlineStoreConfig")
    return settings


def _has_online_data(view: Any) -> bool:
    """Feature views (batch, stream) and on-demand views that write online; not label views."""
    if isinstance(view, OnDemandFeatureView):
        return bool(view.write_to_online_store)
    return isinstance(view, FeatureView) and bool(getattr(view, "online", True))


def _join_keys(view: AnyView) -> list[str]:
    return sorted(column.name for column in view.entity_columns)


def _ttl_seconds(view: AnyView) -> int:
    ttl = getattr(view, "ttl", None)
    return int(ttl.total_seconds()) if ttl else 0


def _definition(view: AnyView) -> tuple[tuple[tuple[str, str], ...], int]:
    """What a view's layouts are made of: its features (name and dtype) and its ttl."""
    return tuple((field.name, dtype_name(field)) for field in view.features), _ttl_seconds(view)


def _namespace(config: RepoConfig, view: AnyView) -> str:
    """Where the rows of ``view`` (at the version Feast reads or writes) live: see ``versioned_view_name``."""
    return versioned_view_name(view, config.registry.enable_online_feature_view_versioning)


# Feast's rows for online_write_batch: entity key, values, event time, created time.
WriteData = list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, "datetime | None"]]
ViewRequest = tuple[AnyView, list[EntityKeyProto], "list[str] | None"]


@dataclass(frozen=True)
class _ViewPlan:
    """One view of a ``get_online_features`` call: what to read and where the answers go."""

    table: FeatureView
    features: list[str]
    indexes: tuple[list[int], ...]
    output_len: int
    keys: list[EntityKeyProto]


def _plan_views(
    grouped_refs: list, join_key_values: dict, entity_name_to_join_key_map: dict
) -> list[_ViewPlan]:
    plans = []
    # Views keyed by the same join-key columns (usually all views of a call)
    # share one de-duplication and one list of keys, found once.
    shared: dict[tuple[tuple[str, int], ...], tuple[tuple[list[int], ...], int, list[EntityKeyProto]]] = {}
    for table, requested_features in grouped_refs:
        columns = utils._get_table_entity_values(table, entity_name_to_join_key_map, join_key_values)
        same_columns = tuple((name, id(values)) for name, values in columns.items())
        if same_columns not in shared:
            entity_values, indexes, output_len = utils._get_unique_entities(
                table, join_key_values, entity_name_to_join_key_map
            )
            shared[same_columns] = (indexes, output_len, utils._get_entity_key_protos(entity_values))
        plans.append(_ViewPlan(table, requested_features, *shared[same_columns]))
    return plans


def _populate(
    plans: list[_ViewPlan],
    reads: list[ViewRead | None],
    results: list[list[ValueRow]],
    response: Any,
    full_feature_names: bool,
    include_version_metadata: bool,
) -> None:
    for plan, read, rows in zip(plans, reads, results, strict=True):
        # A view never written has no layout; all its rows are absent, so no field is looked at.
        fields = [slot.field for slot in read.layout.features] if read else [""] * len(plan.features)
        populate(
            plan.features, fields, rows, plan.indexes, response, full_feature_names,
            plan.table, plan.output_len, include_version_metadata,
        )  # fmt: skip


class ChalkDynamoOnlineStore(OrdinaryReadOfPrecomputedServices, OnlineStore):
    """Feast online store on one compact DynamoDB table (see DESIGN.md)."""

    def __init__(self) -> None:
        super().__init__()
        # Engines this store holds, by configuration; released when the store
        # is closed or garbage-collected, whichever comes first. The finalizer
        # only queues them (see SharedEngines): it may run inside any lock.
        self._held: dict[str, Engine] = {}
        self._lock = threading.Lock()
        weakref.finalize(self, _release_later, self._held)

    # -- engine -------------------------------------------------------------

    def engine(self, config: RepoConfig) -> Engine:
        """The shared engine for this configuration, acquired on first use."""
        settings = _settings(config)
        key = settings.model_dump_json()
        engine = self._held.get(key)
        if engine is None:
            with self._lock:
                engine = self._held.get(key)
                if engine is None:
                    engine = ENGINES.acquire(settings)
                    self._held[key] = engine
        return engine

    def _ready_engine(self, config: RepoConfig) -> Engine:
        """The engine with its name mapping loaded and its namespace knobs checked, for reads and writes."""
        engine = self.engine(config)
        engine.ready()
        _check_namespaces(engine, config.project)
        return engine

    def _project_id(self, engine: Engine, project: str, allocate: bool) -> str | None:
        name = project_name(project)
        return engine.names.allocate(name) if allocate else engine.names.lookup(name)

    def _slots(
        self,
        engine: Engine,
        project: str,
        namespace: str,
        view: AnyView,
        features: Sequence[str],
        allocate: bool,
    ) -> tuple[FeatureSlot, ...]:
        by_name = {field.name: field for field in view.features}
        names = [feature_name(project, namespace, f, dtype_name(by_name[f])) for f in features]
        if allocate:
            allocated = engine.names.allocate_many(names)  # known names first: not in the order asked
            attrs: list[str | None] = [allocated[name] for name in names]
        else:
            attrs = [engine.names.lookup(name) for name in names]
        return tuple(
            FeatureSlot(feature, attr, value_field_for(by_name[feature].dtype.to_value_type()))
            for feature, attr in zip(features, attrs, strict=True)
        )

    # -- reads --------------------------------------------------------------

    def _view_read(
        self,
        engine: Engine,
        config: RepoConfig,
        view: AnyView,
        entity_keys: list[EntityKeyProto],
        requested: list[str] | None,
        encoded: dict[int, list[str]],
    ) -> ViewRead | None:
        """The layout and keys of one view, or None if nothing of it was ever written.

        ``encoded`` memoises the partition keys of each list of entity keys
        (by identity) across the views of one call: they usually share it.
        """
        resolved = self._layout(engine, config.project, _namespace(config, view), view, requested)
        if resolved is None:
            return None
        project_id, layout = resolved
        keys = encoded.get(id(entity_keys))
        if keys is None:
            keys = encoded[id(entity_keys)] = [encode_entity_key(project_id, key) for key in entity_keys]
        return ViewRead(layout, keys)

    def _layout(
        self, engine: Engine, project: str, namespace: str, view: AnyView, requested: list[str] | None
    ) -> tuple[str, ViewLayout] | None:
        """The project id and the view's layout, memoised per view object and requested features.

        Resolving costs a name per feature (escaping, lookups): 40 % of a
        cached read of 5 views × 12 features, profiled. Feast hands the same
        view objects to every read until its registry changes, and a layout
        holds while the name mapping's generation does; one with a feature
        never registered is not kept, so a later registration is found.
        A pinned version (``view@vN``) is a new object at every call, built
        from the registry's history: it is keyed by its definition instead
        (a pass over its features), so one version's layout never serves
        another's, nor an older definition of the same version.
        """
        features = None if requested is None else tuple(requested)
        pinned = getattr(view.projection, "version_tag", None) is not None
        identity = _definition(view) + (is_windowed(view),) if pinned else id(view)
        memo_key = (project, namespace, identity, features)
        generation = engine.names.generation
        found = engine.layouts.get(memo_key)
        if found is not None and (pinned or found[0] is view) and found[1] == generation:
            return found[2]
        resolved = self._resolve_layout(engine, project, namespace, view, requested)
        if resolved is not None and (is_windowed(view) or all(s.attr for s in resolved[1].features)):
            engine.layouts.put(memo_key, (None if pinned else view, generation, resolved))
        return resolved

    def _resolve_layout(
        self, engine: Engine, project: str, namespace: str, view: AnyView, requested: list[str] | None
    ) -> tuple[str, ViewLayout] | None:
        project_id = self._project_id(engine, project, allocate=False)
        namespace_id = engine.names.lookup(namespace_name(project, namespace))
        if project_id is None or namespace_id is None:
            return None
        every_feature = [f.name for f in view.features]
        features = requested if requested is not None else every_feature
        slots = self._slots(engine, project, namespace, view, features, allocate=False)
        every_registered = None
        if engine.local.caches(namespace):  # a cached row must serve any later request of the view
            every_slot = (
                slots
                if features is every_feature
                else self._slots(engine, project, namespace, view, every_feature, allocate=False)
            )
            every_registered = tuple(slot for slot in every_slot if slot.attr)
        layout = ViewLayout(
            ts_attr=ts_attr(namespace_id),
            values_attr=values_attr(namespace_id),
            ttl_seconds=_ttl_seconds(view) if engine.settings.chalk_style_expiry else 0,
            features=slots,
            view=namespace,
            every_feature=every_registered,
        )
        return project_id, layout

    def _read_views(
        self, config: RepoConfig, requests: Sequence[ViewRequest], rows: RowsFactory
    ) -> tuple[Engine, list[ViewRead | None], Coroutine[Any, Any, list[list[Any]]]]:
        """The engine, each view's layout and keys, and the coroutine that reads every view at once.

        Layouts are resolved here, in the caller's thread (a lazy name lookup
        may block); only the reads themselves run on the engine's loop.
        """
        engine = self._ready_engine(config)
        encoded: dict[int, list[str]] = {}
        reads = [self._view_read(engine, config, *request, encoded) for request in requests]
        windows = {
            index: window
            for index, (read, (view, _, requested)) in enumerate(zip(reads, requests, strict=True))
            if read is not None and (window := self._windowed_read(engine, config, view, requested, read))
        }

        windowed_reads = [(found, w) for i, w in windows.items() if (found := reads[i]) is not None]

        async def read() -> list[list[Any]]:
            now = int(engine.now() * 1_000_000)
            entity_read = engine.reader.read([r for r in reads if r is not None], rows)
            if windowed_reads:
                entity_rows, pages = await asyncio.gather(
                    entity_read, windowed.fetch_pages(engine, windowed_reads, now)
                )
            else:  # no tasks to gather: a read answered from the cache runs in one pass of the loop
                entity_rows, pages = await entity_read, {}
            fetched = iter(entity_rows)
            empty = (None, None)
            answered = [
                next(fetched) if r is not None else [empty] * len(request[1])
                for r, request in zip(reads, requests, strict=True)
            ]
            proto = rows is ProtoRows
            for (found, window), index in zip(windowed_reads, windows, strict=True):
                answered[index] = window.rows(found.keys, answered[index], pages, now, proto)
            return answered

        return engine, reads, read()

    def _windowed_read(
        self, engine: Engine, config: RepoConfig, view: AnyView, requested: list[str] | None, read: ViewRead
    ) -> windowed.WindowedRead | None:
        if not is_windowed(view):
            return None
        pages = windowed.page_layout(engine, config.project, read.layout.view, view)
        if pages is None:
            return None
        return windowed.WindowedRead.of(pages, view, requested or [f.name for f in view.features])

    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, ValueProto] | None]]:
        engine, _, read = self._read_views(config, [(table, entity_keys, requested_features)], ProtoRows)
        return engine.run(read)[0]

    async def online_read_async(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, ValueProto] | None]]:
        engine, _, read = self._read_views(config, [(table, entity_keys, requested_features)], ProtoRows)
        return (await engine.read_async(read))[0]

    def _is_versioned_read_supported(self) -> bool:
        """Feast lists the stores that may read ``view@vN``; each version here has its own namespace."""
        return True

    @property
    def async_supported(self) -> SupportedAsyncMethods:
        return SupportedAsyncMethods(read=True, write=True)

    def _read_features_per_fv(
        self,
        config: RepoConfig,
        grouped_refs: list,
        join_key_values: dict,
        entity_name_to_join_key_map: dict,
        online_features_response: Any,
        full_feature_names: bool,
        include_feature_view_version_metadata: bool,
    ) -> None:
        """All views of one ``get_online_features`` in one set of BatchGetItem calls.

        Feast's generic version reads view after view; here every view of the
        same entity shares one item, so one key per entity fetches them all.
        """
        plans, engine, reads, read = self._plan_reads(
            config, grouped_refs, join_key_values, entity_name_to_join_key_map
        )
        _populate(plans, reads, engine.run(read), online_features_response, full_feature_names,
                  include_feature_view_version_metadata)  # fmt: skip

    async def _read_features_per_fv_async(
        self,
        config: RepoConfig,
        grouped_refs: list,
        join_key_values: dict,
        entity_name_to_join_key_map: dict,
        online_features_response: Any,
        full_feature_names: bool,
        include_feature_view_version_metadata: bool,
    ) -> None:
        """The same single set of reads, awaited without parking the server's loop."""
        plans, engine, reads, read = self._plan_reads(
            config, grouped_refs, join_key_values, entity_name_to_join_key_map
        )
        _populate(plans, reads, await engine.read_async(read), online_features_response, full_feature_names,
                  include_feature_view_version_metadata)  # fmt: skip

    def _plan_reads(
        self, config: RepoConfig, grouped_refs: list, join_key_values: dict, join_key_map: dict
    ) -> tuple[list[_ViewPlan], Engine, list[ViewRead | None], Coroutine[Any, Any, list[list[ValueRow]]]]:
        """The views of a ``get_online_features`` call, and the one read that serves them all."""
        plans = _plan_views(grouped_refs, join_key_values, join_key_map)
        engine, reads, read = self._read_views(
            config, [(p.table, p.keys, p.features) for p in plans], ValueRows
        )
        return plans, engine, reads, read

    # -- writes -------------------------------------------------------------

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: WriteData,
        progress: Callable[[int], Any] | None,
    ) -> None:
        engine, write = self._write(config, table, data, progress)
        engine.run(write)

    async def online_write_batch_async(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: WriteData,
        progress: Callable[[int], Any] | None,
    ) -> None:
        engine, write = self._write(config, table, data, progress)
        await engine.run_async(write)

    def _write(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: WriteData,
        progress: Callable[[int], Any] | None,
    ) -> tuple[Engine, Coroutine[Any, Any, WriteStats | None]]:
        """The engine and the coroutine writing ``data``; layouts are resolved in the caller's thread."""
        engine = self._ready_engine(config)
        layout = self._write_layout(engine, config, table)
        if is_windowed(table):
            return engine, self._events_written(engine, config, table, layout, data, progress)
        return engine, self._rows_written(engine, config, layout, data, progress)

    def _events_written(
        self,
        engine: Engine,
        config: RepoConfig,
        view: FeatureView,
        layout: WriteLayout,
        data: WriteData,
        progress: Callable[[int], Any] | None,
    ) -> Coroutine[Any, Any, None]:
        """A windowed view's push: its events into their buckets, then each entity's newest event time
        onto its item (so a reader sees the entity present only once its buckets hold the events)."""
        pages = self._page_layout(engine, config, view, layout)
        events = self._events(engine, config, pages, data)

        async def written() -> None:
            now = int(engine.now() * 1_000_000)
            await engine.aggregates.add(pages, events, now)
            oldest = (pages.spec.bucket_of(now) - pages.spec.longest_buckets + 1) * pages.spec.hop_ms * 1000
            newest: dict[str, int] = {}  # each entity's newest event that is not late: its position
            for position, event in enumerate(events):
                current = newest.get(event.key)
                if event.micros >= oldest and (current is None or event.micros > events[current].micros):
                    newest[event.key] = position
            rows = [
                EntityRow(key, data[position][1], micros_to_datetime(events[position].micros))
                for key, position in newest.items()
            ]
            await self._written_through(engine, layout, rows, None)  # drops the cached pages too
            if progress:
                progress(len(data))

        return written()

    def _page_layout(
        self, engine: Engine, config: RepoConfig, view: FeatureView, layout: WriteLayout
    ) -> PageLayout:
        pages = windowed.page_layout(engine, config.project, layout.view, view)
        assert pages is not None  # _write_layout registered the view
        return pages

    def _events(self, engine: Engine, config: RepoConfig, pages: PageLayout, data: WriteData) -> list[Event]:
        """Feast's rows of a windowed view as events of its entities' partition keys."""
        project_id = self._project_id(engine, config.project, allocate=True)
        assert project_id is not None
        keys = [encode_entity_key(project_id, key) for key, *_ in data]
        return windowed.events(pages.spec, keys, data)

    def set_buckets(
        self, config: RepoConfig, view: FeatureView, chunks: Iterable[WriteData], buckets: range
    ) -> WholeBuckets:
        """A backfill of a windowed view: the buckets ``buckets`` set from every event they hold.

        ``chunks``: Feast's rows (as a push hands them over) holding every
        event of those buckets, folded alike. Each bucket with an event is set
        whole, replacing what it held, not added to; one without is left as
        it is. Then each entity's newest event time goes onto its item, as a
        push's does, with its raw columns (guarded as ``config``'s writes are). Written a slice of
        entities at a time, each slice's buckets before its items.
        """
        engine = self._ready_engine(config)
        layout = self._write_layout(engine, config, view)
        pages = self._page_layout(engine, config, view, layout)
        whole = WholeBuckets(pages.spec, buckets)
        newest_values: dict[str, dict[str, ValueProto]] = {}  # the raw columns of each newest event
        for data in chunks:
            events = self._events(engine, config, pages, data)
            whole.add(events)
            for event, (_, values, *_) in zip(events, data, strict=True):
                if whole.newest.get(event.key) == event.micros:
                    newest_values[event.key] = values
        keys = sorted(whole.newest)
        by_key: dict[str, dict[tuple[str, int], Parts]] = {}
        for (key, bucket), parts in whole.parts.items():
            by_key.setdefault(key, {})[(key, bucket)] = parts
        for start in range(0, len(keys), SET_ENTITIES):
            chunk = keys[start : start + SET_ENTITIES]
            rows = [
                EntityRow(key, newest_values[key], micros_to_datetime(whole.newest[key])) for key in chunk
            ]
            entity_buckets = {found: parts for key in chunk for found, parts in by_key[key].items()}
            engine.run(self._set_then_observed(engine, layout, pages, entity_buckets, rows))
        return whole

    async def _set_then_observed(
        self,
        engine: Engine,
        layout: WriteLayout,
        pages: PageLayout,
        buckets: dict[tuple[str, int], Parts],
        rows: list[EntityRow],
    ) -> None:
        await engine.aggregates.set(pages, buckets)
        await self._written_through(engine, layout, rows, None)  # drops the cached pages too

    def write_layout(self, config: RepoConfig, view: FeatureView) -> WriteLayout:
        """The layout ``online_write_batch`` writes ``view`` with: its namespace registered, its ids
        allocated. ``migrate`` merges the layouts of the definitions that read one namespace."""
        engine = self._ready_engine(config)
        return self._write_layout(engine, config, view)

    def write_with_layout(
        self, config: RepoConfig, layout: WriteLayout, data: WriteData, progress: Callable[[int], Any] | None
    ) -> WriteStats:
        """``online_write_batch`` with a layout made of ``write_layout``'s: each row's values are keyed
        as ``layout.features`` is. What this call wrote and skipped (calls may run at once)."""
        engine = self._ready_engine(config)
        return engine.run(self._rows_written(engine, config, layout, data, progress))

    def _rows_written(
        self,
        engine: Engine,
        config: RepoConfig,
        layout: WriteLayout,
        data: WriteData,
        progress: Callable[[int], Any] | None,
    ) -> Coroutine[Any, Any, WriteStats]:
        project_id = self._project_id(engine, config.project, allocate=True)
        assert project_id is not None
        rows = [
            EntityRow(encode_entity_key(project_id, key), values, event_ts)
            for key, values, event_ts, _ in data
        ]
        return self._written_through(engine, layout, rows, progress)

    async def _written_through(
        self,
        engine: Engine,
        layout: WriteLayout,
        rows: list[EntityRow],
        progress: Callable[[int], Any] | None,
    ) -> WriteStats:
        """Write, with this process's cache and Bloom filter kept in step.

        The Bloom filter learns the keys before any lands (a reader may see a
        false positive, never a false negative); the cache drops them once the
        write has ended, landed or not: a write that failed part-way may have
        changed any of them.
        """
        keys = [row.key for row in rows]
        if engine.local.publishes(layout.view):
            await asyncio.get_running_loop().run_in_executor(
                engine.pool, engine.local.before_write, layout.view, layout.ts_attr, keys
            )
        try:
            return await engine.writer.write(layout, rows, progress)
        finally:
            engine.local.written(layout.view, keys)

    def _write_layout(self, engine: Engine, config: RepoConfig, view: AnyView) -> WriteLayout:
        """Where a row of ``view`` goes, memoised while the name mapping's state holds.

        Keyed by the view's definition, not the object: Feast builds a new
        view object for every push.
        """
        project, namespace = config.project, _namespace(config, view)
        memo_key = ("write", project, namespace, *_definition(view), tuple(_join_keys(view)))
        generation = engine.names.generation
        found = engine.layouts.get(memo_key)
        if found is not None and found[0] == generation:
            layout: WriteLayout = found[1]
            return layout
        live = engine.names.live_namespaces(project)
        if namespace not in live:
            self._register_view(engine, config, view)
            engine.names.bump_generation()
            live = engine.names.live_namespaces(project)
        # A windowed view's entity item holds its newest pushed row of raw columns: outputs are on pages.
        windowed_view = is_windowed(view)
        fields = windowed.raw_columns(view) if windowed_view else view.features
        slots = self._slots(engine, project, namespace, view, [f.name for f in fields], allocate=True)
        namespace_id = live[namespace].id
        written = [slot.attr for slot in slots if slot.attr]
        clear = engine.names.ids_to_clear(project, namespace, written)
        if windowed_view:  # the parts' ids are on pages, never on the entity item
            parts = windowed.page_layout(engine, project, namespace, view)
            clear = [attr for attr in clear if parts is None or attr not in parts.positions]
        layout = WriteLayout(
            view=namespace,
            ts_attr=ts_attr(namespace_id),
            values_attr=values_attr(namespace_id),
            features={slot.name: slot for slot in slots},
            item_ttl_seconds=self._item_ttl(engine, live, view),
            view_names={ts_attr(info.id): name for name, info in live.items()},
            clear_attrs=tuple(clear),
        )
        engine.layouts.put(memo_key, (generation, layout))
        return layout

    def _item_ttl(self, engine: Engine, live: dict[str, NamespaceInfo], view: AnyView) -> int | None:
        """How long an item written now may live: None (never expire) unless Chalk-style expiry is on
        and every view that can share the item has a ttl; then the longest of them."""
        if not engine.settings.chalk_style_expiry:
            return None
        keys = tuple(_join_keys(view))
        ttls = [info.ttl_seconds for info in live.values() if info.join_keys == keys]
        return max(ttls) if ttls and all(ttls) else None

    def namespace_counters(self, config: RepoConfig) -> dict[str, dict[str, int]]:
        """Per feature view: cache hits and misses, evictions, Bloom skips and mistakes, reads saved.

        A snapshot of running totals since the engine started; shared by every
        store of the process with the same configuration.
        """
        return self.engine(config).local.counters.snapshot()

    def metrics_snapshot(self, config: RepoConfig) -> dict[str, dict[str, float]]:
        """This process's Prometheus metrics for the config's table (README "Metrics"), as plain numbers.

        Process-wide, unlike ``namespace_counters``: every engine on the table adds to them.
        """
        return metrics.snapshot(_settings(config).table_name)

    # -- lifecycle ----------------------------------------------------------

    def _register_view(self, engine: Engine, config: RepoConfig, view: AnyView) -> None:
        """Register the view's namespace with its features; unless versioned, retire the features it lost.

        With versioning on, a namespace is one version and its schema never
        shrinks (a schema change is a new version), so nothing is retired.
        That matters because Feast 0.67 resets the current version to 0 when
        an unchanged view is applied again: version 0's namespace is then
        registered with the current schema, and retiring would lose version
        0's other features, which ``view@v0`` still reads.
        """
        if is_windowed(view):
            features = windowed.registered_names(view)
        else:
            features = [(field.name, dtype_name(field)) for field in view.features]
        engine.names.register_view(
            config.project, _namespace(config, view), _ttl_seconds(view), _join_keys(view), features,
            retire_others=not config.registry.enable_online_feature_view_versioning,
        )  # fmt: skip

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[FeatureView],
        tables_to_keep: Sequence[Any],
        entities_to_delete: Sequence[Entity],
        entities_to_keep: Sequence[Entity],
        partial: bool,
    ) -> None:
        # Feast validates no registry path: unset, its variable would name a registry file "${NAME}".
        refuse_unset_variables("registry", config.registry.path)
        for view in tables_to_keep:  # refused before anything changes: every windowed view can be kept
            if is_windowed(view):
                windowed.spec_of(view)
        engine = self.engine(config)
        engine.admin.ensure()
        engine.ready(fresh=True)  # another process may have changed the mapping a moment ago
        project = config.project
        had_data = engine.names.lookup(project_name(project)) is not None
        project_id = self._project_id(engine, project, allocate=True)
        assert project_id is not None
        for view in tables_to_keep:
            if _has_online_data(view):
                self._register_view(engine, config, view)
        for view in tables_to_delete:
            for namespace in _every_version(engine, project, view.name):
                self._remove_view(engine, project, project_id, namespace)
        _check_namespaces(engine, project)
        engine.expiry.follow(
            project, project_id, engine.names.live_namespaces(project), engine.settings.chalk_style_expiry,
            scan=had_data,
        )  # fmt: skip
        engine.names.bump_generation()

    def _remove_view(self, engine: Engine, project: str, project_id: str, view: str) -> None:
        live = engine.names.live_namespaces(project)
        removed = live.get(view)
        if removed is None:
            engine.names.retire_view(project, view)  # names left by an interrupted removal
            return
        features = engine.names.items_with_prefix(view_features_prefix(project, view))
        feature_items_names = list(features)
        feature_ids = [short for item in features.values() for short in attribute_ids(item)]
        # Only views keyed like the removed one can share its items.
        siblings = [
            ts_attr(info.id)
            for name, info in live.items()
            if name != view and info.join_keys == removed.join_keys
        ]
        engine.admin.remove_attributes(
            project_prefix(project_id),
            ts_attr(removed.id),
            [values_attr(removed.id), *feature_ids],
            siblings,
        )
        if any(name.endswith("/" + windowed.PART_DTYPE) for name in feature_items_names):
            engine.admin.delete_sorted_under(project_prefix(project_id), pages_prefix(removed.id))
        engine.admin.delete_partition(bloom_pk(removed.id))
        engine.names.retire_view(project, view)

    def teardown(self, config: RepoConfig, tables: Sequence[FeatureView], entities: Sequence[Entity]) -> None:
        """Delete this project's items and names; drop the table only if we made it and it is empty."""
        engine = self.engine(config)
        if not engine.admin.exists():
            self.close_engines()
            return
        engine.ready(fresh=True)  # a cached project id may be another apply's: look at the table
        project = config.project
        project_id = engine.names.lookup(project_name(project))
        if project_id is not None:
            engine.admin.delete_items(project_prefix(project_id))
            namespaces = engine.names.names_with_prefix(namespace_prefix(project))
            for namespace_id in namespaces.values():
                engine.admin.delete_partition(bloom_pk(namespace_id))
            features = engine.names.items_with_prefix(project_features_prefix(project))  # retired ones too
            engine.names.forget([*features, *namespaces, project_name(project), expiry_state_name(project)])
            engine.names.bump_generation()
        engine.admin.drop_if_ours_and_empty()
        self.close_engines()

    def close_engines(self) -> None:
        """Give back this store's engines; the last user of one shuts its pools down."""
        _release_all(self._held, self._lock)

    async def close(self) -> None:
        self.close_engines()


def _every_version(engine: Engine, project: str, view: str) -> list[str]:
    """The namespaces of a removed view: its bare name (also to clear what an interrupted removal
    left) and every version's, which Feast no longer reads once the view is gone."""
    live = engine.names.live_namespaces(project)
    return [view, *sorted(n for n in live if n != view and unversioned_view_name(n) == view)]


def _check_namespaces(engine: Engine, project: str) -> None:
    def timestamp_attributes() -> dict[str, str]:
        return {name: ts_attr(info.id) for name, info in engine.names.live_namespaces(project).items()}

    engine.local.check_namespaces(project, timestamp_attributes)


def _release_later(held: dict[str, Engine]) -> None:
    ENGINES.release_later(held.values())


def _release_all(held: dict[str, Engine], lock: threading.Lock) -> None:
    with lock:
        engines = list(held.values())
        held.clear()
    for engine in engines:
        ENGINES.release(engine)
