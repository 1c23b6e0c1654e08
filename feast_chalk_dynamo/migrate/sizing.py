"""``--dry-run``'s figures: bytes and capacity units in Feast's tables and, after, in this store's.

Before, every item is measured as scanned. After, each row is encoded as a
write would encode it (``RowEncoder``: native types, short attribute ids, the
view's timestamp) and the rows of an entity are summed onto one item, by
DynamoDB's size rules (``codec.item_size``), by ``planning.item_sizes``. Attribute ids are the ones
``feast apply`` allocated in this store's table; a dry run allocates nothing,
so an id not allocated yet is counted at 3 characters (the table's first
46,656 ids have at most 3), which overstates by a byte or two per feature.

Capacity units by DynamoDB's billing rules (``capacity``), per entity:

* reading every view: Feast reads one item per view, each at least half a
  unit, an absent one too; this store reads the one item;
* writing every view: Feast puts one item per view; this store updates the
  one item, charged on its whole size, so later views pay for earlier ones.
  "From empty" is a first load such as this migration (each view's write
  charged on the item as it grows); "full" is a later materialization, each
  view's write charged on the item holding every view. Transactional bulk
  writes (``check_ts_for_bulk_writes``) cost twice these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from feast_chalk_dynamo.planning import capacity


@dataclass
class TableSizes:
    """One of Feast's tables as scanned."""

    items: int = 0
    bytes: int = 0


@dataclass
class _Entity:
    key_bytes: int
    feast_items: list[int] = field(default_factory=list)
    our_parts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Estimate:
    """Totals and per-entity averages of one set of views keyed alike."""

    entities: int
    feast_items: int
    feast_bytes: int
    our_items: int
    our_bytes: int
    read_units_before: float
    read_units_after: float
    write_units_before: float
    write_units_after_from_empty: float
    write_units_after_full: float


class Sizes:
    """The dry run's accounting for views sharing join keys (not thread-safe: callers hold a lock)."""

    def __init__(self, n_views: int, consistent_reads: bool) -> None:
        self.tables: dict[str, TableSizes] = {}
        self._n_views = n_views
        self._consistent = consistent_reads
        self._entities: dict[str, _Entity] = {}

    def count_item(self, table: str, item_bytes: int) -> None:
        """One item of Feast's ``table``, whether or not its entity resolves."""
        sizes = self.tables.setdefault(table, TableSizes())
        sizes.items += 1
        sizes.bytes += item_bytes

    def add_row(
        self, entity_id: str, feast_item_bytes: int, key_bytes: Callable[[], int], our_part: int
    ) -> None:
        """A resolved row: its item in Feast's table, and what it adds to this store's entity item
        (``key_bytes``: the size of the item's key, asked for once per entity)."""
        entity = self._entities.get(entity_id)
        if entity is None:
            entity = self._entities[entity_id] = _Entity(key_bytes())
        entity.feast_items.append(feast_item_bytes)
        entity.our_parts.append(our_part)

    def estimate(self) -> Estimate:
        entities = list(self._entities.values())
        n = max(1, len(entities))
        ours = [e.key_bytes + sum(e.our_parts) for e in entities]
        read = capacity.read_units
        return Estimate(
            entities=len(entities),
            feast_items=sum(t.items for t in self.tables.values()),
            feast_bytes=sum(t.bytes for t in self.tables.values()),
            our_items=len(entities),
            our_bytes=sum(ours),
            read_units_before=sum(
                sum(read(b, self._consistent) for b in e.feast_items)
                + (self._n_views - len(e.feast_items)) * read(0, self._consistent)
                for e in entities
            ) / n,
            read_units_after=sum(read(b, self._consistent) for b in ours) / n,
            write_units_before=sum(sum(map(capacity.write_units, e.feast_items)) for e in entities) / n,
            write_units_after_from_empty=sum(_from_empty(e) for e in entities) / n,
            write_units_after_full=sum(
                len(e.our_parts) * capacity.write_units(size) for e, size in zip(entities, ours, strict=True)
            ) / n,
        )  # fmt: skip


def _from_empty(entity: _Entity) -> int:
    """Write units of writing an entity's views one after another onto an item that grows."""
    size, units = entity.key_bytes, 0
    for part in entity.our_parts:
        size += part
        units += capacity.write_units(size)
    return units
