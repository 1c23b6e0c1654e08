"""The read path's fast decoders answer exactly as decode_value does, fallbacks included.

Two fast paths: ``decoder_for`` (a Value per attribute) and the plain values
of ``PLAIN_PAYLOADS`` that ``value_columns.fill`` appends to a response. Both
must give decode_value's Value for every attribute they accept, and refuse
(raise one of UNUSUAL, so the general decoders take it) every one they do not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from feast.protos.feast.types.Value_pb2 import Map
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.items.codec import (
    PLAIN_PAYLOADS,
    SCALAR_PAYLOADS,
    UNUSUAL,
    AttributeValue,
    CodecError,
    decode_value,
    decoder_for,
    encode_value,
)
from feast_chalk_dynamo.items.slots import FeatureSlot
from feast_chalk_dynamo.reads.decoders import ValueRows
from feast_chalk_dynamo.reads.reader import ViewLayout, ViewRead
from feast_chalk_dynamo.reads.value_columns import FeatureVector, fill
from tests.unit.test_codec import (
    GOLDEN,
    ROUND_TRIP_FIELDS,
    SCALAR_CONTENTS,
    VALUE_STRATEGIES,
    _plain_number,
    _scientific_number,
    _to_wire,
    _values,
    comparable,
    over_the_wire,
)


def same_as_decode_value(value: ValueProto, field: str) -> None:
    encoded = encode_value(value, field)
    assert encoded is not None
    forms = [
        encoded,  # as written
        over_the_wire(encoded),  # as boto3 returns it
        over_the_wire(encoded, _scientific_number),  # numbers spelt differently by the server
        json.loads(json.dumps(_to_wire(encoded, _plain_number))),  # the raw wire: base64 binaries
    ]
    for attr in forms:
        assert (
            comparable(decoder_for(field)(attr)) == comparable(decode_value(attr, field)) == comparable(value)
        )
        if field in PLAIN_PAYLOADS:
            plain_same_as_decode_value(attr, field)


def plain_same_as_decode_value(attr: AttributeValue, field: str) -> bool:
    """The plain value, appended as a response does, is decode_value's Value; False: refused."""
    tag, convert = PLAIN_PAYLOADS[field]
    try:
        plain = convert(attr[tag])
    except UNUSUAL:
        return False
    vector = FeatureVector()
    fill(vector, field, [plain])
    assert comparable(vector.values[0]) == comparable(decode_value(attr, field))
    return True


def test_golden_examples() -> None:
    for value, _ in GOLDEN:
        field = value.WhichOneof("val")
        if field is not None and field != "null_val":
            same_as_decode_value(value, field)


@given(st.sampled_from(ROUND_TRIP_FIELDS).flatmap(lambda f: st.tuples(st.just(f), VALUE_STRATEGIES[f])))
def test_every_field(case: tuple[str, ValueProto]) -> None:
    field, value = case
    same_as_decode_value(value, field)


# Maps as feature data has them: string keys to scalars, which the fast path
# takes whole (the nested maps of VALUE_STRATEGIES mostly fall back).
SCALAR_ENTRIES = st.one_of(*(_values(field, SCALAR_CONTENTS[field]) for field in SCALAR_PAYLOADS))
SCALAR_MAPS = st.builds(Map, val=st.dictionaries(st.text(min_size=1, max_size=6), SCALAR_ENTRIES, max_size=5))


@given(st.sampled_from(["map_val", "struct_val"]), SCALAR_MAPS)
def test_maps_of_scalars(field: str, content: Map) -> None:
    same_as_decode_value(ValueProto(**{field: content}), field)


def test_usual_values_take_the_plain_path() -> None:
    """Not a fallback every time: the usual form of each field converts to a plain value."""
    usual: dict[str, ValueProto] = {
        "double_val": ValueProto(double_val=2.5),
        "int64_list_val": ValueProto(int64_list_val={"val": [1, -2]}),
        "string_list_val": ValueProto(string_list_val={"val": []}),
        "map_val": ValueProto(
            map_val={"val": {"s": ValueProto(string_val="x"), "d": ValueProto(double_val=0.5)}}
        ),
    }
    for field, value in usual.items():
        encoded = encode_value(value, field)
        assert encoded is not None and plain_same_as_decode_value(encoded, field), field


@pytest.mark.parametrize(
    ("attr", "field"),
    [
        ({"M": {"k": {"M": {"999": {"N": "1"}}}}}, "map_val"),
        ({"M": {"k": {"M": {"5": {"N": "1"}, "6": {"N": "1"}}}}}, "map_val"),
        ({"M": {"k": {"N": "1.5"}}}, "map_val"),
        ({"M": {"k": "not an attribute"}}, "struct_val"),
        ({"L": [{"N": "99999999999"}]}, "int32_list_val"),
        ({"L": [{"S": "1"}]}, "int64_list_val"),
    ],
)
def test_foreign_attributes_are_refused_by_the_fast_paths(attr: AttributeValue, field: str) -> None:
    with pytest.raises(CodecError):
        decoder_for(field)(attr)
    tag, convert = PLAIN_PAYLOADS[field]
    with pytest.raises(UNUSUAL):
        convert(attr[tag])


MIXED_VIEW = {
    "f": "double_val",
    "n": "int64_val",
    "s": "string_val",
    "ns": "int64_list_val",
    "ss": "string_list_val",
    "m": "map_val",
}


@given(st.fixed_dictionaries({name: VALUE_STRATEGIES[field] for name, field in MIXED_VIEW.items()}))
def test_a_mixed_view_reads_as_decode_value_would(values: dict[str, ValueProto]) -> None:
    """A row of a view mixing lists and a map with numbers, through the response's columns."""
    item: dict[str, Any] = {"pk": {"S": "k"}, "_t1": {"N": "17"}}
    for name, field in MIXED_VIEW.items():
        encoded = encode_value(values[name], field)
        if encoded is not None:
            item[name] = json.loads(json.dumps(_to_wire(encoded, _plain_number)))
    slots = tuple(FeatureSlot(name, name, field) for name, field in MIXED_VIEW.items())
    rows = ValueRows([ViewRead(ViewLayout("_t1", "_v1", 0, slots), ["k"])], now=0).decode([item])
    ((micros, plain),) = rows["k"]
    assert micros == 17 and plain is not None
    for (name, field), loose in zip(MIXED_VIEW.items(), plain, strict=True):
        vector = FeatureVector()
        fill(vector, field, [loose])
        expected = decode_value(item[name], field) if name in item else ValueProto()
        assert comparable(vector.values[0]) == comparable(expected)
