"""The face of windowed views: Feast's stream feature views with aggregations, as buckets and back.

Feast hands such a view's pushes to ``online_write_batch`` as raw events
(its output columns null) and asks ``get_online_features`` for its output
features; no Feast engine computes them. Here a push folds its events into
the view's buckets (``aggregates.writer``) and sets the view's observed-at
time on the entity item, the newest event's; a read fetches the entity
items (status, event time; caches and Bloom filters apply) and the bucket
pages of the longest window together, and merges each output for the time
of the read (``aggregates.windows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feast_chalk_dynamo.aggregates.pages import Item, PageLayout
from feast_chalk_dynamo.aggregates.partials import SKETCH_MAX_BYTES
from feast_chalk_dynamo.aggregates.spec import Output, WindowedView, windowed_view
from feast_chalk_dynamo.aggregates.windows import outputs
from feast_chalk_dynamo.aggregates.writer import Event
from feast_chalk_dynamo.dynamo.tables import PK, SK
from feast_chalk_dynamo.engine import Engine
from feast_chalk_dynamo.errors import InvalidWindowedView
from feast_chalk_dynamo.items.codec import value_field_for
from feast_chalk_dynamo.items.names import dtype_name, feature_name, namespace_name
from feast_chalk_dynamo.items.slots import datetime_to_micros
from feast_chalk_dynamo.local.answers import PAGES
from feast_chalk_dynamo.local.cache import NamespaceCache
from feast_chalk_dynamo.local.counters import NamespaceCounters
from feast_chalk_dynamo.reads.decoders import Lacking
from feast_chalk_dynamo.reads.reader import ViewRead

# The dtype the name mapping files a bucket part under: parts are no Feast features.
PART_DTYPE = "PART"


def spec_of(view: Any) -> WindowedView:
    """The view's buckets; ``InvalidWindowedView`` (at ``feast apply``) when it cannot have them."""
    spec = windowed_view(view, SKETCH_MAX_BYTES)
    by_name = {field.name: field for field in view.features}
    for output in spec.outputs:
        type_name = by_name[output.name].dtype.to_value_type().name
        if type_name not in ("INT32", "INT64", "FLOAT", "DOUBLE"):
            raise InvalidWindowedView(
                f"view {view.name!r}: output feature {output.name!r} is declared {type_name}; "
                "declare it Int64 or Float64 (Int32, Float32 too)"
            )
    return spec


def registered_names(view: Any) -> list[tuple[str, str]]:
    """What the name mapping keeps for a windowed view: its raw columns (whose newest pushed row the
    entity item holds, as Feast's stores keep a view's row) and its bucket parts; no output."""
    spec = spec_of(view)
    raw = [(field.name, dtype_name(field)) for field in raw_columns(view, spec)]
    return [*raw, *((part.name, PART_DTYPE) for part in spec.parts)]


def raw_columns(view: Any, spec: WindowedView | None = None) -> list[Any]:
    """The view's schema fields that are neither an output nor a join key: read as the newest pushed row.

    (Feast 0.67 lists a stream feature view's join keys among its features once
    the view has been through its registry, though not before.)
    """
    skipped = {output.name for output in (spec or spec_of(view)).outputs}
    skipped.update(column.name for column in view.entity_columns)
    return [field for field in view.features if field.name not in skipped]


def page_layout(engine: Engine, project: str, namespace: str, view: Any) -> PageLayout | None:
    """The view's pages as registered (None if the view never was), memoised while the mapping holds."""
    spec = spec_of(view)
    memo_key = ("pages", project, namespace, spec)
    generation = engine.names.generation
    found = engine.layouts.get(memo_key)
    if found is not None and found[0] == generation:
        layout: PageLayout = found[1]
        return layout
    namespace_id = engine.names.lookup(namespace_name(project, namespace))
    part_ids = {
        part: engine.names.lookup(feature_name(project, namespace, part.name, PART_DTYPE))
        for part in spec.parts
    }
    if namespace_id is None or any(part_id is None for part_id in part_ids.values()):
        return None
    layout = PageLayout(spec, namespace_id, {part: part_id for part, part_id in part_ids.items() if part_id})
    engine.layouts.put(memo_key, (generation, layout))
    return layout


def events(spec: WindowedView, keys: Sequence[str], data: Sequence[Any]) -> list[Event]:
    """Feast's rows (entity key, values, event time, created) as raw events of the view's columns."""
    columns = spec.columns
    found = []
    for key, (_, values, event_ts, _) in zip(keys, data, strict=True):
        plain = {}
        for column in columns:
            value = values.get(column)
            field = value.WhichOneof("val") if value is not None else None
            plain[column] = getattr(value, field) if field and field != "null_val" else None
        found.append(Event(key, datetime_to_micros(event_ts), plain))
    return found


@dataclass(frozen=True)
class WindowedRead:
    """One windowed view of a read: its pages, and for each requested feature the output and field."""

    layout: PageLayout
    wanted: tuple[Output | None, ...]
    fields: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, layout: PageLayout, view: Any, requested: Sequence[str]) -> WindowedRead:
        by_output = {output.name: output for output in layout.spec.outputs}
        by_field = {field.name: field for field in view.features}
        fields = tuple(value_field_for(by_field[name].dtype.to_value_type()) for name in requested)
        return cls(layout, tuple(by_output.get(name) for name in requested), fields, tuple(requested))

    def sort_keys(self, now_micros: int) -> frozenset[str]:
        """The sort keys of the pages the longest window ending now touches."""
        spec = self.layout.spec
        pages = spec.pages_for(spec.bucket_of(now_micros), spec.longest_buckets)
        return frozenset(self.layout.sort_key(page) for page in pages)

    def rows(
        self,
        keys: Sequence[str],
        found: Sequence[Any],
        pages: dict[tuple[str, int], Any],
        now_micros: int,
        proto: bool,
    ) -> list[Any]:
        """Each entity's row: absent as the entity item said, else its outputs for now with the raw
        columns as read (one the row lacks stays not found)."""
        merged: list[Any] = []
        for key, (stamp, row) in zip(keys, found, strict=True):
            if row is None:
                merged.append((stamp, row))
                continue
            values = outputs(self.layout, self.fields, self.wanted, pages, key, now_micros)
            merged.append((stamp, self._with_outputs(row, values, proto)))
        return merged

    def _with_outputs(self, row: Any, values: list[Any], proto: bool) -> Any:
        wanted = self.wanted
        if proto:
            row = dict(row)
            for name, field, output, value in zip(self.names, self.fields, wanted, values, strict=True):
                if output is not None:
                    row[name] = ValueProto(**({field: value} if value is not None else {}))
            return row
        combined = [
            raw if output is None else value for output, value, raw in zip(wanted, values, row, strict=True)
        ]
        missing = [slot for slot in row.missing if wanted[slot] is None] if type(row) is Lacking else []
        return Lacking.of(combined, missing) if missing else combined


def page_index(sort_key: str) -> int:
    """The page a page item's sort key names (``<namespace id>@<geometry>:<page>``)."""
    return int(sort_key.rpartition(":")[2])


async def fetch_pages(
    engine: Engine, reads: Sequence[tuple[ViewRead, WindowedRead]], now_micros: int
) -> dict[tuple[str, int], Item]:
    """The pages of every windowed view of a read, by (partition key, page), in one set of requests.

    Entities a view's Bloom filter has never seen are not asked for; a cached
    view's pages come from its page cache where it has them (a window is
    still merged for the time of each read), and what is fetched fills it.
    """
    wanted: list[tuple[str, str]] = []
    found: dict[tuple[str, int], Item] = {}
    fills: list[tuple[NamespaceCache, NamespaceCounters, int, frozenset[str], list[str]]] = []
    for read, window in reads:
        keys = list(dict.fromkeys(read.keys))
        known = engine.local.filter_for(read.layout.view, read.layout.ts_attr)
        if known is not None:
            keys = [key for key, maybe in zip(keys, known.may_contain(keys), strict=True) if maybe]
        sort_keys = window.sort_keys(now_micros)
        cache = engine.local.pages(read.layout.view)
        if cache is not None:
            ticket = cache.ticket()
            cached = cache.lookup(keys, sort_keys)
            for key, pages in cached.items():
                for sort_key, item in pages.items():
                    found[(key, page_index(sort_key))] = item
            counters = engine.local.counters[read.layout.view + PAGES]
            counters.add(cache_hits=len(cached), misses=len(keys) - len(cached))
            keys = [key for key in keys if key not in cached]
            fills.append((cache, counters, ticket, sort_keys, keys))
        wanted += [(key, sort_key) for key in keys for sort_key in sort_keys]
    try:
        items = await engine.reader.fetch_items(wanted) if wanted else []
    except BaseException:
        for cache, _, ticket, _, _ in fills:
            cache.done(ticket)
        raise
    fetched: dict[str, dict[str, Item]] = {}
    for item in items:
        key, sort_key = item[PK]["S"], item[SK]["S"]
        found[(key, page_index(sort_key))] = item
        fetched.setdefault(key, {})[sort_key] = item
    for cache, counters, ticket, sort_keys, missing in fills:
        kept = {key: {s: i for s, i in fetched.get(key, {}).items() if s in sort_keys} for key in missing}
        evicted = cache.fill(ticket, sort_keys, kept)
        if evicted:
            counters.add(evictions=evicted)
    return found
