"""Fetched items to rows, in the two shapes the store hands on.

``ProtoRows`` gives Feast's ``online_read`` rows: an event time and a dict of
``Value`` messages. ``ValueRows`` gives what ``response.populate`` fills a
response from column by column: the observed-at time in µs and the values in
slot order, each a plain Python scalar where the field is a common scalar (a
float for a double), else a ``Value``, or None for a null. Building 10,000
``Value`` messages only to copy them into a response costs about as much as
fetching them; plain values skip that.

Both treat a view's data older than its ttl as absent: ``(None, None)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feast_chalk_dynamo.codec import SCALAR_PAYLOADS, decoder_for
from feast_chalk_dynamo.layout import PK
from feast_chalk_dynamo.reader import FeatureSlot, Item, ViewRead, micros_to_datetime

ProtoRow = tuple[Any, "dict[str, ValueProto] | None"]  # (datetime | None, {name: Value} | None)
ValueRow = tuple["int | None", "list[Any] | None"]  # (observed-at µs | None, values in slot order | None)


class _Rows:
    """One row per requested view from each item; subclasses say how a live view's row is built."""

    def __init__(self, requests: Sequence[ViewRead], now: float) -> None:
        # The per-view work, done once per read: the time attribute, the oldest live time, the decoder.
        self._views = [
            (
                request.layout.ts_attr,
                (now - request.layout.ttl_seconds) * 1_000_000 if request.layout.ttl_seconds else None,
                self._decoder(request),
            )
            for request in requests
        ]

    def decode(self, items: list[Item]) -> dict[str, list[Any]]:
        return {item[PK]["S"]: [_row(item, *view) for view in self._views] for item in items}

    @staticmethod
    def _decoder(request: ViewRead) -> Callable[[Item, int], Any]:
        raise NotImplementedError


def _attr(slot: FeatureSlot) -> str:
    # DynamoDB forbids empty attribute names, so a feature never registered
    # (no attribute) is looked up under "" and always reads as null.
    return slot.attr or ""


def _row(item: Item, ts_attr: str, oldest: float | None, decode: Callable[[Item, int], Any]) -> Any:
    stamp = item.get(ts_attr)
    if stamp is None:
        return None, None
    micros = int(stamp["N"])
    if oldest is not None and micros < oldest:  # older than the view's ttl
        return None, None
    return decode(item, micros)


class ProtoRows(_Rows):
    @staticmethod
    def _decoder(request: ViewRead) -> Callable[[Item, int], ProtoRow]:
        slots = [(slot.name, _attr(slot), decoder_for(slot.field)) for slot in request.layout.features]

        def row_of(item: Item, micros: int) -> ProtoRow:
            get = item.get
            features = {
                name: decode(stored) if (stored := get(attr)) is not None else ValueProto()
                for name, attr, decode in slots
            }
            return micros_to_datetime(micros), features

        return row_of


class ValueRows(_Rows):
    @staticmethod
    def _decoder(request: ViewRead) -> Callable[[Item, int], ValueRow]:
        features = request.layout.features
        as_values = [(_attr(slot), decoder_for(slot.field)) for slot in features]

        def values_of(item: Item, micros: int) -> ValueRow:
            get = item.get
            return micros, [
                decode(stored) if (stored := get(attr)) is not None else None for attr, decode in as_values
            ]

        if not all(slot.field in SCALAR_PAYLOADS for slot in features):
            return values_of
        scalars = [(_attr(slot), *SCALAR_PAYLOADS[slot.field]) for slot in features]

        def scalars_of(item: Item, micros: int) -> ValueRow:
            get = item.get
            try:
                return micros, [
                    convert(stored[tag]) if (stored := get(attr)) is not None else None
                    for attr, tag, convert in scalars
                ]
            except (KeyError, ValueError):  # an unusual value (NaN is stored as S): the general decoders
                return values_of(item, micros)

        return scalars_of
