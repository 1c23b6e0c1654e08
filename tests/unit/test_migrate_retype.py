"""Typing the values of Feast's tables as their features declare them, and a row for every reader of it.

Every value type Feast can hold meets every declared type: a value of the
declared field, and a null, pass as they are; numbers pass between the number
types of one shape (scalar, list, set) exactly when every number is the same
after, which an oracle of its own (numpy's float32, ``Fraction``) decides;
anything else is refused. What passes is always storable as declared.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from feast.protos.feast.types.Value_pb2 import Null
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from hypothesis import example, given, settings
from hypothesis import strategies as st

from feast_chalk_dynamo.items.codec import decode_value, encode_value
from feast_chalk_dynamo.items.slots import FeatureSlot
from feast_chalk_dynamo.migrate.retype import NotConvertible, conform
from feast_chalk_dynamo.migrate.typed_rows import Refused, RowTyper
from feast_chalk_dynamo.writes import WriteLayout
from tests.unit.test_codec import ROUND_TRIP_FIELDS, VALUE_STRATEGIES, comparable

NUMBERS = ("int32", "int64", "float", "double")
SHAPES = ("{}_val", "{}_list_val", "{}_set_val")
NUMBER_FIELDS = [shape.format(kind) for shape in SHAPES for kind in NUMBERS]
RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def numbers(value: ValueProto) -> list[Any]:
    content = getattr(value, value.WhichOneof("val"))
    return list(content.val) if hasattr(content, "val") else [content]


def exactly(x: int | float, kind: str) -> bool:
    """Whether ``kind`` holds the number ``x`` itself: the oracle, by numpy's float32 and exact fractions."""
    if isinstance(x, float) and math.isnan(x):
        return kind in ("float", "double")
    if isinstance(x, float) and math.isinf(x):
        return kind in ("float", "double")
    if kind in RANGES:
        low, high = RANGES[kind]
        return Fraction(x).denominator == 1 and low <= x <= high
    with np.errstate(over="ignore"):
        held = float(np.float32(x)) if kind == "float" else float(x)
    return math.isfinite(held) and Fraction(held) == Fraction(x)


def same_number(a: int | float, b: int | float) -> bool:
    if not all(map(math.isfinite, (a, b))):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return Fraction(a) == Fraction(b)


def shape(field: str) -> str:
    return next((kind for kind in ("_list_", "_set_") if kind in field), "scalar")


def pair_of_fields(shape: str) -> list[tuple[str, str]]:
    return [(shape.format(a), shape.format(b)) for a in NUMBERS for b in NUMBERS]


@pytest.mark.parametrize(("actual", "declared"), [pair for shape in SHAPES for pair in pair_of_fields(shape)])
@settings(max_examples=40)
@given(data=st.data())
def test_numbers_pass_between_number_types_exactly_when_no_number_changes(
    actual: str, declared: str, data: st.DataObject
) -> None:
    value = data.draw(VALUE_STRATEGIES[actual])
    kind = declared.split("_")[0]
    try:
        typed = conform(value, declared)
    except NotConvertible as error:
        assert actual != declared
        assert not all(exactly(x, kind) for x in numbers(value)), error
        return
    assert all(exactly(x, kind) for x in numbers(value))
    assert typed.WhichOneof("val") == declared
    assert all(same_number(a, b) for a, b in zip(numbers(value), numbers(typed), strict=True))
    stored = encode_value(typed, declared)  # what passes is storable as declared, and reads back so
    assert stored is not None and comparable(decode_value(stored, declared)) == comparable(typed)


@settings(max_examples=300)
@given(data=st.data())
def test_every_other_pair_is_refused_and_a_value_of_its_own_field_passes(data: st.DataObject) -> None:
    actual = data.draw(st.sampled_from(ROUND_TRIP_FIELDS))
    declared = data.draw(st.sampled_from(ROUND_TRIP_FIELDS))
    value = data.draw(VALUE_STRATEGIES[actual])
    if actual == declared:
        assert conform(value, declared) is value
    elif actual in NUMBER_FIELDS and declared in NUMBER_FIELDS and shape(actual) == shape(declared):
        return  # numbers of one shape: the test above
    else:
        with pytest.raises(NotConvertible) as refused:
            conform(value, declared)
        assert str(refused.value) == f"{actual} cannot be {declared}"


@pytest.mark.parametrize("declared", ROUND_TRIP_FIELDS)
def test_a_null_passes_as_declared(declared: str) -> None:
    for null in (ValueProto(), ValueProto(null_val=Null.NULL)):
        assert conform(null, declared) is null


@pytest.mark.parametrize(
    ("value", "declared", "typed_or_why"),
    [
        (ValueProto(int64_val=5), "double_val", ValueProto(double_val=5.0)),
        (ValueProto(double_val=5.0), "int64_val", ValueProto(int64_val=5)),
        (ValueProto(int32_val=-7), "int64_val", ValueProto(int64_val=-7)),
        (ValueProto(float_val=0.1), "double_val", ValueProto(double_val=float(np.float32(0.1)))),
        (
            ValueProto(int64_list_val={"val": [1, 2]}),
            "double_list_val",
            ValueProto(double_list_val={"val": [1, 2]}),
        ),
        (ValueProto(int64_val=2**53 + 1), "double_val", "int64_val 9007199254740993 has no exact double"),
        (ValueProto(double_val=5.5), "int64_val", "double_val 5.5 is not an integer"),
        (ValueProto(double_val=0.1), "float_val", "double_val 0.1 has no exact float"),
        (ValueProto(int64_val=2**40), "int32_val", "int64_val 1099511627776 is out of int32's range"),
        (
            ValueProto(double_set_val={"val": [1.0, 1.5]}),
            "int64_set_val",
            "double_set_val [1.0, 1.5]: 1.5 is not",
        ),
        (ValueProto(string_val="5"), "int64_val", "string_val cannot be int64_val"),
        (ValueProto(bool_val=True), "int64_val", "bool_val cannot be int64_val"),
        (ValueProto(unix_timestamp_val=5), "int64_val", "unix_timestamp_val cannot be int64_val"),
        (ValueProto(int64_val=5), "int64_list_val", "int64_val cannot be int64_list_val"),
        (ValueProto(int64_list_val={"val": [5]}), "int64_set_val", "int64_list_val cannot be int64_set_val"),
    ],
)
def test_examples(value: ValueProto, declared: str, typed_or_why: ValueProto | str) -> None:
    if isinstance(typed_or_why, ValueProto):
        assert conform(value, declared) == typed_or_why
    else:
        with pytest.raises(NotConvertible) as refused:
            conform(value, declared)
        assert str(refused.value).startswith(typed_or_why)


# -- a row for every reader of a table ----------------------------------------------------------------


def layout(**slots: tuple[str, str]) -> WriteLayout:
    """One definition's layout of namespace ``vv``: feature -> (attribute id, Value field)."""
    features = {name: FeatureSlot(name, attr, field) for name, (attr, field) in slots.items()}
    return WriteLayout(view="vv", ts_attr="_t1", values_attr="_v1", features=features, item_ttl_seconds=None)


# Version 0 declared rate Int64; the current definition, which reads version 0's table too, Float64.
TYPER = RowTyper(
    [
        ("vv@v0", layout(rate=("a", "int64_val"), y=("b", "string_val"))),
        ("vv", layout(rate=("c", "double_val"), y=("b", "string_val"), z=("d", "bool_val"))),
    ]
)


def test_each_value_under_every_feature_of_its_name_typed_as_each_declares() -> None:
    assert sorted(TYPER.layout.features) == ["a", "b", "c", "d"]
    assert (TYPER.layout.view, TYPER.layout.ts_attr) == ("vv", "_t1")
    typed, refused = TYPER({"rate": ValueProto(int64_val=5), "y": ValueProto(string_val="s")})
    assert typed == {
        "a": ValueProto(int64_val=5),
        "b": ValueProto(string_val="s"),
        "c": ValueProto(double_val=5.0),
    }  # z is not in the row: left as it is, as any write of the row leaves it
    assert refused == []


@example(ValueProto(int64_val=2**53 + 1))
@given(VALUE_STRATEGIES["int64_val"] | VALUE_STRATEGIES["string_val"])
def test_a_value_a_feature_cannot_take_is_null_there_and_said_the_rest_of_the_row_written(
    rate: ValueProto,
) -> None:
    typed, refused = TYPER({"rate": rate, "y": ValueProto(string_val="s"), "z": ValueProto(bool_val=True)})
    assert typed["b"] == ValueProto(string_val="s") and typed["d"] == ValueProto(bool_val=True)
    for attr, reference, kind in (("a", "vv@v0:rate", "int64"), ("c", "vv:rate", "double")):
        takes = rate.WhichOneof("val") == "int64_val" and exactly(rate.int64_val, kind)
        assert (typed[attr] != ValueProto()) is takes
        assert any(r.features == reference for r in refused) is not takes


def test_a_shared_feature_names_every_reader() -> None:
    typed, refused = TYPER({"y": ValueProto(int64_val=1)})
    assert typed == {"b": ValueProto()}
    assert refused == [Refused("vv@v0:y, vv:y", "int64_val cannot be string_val")]
