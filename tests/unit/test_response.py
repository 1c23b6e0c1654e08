"""Our response builder gives exactly what Feast's own helper gives."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

import pytest
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.protos.feast.serving.ServingService_pb2 import GetOnlineFeaturesResponse
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.types import Float64, Int64, String
from feast.utils import _populate_response_from_feature_data
from hypothesis import given, settings
from hypothesis import strategies as st

from feast_chalk_dynamo.items.codec import decode_value, encode_value
from feast_chalk_dynamo.items.slots import FeatureSlot, datetime_to_micros, micros_to_datetime
from feast_chalk_dynamo.reads.decoders import ProtoRows, ValueRows
from feast_chalk_dynamo.reads.reader import ViewLayout, ViewRead
from feast_chalk_dynamo.reads.response import populate
from feast_chalk_dynamo.reads.value_columns import FeatureVector, fill
from tests.unit.test_codec import (
    NULLS,
    ROUND_TRIP_FIELDS,
    VALUE_STRATEGIES,
    _plain_number,
    _to_wire,
    comparable,
)

VIEW = FeatureView(
    name="stats",
    entities=[Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)],
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="a", dtype=Float64),
        Field(name="b", dtype=Float64),
        Field(name="n", dtype=Int64),
        Field(name="s", dtype=String),
    ],
    source=FileSource(path="/nonexistent.parquet", timestamp_field="ts"),
)
FIELDS = {"a": "double_val", "b": "double_val", "n": "int64_val", "s": "string_val"}
T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=timezone.utc)

# Each row as the store decodes it: plain values, a Value where a decoder fell
# back (NaN is stored as S), None for a null feature of a found row.
VALUE_ROWS: list[Any] = [
    (datetime_to_micros(T0), [1.0, None, 7, "gold"]),
    (None, None),  # absent
    (datetime_to_micros(T0 + timedelta(seconds=5)), [2.0, 3.0, None, ""]),
    (datetime_to_micros(T0), [ValueProto(double_val=math.inf), -0.0, -(2**63), ValueProto(string_val="x")]),
]


def as_feast_row(row: Any) -> Any:
    """The same row as Feast's online_read gives it: a datetime and a Value per feature."""
    micros, values = row
    if values is None:
        return None, None
    features = {}
    for (name, field), value in zip(FIELDS.items(), values, strict=True):
        if isinstance(value, ValueProto) or value is None:
            features[name] = value or ValueProto()
        else:
            features[name] = ValueProto(**{field: value})
    return micros_to_datetime(micros), features


@pytest.mark.parametrize("full_feature_names", [True, False])
@pytest.mark.parametrize("version_metadata", [True, False])
def test_same_response_as_feast(full_feature_names: bool, version_metadata: bool) -> None:
    indexes = ([0, 3], [1], [2, 4, 5], [6])  # duplicated entities fan out to several output rows
    expected, actual = GetOnlineFeaturesResponse(), GetOnlineFeaturesResponse()
    for features in (list(FIELDS), ["b"]):
        picked = [list(FIELDS).index(name) for name in features]
        ours = [(m, v if v is None else [v[i] for i in picked]) for m, v in VALUE_ROWS]
        populate(
            features, [FIELDS[f] for f in features], ours, indexes, actual, full_feature_names,
            VIEW, 7, version_metadata,
        )  # fmt: skip
        theirs = [as_feast_row(row) for row in VALUE_ROWS]
        _populate_response_from_feature_data(
            features, theirs, indexes, expected, full_feature_names, VIEW, 7, version_metadata
        )
    assert actual == expected


def test_no_rows_still_gives_a_vector_per_feature() -> None:
    expected, actual = GetOnlineFeaturesResponse(), GetOnlineFeaturesResponse()
    populate(["a", "n"], ["double_val", "int64_val"], [], (), actual, True, VIEW, 0, False)
    _populate_response_from_feature_data(["a", "n"], [], (), expected, True, VIEW, 0, False)
    assert actual == expected and len(actual.results) == 2


@given(st.lists(st.one_of(st.floats(), st.none()), max_size=300))
def test_a_column_of_doubles_is_the_values_set_one_by_one(column: list[float | None]) -> None:
    chunked, one_by_one = FeatureVector(), FeatureVector()
    fill(chunked, "double_val", column)
    for value in column:
        one_by_one.values.add(**({} if value is None else {"double_val": value}))
    assert chunked.SerializeToString() == one_by_one.SerializeToString()


# -- nulls and features a found row lacks --------------------------------------------------------

# A feature of a row: a value, Feast's null, or None when the row has no such feature.
FEATURE_STATES = st.sampled_from(ROUND_TRIP_FIELDS).flatmap(
    lambda field: st.tuples(
        st.just(field), st.lists(st.one_of(VALUE_STRATEGIES[field], st.sampled_from(NULLS), st.none()))
    )
)


@settings(max_examples=60, deadline=None)
@given(
    columns=st.lists(FEATURE_STATES, min_size=1, max_size=5),
    packed=st.booleans(),
    data=st.data(),
)
def test_a_found_row_answers_as_feast_s_stores(
    columns: list[tuple[str, list[ValueProto | None]]], packed: bool, data: st.DataObject
) -> None:
    """Items of rows mixing values, written nulls and features the row never had (every Value field;
    attributes one by one, or the whole row as one map), decoded both ways: ``online_read``'s dicts
    hold exactly the features written, a null as an empty Value; a response is what Feast's helper
    makes of those rows: PRESENT for a value or a null, NOT_FOUND for a feature the row lacks."""
    n_rows = min(len(states) for _, states in columns)
    fields = [field for field, _ in columns]
    slots = tuple(FeatureSlot(f"f{i}", f"a{i}", field) for i, field in enumerate(fields))
    keys = [f"1/k=i:{row}" for row in range(n_rows + 1)]  # the last key has no item
    items, expected = [], []
    for row in range(n_rows):
        attrs = {
            slot.attr: json.loads(json.dumps(_to_wire(encode_value(states[row], slot.field), _plain_number)))
            for slot, (_, states) in zip(slots, columns, strict=True)
            if states[row] is not None and slot.attr is not None
        }
        item = {"pk": {"S": keys[row]}, "_t1": {"N": str(datetime_to_micros(T0) + row)}}
        item.update({"_v1": {"M": attrs}} if packed else attrs)
        items.append(item)
        written = {s.name: decode_value(attrs[s.attr], s.field) for s in slots if s.attr in attrs}
        expected.append((micros_to_datetime(datetime_to_micros(T0) + row), written))
    expected.append((None, None))
    # A cached view's rows are decoded whole (every feature of the view, in the view's order, one
    # never requested among them), then cut to the request; or, requested whole, served as decoded
    # (``Whole`` rows, which keep their serialized values): the answers must not tell.
    extra = FeatureSlot("unrequested", "a_extra", "double_val")
    whole = data.draw(st.sampled_from([None, slots, tuple(data.draw(st.permutations([*slots, extra])))]))
    request = [ViewRead(ViewLayout("_t1", "_v1", 0, slots, every_feature=whole), keys)]

    proto_rows = ProtoRows(request, now=0)
    protos = proto_rows.answer(proto_rows.decode(items))[0]
    for (at, read), (stamp, written) in zip(protos, expected, strict=True):
        assert at == stamp and (read is None) == (written is None)
        if read is not None and written is not None:
            assert list(read) == list(written)
            assert [comparable(v) for v in read.values()] == [comparable(v) for v in written.values()]

    value_rows = ValueRows(request, now=0)
    rows = value_rows.answer(value_rows.decode(items))[0]
    duplicate = data.draw(st.integers(0, n_rows))  # an entity asked for twice
    indexes = tuple([row] for row in range(n_rows + 1))
    indexes[duplicate].append(n_rows + 1)
    names = [slot.name for slot in slots]
    feast = GetOnlineFeaturesResponse()
    with mock.patch("feast.metrics.track_feature_statuses") as counted:  # Feast's status metrics too
        _populate_response_from_feature_data(names, expected, indexes, feast, False, VIEW, n_rows + 2, False)
        # Twice: a Whole row's first response serializes its values, the second reuses them.
        for _ in range(2):
            ours = GetOnlineFeaturesResponse()
            populate(names, fields, rows, indexes, ours, False, VIEW, n_rows + 2, False)
            assert counted.call_args_list[0] == counted.call_args_list[-1]
            assert ours.metadata == feast.metadata
            for mine, theirs in zip(ours.results, feast.results, strict=True):
                assert list(mine.statuses) == list(theirs.statuses)
                assert list(mine.event_timestamps) == list(theirs.event_timestamps)
                assert [comparable(v) for v in mine.values] == [comparable(v) for v in theirs.values]


def test_a_cached_row_is_past_its_view_s_ttl_by_the_time_of_each_read() -> None:
    """A cached view's rows are decoded and cached without the view's ttl: each read, from DynamoDB
    or from the cache, applies it for its own time (``now``)."""
    slots = (FeatureSlot("a", "a1", "double_val"), FeatureSlot("n", "a2", "int64_val"))
    written = datetime_to_micros(T0)
    item = {"pk": {"S": "k"}, "_t1": {"N": str(written)}, "a1": {"N": "1.5"}, "a2": {"N": "7"}}
    at = written / 1_000_000

    def read(now: float, cached: dict[str, Any] | None, subset: bool = False) -> Any:
        features = slots[1:] if subset else slots
        rows = ValueRows([ViewRead(ViewLayout("_t1", "_v1", 10, features, every_feature=slots), ["k"])], now)
        return rows.answer(rows.decode([] if cached else [item]), [cached or {}])[0][0]

    fetched = ValueRows([ViewRead(ViewLayout("_t1", "_v1", 10, slots, every_feature=slots), ["k"])], at + 60)
    whole = fetched.decode([item])["k"][0]
    assert whole == (written, [1.5, 7])  # past the ttl when read, yet decoded whole for the cache
    assert fetched.answer({"k": [whole]})[0][0] == (None, None)  # and absent for this read
    assert read(at + 9, None) == (written, [1.5, 7])
    assert read(at + 9, {"k": whole}) == (written, [1.5, 7])
    assert read(at + 9, {"k": whole}, subset=True) == (written, [7])
    assert read(at + 11, {"k": whole}) == (None, None)
    assert read(at + 11, {"k": whole}, subset=True) == (None, None)
    assert read(at + 11, None) == (None, None)
