"""The face of windowed views: Feast's stream feature views with aggregations, as buckets and back.

Feast hands such a view's pushes to ``online_write_batch`` as raw events
(its output columns null) and asks ``get_online_features`` for its output
features; no Feast engine computes them. Here a push folds its events into
the view's buckets (``aggregates.writer``) and writes each entity's newest
event as its row on the entity item: the view's observed-at time and its
raw columns (as Feast's stores answer a pushed view's columns: the newest
row pushed). A read fetches the entity items (status, event time, raw
columns; caches and Bloom filters apply) and the bucket pages of the longest
window together, and merges each output for the time of the read
(``aggregates.windows``).
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
from feast_chalk_dynamo.items.slots import datetime_to_micros, micros_to_datetime
from feast_chalk_dynamo.local.cache import NamespaceCache
from feast_chalk_dynamo.reads.decoders import Lacking
from feast_chalk_dynamo.reads.reader import ViewRead
from feast_chalk_dynamo.writes import EntityRow

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


def raw_columns(view: Any) -> list[str]:
    """The view's features that are no output (the raw columns): the entity item holds their newest row.

    Not its join keys: the view Feast hands a push (read back from the
    registry) lists them among its features, the one it applies does not.
    """
    outputs = {output.name for output in spec_of(view).outputs}
    outputs |= {column.name for column in view.entity_columns}
    return [field.name for field in view.features if field.name not in outputs]


def registered_features(view: Any) -> list[tuple[str, str]]:
    """What the name mapping keeps for a windowed view: its raw columns and its bucket parts (its outputs
    are on no item)."""
    raw = set(raw_columns(view))
    features = [(field.name, dtype_name(field)) for field in view.features if field.name in raw]
    return features + [(part.name, PART_DTYPE) for part in spec_of(view).parts]


def newest_rows(
    found: dict[str, EntityRow],
    keys: Sequence[str],
    data: Sequence[Any],
    since: int,
    until: int | None = None,
) -> dict[str, EntityRow]:
    """Each entity's newest event of ``data`` in [``since``, ``until``) (µs) as its entity row, into
    ``found`` (the newest of earlier chunks): its time, the view's observed-at time; its values, the raw
    columns'. Of events equally new, the later one, as a later push would have it."""
    for key, (_, values, event_ts, _) in zip(keys, data, strict=True):
        micros = datetime_to_micros(event_ts)
        if micros < since or (until is not None and micros >= until):
            continue
        held = found.get(key)
        if held is None or micros >= datetime_to_micros(held.event_ts):
            found[key] = EntityRow(key, values, micros_to_datetime(micros))
    return found


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
        """Each entity's row: absent as the entity item said, else its outputs for now and its raw
        columns as the entity item has them (one it lacks stays lacking: NOT_FOUND)."""
        merged: list[Any] = []
        for key, (stamp, row) in zip(keys, found, strict=True):
            if row is None:
                merged.append((stamp, row))
                continue
            values = outputs(self.layout, self.fields, self.wanted, pages, key, now_micros)
            if proto:
                features: dict[str, ValueProto] = {}
                slots = zip(self.names, self.wanted, self.fields, values, strict=True)
                for name, output, field, value in slots:
                    if output is not None:
                        features[name] = ValueProto(**({field: value} if value is not None else {}))
                    elif name in row:
                        features[name] = row[name]
                merged.append((stamp, features))
                continue
            for slot, output in enumerate(self.wanted):
                if output is None:
                    values[slot] = row[slot]
            # The outputs have no attribute on the item, so the row always lacks them: only a raw
            # column the item lacks is lacking.
            lacking = [slot for slot in getattr(row, "missing", ()) if self.wanted[slot] is None]
            merged.append((stamp, Lacking.of(values, lacking) if lacking else values))
        return merged


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
    fills: list[tuple[NamespaceCache, int, frozenset[str], list[str]]] = []
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
                for sort_key, item in (pages or {}).items():
                    found[(key, page_index(sort_key))] = item
            keys = [key for key in keys if key not in cached]
            fills.append((cache, ticket, sort_keys, keys))
        wanted += [(key, sort_key) for key in keys for sort_key in sort_keys]
    try:
        items = await engine.reader.fetch_items(wanted) if wanted else []
    except BaseException:
        for cache, ticket, _, _ in fills:
            cache.done(ticket)
        raise
    fetched: dict[str, dict[str, Item]] = {}
    for item in items:
        key, sort_key = item[PK]["S"], item[SK]["S"]
        found[(key, page_index(sort_key))] = item
        fetched.setdefault(key, {})[sort_key] = item
    for cache, ticket, sort_keys, missing in fills:
        kept = {key: {s: i for s, i in fetched.get(key, {}).items() if s in sort_keys} for key in missing}
        cache.fill(ticket, sort_keys, kept)
    return found
