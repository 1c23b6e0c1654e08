"""Fetched items to rows, in the two shapes the store hands on.

``ProtoRows`` gives Feast's ``online_read`` rows: an event time and a dict of
``Value`` messages. ``ValueRows`` gives what ``response.populate`` fills a
response from column by column: the observed-at time in µs and the values in
slot order, each a plain value where the field has one (``codec.PLAIN_PAYLOADS``:
a float for a double, a list of ints for a list of int64), else a ``Value``,
or None for a null. Building 10,000 ``Value`` messages only to copy them into
a response costs about as much as fetching them; plain values skip that.

A feature written as null is stored as NULL and read as a null; a feature
the row has no attribute for (the row was written before the feature joined
the view, or without it) was never written: ``online_read``'s dict leaves it
out and a response says NOT_FOUND, as Feast's own stores answer. Such a row's
values are a ``Lacking`` list, which names the missing slots.

Both treat a view's data older than its ttl as absent: ``(None, None)``.

A cached view (``ViewLayout.every_feature``) is decoded whole, every feature
of the view, and without its ttl: that row is what its namespace cache keeps,
and each read, from the cache or not, takes its own features and applies
the ttl for its own time (``answer``). A wholly cached read decodes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from feast_chalk_dynamo.items.codec import NULL, PLAIN_PAYLOADS, UNUSUAL, decoder_for
from feast_chalk_dynamo.items.layout import PK
from feast_chalk_dynamo.items.slots import FeatureSlot, micros_to_datetime
from feast_chalk_dynamo.reads.value_columns import as_values

if TYPE_CHECKING:  # the reader builds its layouts' decoders from here
    from feast_chalk_dynamo.reads.reader import ViewRead

Item = dict[str, Any]
ValueRow = tuple["int | None", "list[Any] | None"]  # (observed-at µs | None, values in slot order | None)
ValuesDecoder = Callable[[Item, int], ValueRow]
Projection = Callable[[list[Any]], list[Any]]  # a whole row's values to a request's
ABSENT: ValueRow = (None, None)


class Lacking(list[Any]):
    """A found row's values where some requested features were never written: None in their slots.

    A subclass rather than a third element of the row, so that the common
    row, which lacks nothing, stays the plain list it always was.
    """

    __slots__ = ("missing",)
    missing: list[int]  # the slots, in order

    @classmethod
    def of(cls, values: list[Any], missing: list[int]) -> Lacking:
        # list's own (C) initialiser: half the cost of one written in Python, once per such row.
        row = cls(values)
        row.missing = missing
        return row


class Whole(list[Any]):
    """A cached view's decoded row that lacks nothing: what its namespace cache keeps.

    ``entries`` is set by the first response it fills (``reads.response``):
    each value (of ``fields``) as serialized in a feature vector, so that
    later responses append a column of them as one chunk, converting nothing.
    """

    __slots__ = ("entries", "fields")
    entries: tuple[bytes, ...] | None
    fields: tuple[str, ...]  # each value's Value field

    @classmethod
    def of(cls, values: list[Any], fields: tuple[str, ...]) -> Whole:
        row = cls(values)
        row.entries = None
        row.fields = fields
        return row


class Cut(list[Any]):
    """A ``Whole`` row's values cut to a request (another order, a subset): the row and how."""

    __slots__ = ("pick", "whole")
    whole: Whole
    pick: Callable[[Sequence[Any]], tuple[Any, ...]]  # the request's values (or entries) of the whole's

    @classmethod
    def of(cls, whole: Whole, pick: Callable[[Sequence[Any]], tuple[Any, ...]]) -> Cut:
        row = cls(pick(whole))
        row.whole = whole
        row.pick = pick
        return row


class ValueRows:
    """Each item to one ``ValueRow`` per requested view; then each view's rows in its keys' order."""

    # True if ``answer`` does more than pick rows: the reader keeps it off its shared loop.
    converts = False

    def __init__(self, requests: Sequence[ViewRead], now: float) -> None:
        self._requests = requests
        # The per-view work, done once per read: the time attribute, the oldest live time, the decoder.
        self._views: list[tuple[str, str, float | None, ValuesDecoder]] = []
        self._served: list[tuple[float | None, Projection | None] | None] = []
        for request in requests:
            layout = request.layout
            oldest = (now - layout.ttl_seconds) * 1_000_000 if layout.ttl_seconds else None
            if layout.every_feature is None:
                self._views.append((layout.ts_attr, layout.values_attr, oldest, layout.decode_features))
                self._served.append(None)
            else:  # whole and ttl-less, as cached: see the module's docstring
                self._views.append((layout.ts_attr, layout.values_attr, None, layout.decode_every_feature))
                self._served.append((oldest, layout.from_whole_row))

    def decode(self, items: list[Item]) -> dict[str, list[Any]]:
        return {item[PK]["S"]: [_row(item, *view) for view in self._views] for item in items}

    def answer(
        self, decoded: Mapping[str, list[Any]], local: Sequence[Mapping[str, Any]] | None = None
    ) -> list[list[Any]]:
        """Each view's rows in its keys' order: ``(None, None)`` where absent or expired.

        ``local``: per view, what was answered without DynamoDB (``local.answers``):
        a cached whole row, or None where the row is known absent.
        """
        answers = []
        for index, (request, served) in enumerate(zip(self._requests, self._served, strict=True)):
            here = local[index] if local is not None else None
            keys = request.keys
            if served is None:
                if here:
                    rows = [
                        ABSENT if key in here else decoded[key][index] if key in decoded else ABSENT
                        for key in keys
                    ]
                else:
                    rows = [decoded[key][index] if key in decoded else ABSENT for key in keys]
            else:
                rows = _served(keys, index, decoded, here or {}, *served)
            answers.append(rows)
        return answers


def _served(
    keys: Sequence[str],
    index: int,
    decoded: Mapping[str, list[Any]],
    here: Mapping[str, Any],
    oldest: float | None,
    project: Projection | None,
) -> list[ValueRow]:
    """A cached view's rows: whole rows (cached or just decoded) cut to the request, ttl applied."""
    rows: list[ValueRow] = []
    append = rows.append
    for key in keys:
        row = here[key] if key in here else decoded[key][index] if key in decoded else None
        if row is None or (micros := row[0]) is None or (oldest is not None and micros < oldest):
            append(ABSENT)
        elif project is None:
            append(row)  # the cached row itself: nobody changes a row's values
        else:
            append((micros, project(row[1])))
    return rows


def row_projection(
    every_feature: Sequence[FeatureSlot], features: Sequence[FeatureSlot]
) -> Projection | None:
    """From a whole row's values to ``features``' (None: the same, in the same order).

    A requested feature never registered has no attribute and is in no row: it is lacking.
    """
    position = {slot.attr: index for index, slot in enumerate(every_feature)}
    positions = [position.get(slot.attr) if slot.attr else None for slot in features]
    if positions == list(range(len(every_feature))):
        return None
    picked = [p if p is not None else len(every_feature) for p in positions]  # that index: a None
    unregistered = [slot for slot, p in enumerate(positions) if p is None]
    pick = _picker(picked)

    def project(values: list[Any]) -> list[Any]:
        if type(values) is Whole and not unregistered:
            return Cut.of(values, pick)
        padded = [*values, None]
        row = [padded[p] for p in picked]
        if type(values) is not Lacking and not unregistered:
            return row
        lacking = set(values.missing) if type(values) is Lacking else set()
        missing = [slot for slot, p in enumerate(positions) if p is None or p in lacking]
        return Lacking.of(row, missing) if missing else row

    return project


def _picker(positions: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """The items at ``positions``, as a tuple, in one C call (``itemgetter`` of one is not a tuple)."""
    if len(positions) == 1:
        (position,) = positions
        return lambda values: (values[position],)
    return itemgetter(*positions) if positions else lambda values: ()


class ProtoRows(ValueRows):
    """Each item to Feast's ``online_read`` row per requested view: ``(datetime, {name: Value})``.

    Value rows first, then made ``Value`` messages a column at a time.
    """

    converts = True

    def __init__(self, requests: Sequence[ViewRead], now: float) -> None:
        super().__init__(requests, now)
        self._slots = [
            (
                [slot.name for slot in request.layout.features],
                [slot.field for slot in request.layout.features],
            )
            for request in requests
        ]

    def answer(
        self, decoded: Mapping[str, list[Any]], local: Sequence[Mapping[str, Any]] | None = None
    ) -> list[list[Any]]:
        answers = super().answer(decoded, local)
        for rows, (names, fields) in zip(answers, self._slots, strict=True):
            found = [position for position, (_, values) in enumerate(rows) if values is not None]
            columns = zip(*[rows[position][1] for position in found], strict=True)
            messages = [as_values(field, column) for field, column in zip(fields, columns, strict=False)]
            by_row = zip(*messages, strict=True) if messages else repeat(())
            for position, values in zip(found, by_row, strict=False):
                micros, plain = rows[position]
                features = dict(zip(names, values, strict=True))
                if type(plain) is Lacking:
                    for slot in plain.missing:
                        features.pop(names[slot], None)  # None: a name requested twice
                rows[position] = micros_to_datetime(micros), features
        return answers


def _attr(slot: FeatureSlot) -> str:
    # DynamoDB forbids empty attribute names, so a feature never registered
    # (no attribute) is looked up under "" and is never found.
    return slot.attr or ""


def _row(item: Item, ts_attr: str, values_attr: str, oldest: float | None, decode: ValuesDecoder) -> ValueRow:
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


def values_decoder(features: Sequence[FeatureSlot], whole: bool = False) -> ValuesDecoder:
    """The values of ``features`` from an item (or a packed row's map), with the row's time.

    ``whole``: a cached view's every feature; a row that lacks none is a ``Whole``.
    """
    slots = [(_attr(slot), PLAIN_PAYLOADS.get(slot.field), decoder_for(slot.field)) for slot in features]
    fields = tuple(slot.field for slot in features)

    def finished(values: list[Any], missing: list[int]) -> list[Any]:
        if missing:
            return Lacking.of(values, missing)
        return Whole.of(values, fields) if whole else values

    def values_of(item: Item, micros: int) -> ValueRow:
        """Slot by slot: a plain value where there is one, None for a null, and what the row lacks noted."""
        values: list[Any] = []
        missing: list[int] = []
        for slot, (attr, plain, decode) in enumerate(slots):
            stored = item.get(attr)
            if stored is None:
                missing.append(slot)
            values.append(None if stored is None else _value(stored, plain, decode))
        return micros, finished(values, missing)

    # A view of strings, lists and a map besides its numbers is as common as
    # one of numbers alone: every field with a plain form takes this path, so
    # one list feature does not send its view's doubles through Value messages.
    if not all(slot.field in PLAIN_PAYLOADS for slot in features):
        return values_of
    usual = [(slot, _attr(feature), *PLAIN_PAYLOADS[feature.field]) for slot, feature in enumerate(features)]

    def plain_of(item: Item, micros: int) -> ValueRow:
        # Nulls and missing features are handled in line, not by falling back:
        # sparse data has a null in most rows. Decoding 100 entities x 5 views
        # x 20 mixed features took 3.8 ms so and 5.0 falling back with 10% of
        # values null; 4.0 against 3.6 with none.
        get = item.get
        missing: list[int] = []
        try:
            values = [
                convert(stored[tag])
                if tag in (stored := get(attr, _ABSENT))
                else _null_or_missing(stored, slot, missing)
                for slot, attr, tag, convert in usual
            ]
        except UNUSUAL:  # an unusual value (NaN is stored as S): slot by slot
            return values_of(item, micros)
        return micros, finished(values, missing)

    return plain_of


_ABSENT: Item = {}  # what plain_of looks a missing attribute up as: no tag is in it


def _null_or_missing(stored: Item, slot: int, missing: list[int]) -> Any:
    """None for a null or a missing feature (noted in ``missing``); anything else is unusual."""
    if stored is _ABSENT:
        missing.append(slot)
    elif NULL not in stored:
        raise KeyError(f"not stored as usual: {stored!r:.100}")
    return None


def _value(
    stored: Item, plain: tuple[str, Callable[[Any], Any]] | None, decode: Callable[[Item], Any]
) -> Any:
    """One stored feature: its plain value if it is stored as usual, None if null, else its ``Value``."""
    if plain is not None and (payload := stored.get(plain[0])) is not None:
        try:
            return plain[1](payload)
        except UNUSUAL:
            pass
    return None if NULL in stored else decode(stored)
