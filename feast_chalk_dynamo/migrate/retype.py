"""A value of another type than its feature declares, typed as declared where that changes no number.

Feast's DynamoDB store keeps each value as the Value proto it was written as
and serves it so, whatever the view declares now: after a dtype changed in
place, or for a version read with the current definition, ``rate: Float64``
serves an ``int64_val``. This store stores and reads a feature as its
declared type, so a copy types each value as its feature declares it, as
Feast types a column it materializes: between the numbers (int32, int64,
float, double) and between their lists and their sets alike, when the
number is the same after (int64 5 as a double 5.0, double 5.0 as an int64
5; not int64 2**53 + 1 as a double, 5.5 as an int64, 0.1 as a float).
Anything else (a string for a number, a bool, a list for a scalar, a
timestamp for an integer) has no such typing and is refused.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as ValueProto

# Each number kind: whether it is an integer kind, and the range of an integer kind.
_INTEGERS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_NUMBERS = ("int32", "int64", "float", "double")
# A number field by its shape: the scalar, its list and its set.
_SHAPES = ("{}_val", "{}_list_val", "{}_set_val")
_KINDS = {shape.format(kind): (shape, kind) for shape in _SHAPES for kind in _NUMBERS}


class NotConvertible(ValueError):
    """The value cannot be of the declared type without changing it."""


def conform(value: ValueProto, field: str) -> ValueProto:
    """``value`` as a value of ``field`` (the Value field its feature is declared with), or
    ``NotConvertible``. A null, and a value already of ``field``, are returned as they are."""
    actual = value.WhichOneof("val")
    if actual is None or actual == "null_val" or actual == field:
        return value
    source, target = _KINDS.get(actual), _KINDS.get(field)
    if source is None or target is None or source[0] != target[0]:
        raise NotConvertible(f"{actual} cannot be {field}")
    convert = _converter(target[1])
    content = getattr(value, actual)
    converted: dict[str, Any]
    try:
        if source[0] == "{}_val":
            converted = {field: convert(content)}
        else:
            converted = {field: {"val": [convert(x) for x in content.val]}}
    except NotConvertible as error:
        shown = "" if source[0] == "{}_val" else f" {list(content.val)!r}:"
        raise NotConvertible(f"{actual}{shown} {error}") from None
    return ValueProto(**converted)


def _converter(kind: str) -> Callable[[int | float], int | float]:
    if kind in _INTEGERS:
        low, high = _INTEGERS[kind]

        def integer(x: int | float) -> int:
            if isinstance(x, float) and not (math.isfinite(x) and x.is_integer()):
                raise NotConvertible(f"{x!r} is not an integer")
            if not low <= int(x) <= high:
                raise NotConvertible(f"{x!r} is out of {kind}'s range")
            return int(x)

        return integer
    return _as_float32 if kind == "float" else _as_double


def _as_double(x: int | float) -> float:
    if isinstance(x, int) and int(float(x)) != x:
        raise NotConvertible(f"{x} has no exact double")
    return float(x)  # a float32 widens exactly


def _as_float32(x: int | float) -> float:
    if isinstance(x, float) and math.isnan(x):
        return x
    narrowed: float = struct.unpack("f", struct.pack("f", float(x)))[0]
    if narrowed != x:
        raise NotConvertible(f"{x!r} has no exact float")
    return narrowed
