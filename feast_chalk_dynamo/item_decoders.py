"""Fetched items to rows, in the two shapes the store hands on.

``ProtoRows`` gives Feast's ``online_read`` rows: an event time and a dict of
``Value`` messages. ``ValueRows`` gives what ``response.populate`` fills a
response from column by column: the observed-at time in µs and the values in
slot order, each a plain value where the field has one (``codec.PLAIN_PAYLOADS``:
a float for a double, a list of ints for a list of int64), else a ``Value``,
or None for a null. Building 10,000 ``Value`` messages only to copy them into
a response costs about as much as fetching them; plain values skip that.

Both treat a view's data older than its ttl as absent: ``(None, None)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

from feast_chalk_dynamo.codec import PLAIN_PAYLOADS, UNUSUAL, decoder_for
from feast_chalk_dynamo.layout import PK
from feast_chalk_dynamo.reader import FeatureSlot, Item, ViewRead, micros_to_datetime
from feast_chalk_dynamo.value_columns import as_values

ValueRow = tuple["int | None", "list[Any] | None"]  # (observed-at µs | None, values in slot order | None)


class ValueRows:
    """Each item to one ``ValueRow`` per requested view."""

    def __init__(self, requests: Sequence[ViewRead], now: float) -> None:
        # The per-view work, done once per read: the time attribute, the oldest live time, the decoder.
        self._views = [
            (
                request.layout.ts_attr,
                request.layout.values_attr,
                (now - request.layout.ttl_seconds) * 1_000_000 if request.layout.ttl_seconds else None,
                _values_decoder(request.layout.features),
            )
            for request in requests
        ]

    def decode(self, items: list[Item]) -> dict[str, list[Any]]:
        return {item[PK]["S"]: [_row(item, *view) for view in self._views] for item in items}


class ProtoRows(ValueRows):
    """Each item to Feast's ``online_read`` row per requested view: ``(datetime, {name: Value})``.

    Value rows first, then made ``Value`` messages a column at a time.
    """

    def __init__(self, requests: Sequence[ViewRead], now: float) -> None:
        super().__init__(requests, now)
        self._slots = [
            (
                [slot.name for slot in request.layout.features],
                [slot.field for slot in request.layout.features],
            )
            for request in requests
        ]

    def decode(self, items: list[Item]) -> dict[str, list[Any]]:
        rows = super().decode(items)
        for view, (names, fields) in enumerate(self._slots):
            found = [per_view for per_view in rows.values() if per_view[view][1] is not None]
            columns = zip(*[per_view[view][1] for per_view in found], strict=True)
            messages = [as_values(field, column) for field, column in zip(fields, columns, strict=False)]
            by_row = zip(*messages, strict=True) if messages else repeat(())
            for per_view, values in zip(found, by_row, strict=False):
                per_view[view] = micros_to_datetime(per_view[view][0]), dict(zip(names, values, strict=True))
        return rows


def _attr(slot: FeatureSlot) -> str:
    # DynamoDB forbids empty attribute names, so a feature never registered
    # (no attribute) is looked up under "" and always reads as null.
    return slot.attr or ""


def _row(
    item: Item, ts_attr: str, values_attr: str, oldest: float | None, decode: Callable[[Item, int], ValueRow]
) -> ValueRow:
    stamp = item.get(ts_attr)
    if stamp is None:
        return None, None
    micros = int(stamp["N"])
    if oldest is not None and micros < oldest:  # older than the view's ttl (Chalk-style expiry)
        return None, None
    # A row too wide to SET attribute by attribute was written as one map; when
    # present it is the newest row (see layout.values_attr).
    packed = item.get(values_attr)
    return decode(packed["M"] if packed is not None else item, micros)


def _values_decoder(features: Sequence[FeatureSlot]) -> Callable[[Item, int], ValueRow]:
    general = [(_attr(slot), decoder_for(slot.field)) for slot in features]

    def values_of(item: Item, micros: int) -> ValueRow:
        get = item.get
        return micros, [
            decode(stored) if (stored := get(attr)) is not None else None for attr, decode in general
        ]

    # A view of strings, lists and a map besides its numbers is as common as
    # one of numbers alone: every field with a plain form takes this path, so
    # one list feature does not send its view's doubles through Value messages.
    if not all(slot.field in PLAIN_PAYLOADS for slot in features):
        return values_of
    plain = [(_attr(slot), *PLAIN_PAYLOADS[slot.field]) for slot in features]

    def plain_of(item: Item, micros: int) -> ValueRow:
        get = item.get
        try:
            return micros, [
                convert(stored[tag]) if (stored := get(attr)) is not None else None
                for attr, tag, convert in plain
            ]
        except UNUSUAL:  # an unusual value (NaN is stored as S): the general decoders
            return values_of(item, micros)

    return plain_of
