"""The write path's fast encoders answer exactly as encode_value does, errors and fallbacks included."""

from __future__ import annotations

import re

import pytest
from feast.protos.feast.types.Value_pb2 import DoubleList, Int64List
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.items.codec import CodecError, encode_value, encoder_for
from tests.unit.test_codec import GOLDEN, ROUND_TRIP_FIELDS, VALUE_STRATEGIES


def same_as_encode_value(value: ValueProto, field: str) -> None:
    try:
        expected = encode_value(value, field)
    except CodecError as error:
        with pytest.raises(CodecError, match=re.escape(str(error))):
            encoder_for(field)(value)
        return
    assert encoder_for(field)(value) == expected


def test_golden_examples() -> None:
    for value, _ in GOLDEN:
        field = value.WhichOneof("val")
        if field is not None and field != "null_val":
            same_as_encode_value(value, field)


@given(st.sampled_from(ROUND_TRIP_FIELDS).flatmap(lambda f: st.tuples(st.just(f), VALUE_STRATEGIES[f])))
def test_every_field(case: tuple[str, ValueProto]) -> None:
    same_as_encode_value(case[1], case[0])


@given(
    st.sampled_from(ROUND_TRIP_FIELDS),
    st.sampled_from(ROUND_TRIP_FIELDS).flatmap(lambda f: VALUE_STRATEGIES[f]),
)
def test_a_value_of_another_field_or_null_is_decided_by_encode_value(field: str, value: ValueProto) -> None:
    same_as_encode_value(value, field)
    same_as_encode_value(ValueProto(), field)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_doubles_at_the_edges(items: list[float]) -> None:
    """Zeros (signed), NaN, infinities and numbers past DynamoDB's range take the general path."""
    for x in items:
        same_as_encode_value(ValueProto(double_val=x), "double_val")
    same_as_encode_value(ValueProto(double_list_val=DoubleList(val=items)), "double_list_val")


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1)))
def test_integers(items: list[int]) -> None:
    for i in items:
        same_as_encode_value(ValueProto(int64_val=i), "int64_val")
    same_as_encode_value(ValueProto(int64_list_val=Int64List(val=items)), "int64_list_val")
