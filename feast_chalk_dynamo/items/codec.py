"""Feast ``Value`` protos <-> DynamoDB attribute values, in DynamoDB's own types.

Feast's built-in DynamoDB store writes each value as a serialized protobuf blob.
This codec stores numbers as N, text as S, lists as L and so on instead, because
native items are smaller, readable in the console and queryable with expressions.
Every value round-trips exactly; where a value has no faithful native form
(NaN, -0.0, a double beyond DynamoDB's N range, a non-canonical UUID or decimal
text, an empty set) the codec falls back to a text or list form that does.

Attribute values are in boto3's low-level client shape (``{"N": "1"}``,
``{"L": [...]}``...). Layout, by the Value oneof field a feature is declared with:

* int32 / int64 / unix_timestamp: N.  bool: BOOL.  string: S.  bytes: B.
* double / float: N with the shortest text that parses back to the same
  double / float32; S ``repr`` (``"nan"``, ``"-0.0"``, ``"1e+300"``) when N
  cannot hold it.
* uuid / time_uuid: B of the 16 bytes when the text is canonical, else S.
* decimal: N when the text is plain canonical (what DynamoDB echoes back), else S.
* json: the parsed document as M / L / N / BOOL (NULL inside), or S of the
  raw text when the document is a bare string, is null itself or holds
  anything N or M cannot.
* ``*_list_val``: L of the element encodings.  ``*_set_val``: SS / NS / BS
  when DynamoDB's set type can hold every element, else L (bool sets, empty
  sets, special floats); duplicates dropped, decoded sorted.
* map / struct: M of GENERIC values (L of [S key, value] pairs if a key is
  empty, which DynamoDB forbids).  map_list / struct_list: L of those.
* list_val / set_val: L of GENERIC values, in order.
* scalar_map: L of entries ``L[key, value]``; a key is ``M{field number: native}``.
* zoned_timestamp: ``M{"t": N, "z": S}``.

A null (a Value with no oneof set, or null_val) is NULL, whatever the declared
field: a feature written as null is stored, so that a read tells it from a
feature its row never had (Feast answers the first PRESENT, the second
NOT_FOUND). Nothing else is NULL at the top: hence JSON's ``null`` as text.
A null reads back as an empty Value (null_val too: both are Feast's null).

GENERIC is the self-describing form used wherever the declared type does not
fix a nested value's type: a Value with no oneof is NULL, string S, bool BOOL,
int64 N, bytes B, and any other field f is ``M{str(field number of f): <f's
encoding>}`` (null_val inside as NULL). So M in generic position always means
"tagged wrapper with one key", and common values stay native.

Known limits: NaN payload bits and NaN's sign are not kept (every NaN comes
back as ``float("nan")``); DynamoDB rejects documents nested more than 32
levels deep, which deeply nested maps and lists can reach (JSON falls back
to text before that).
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from feast.protos.feast.types.Value_pb2 import (
    Map,
    MapKey,
    MapList,
    Null,
    RepeatedValue,
    ScalarMap,
    ScalarMapEntry,
    ZonedTimestamp,
)
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.value_type import ValueType

__all__ = [
    "NULL",
    "AttributeValue",
    "CodecError",
    "decode_feature",
    "decode_value",
    "encode_feature",
    "encode_value",
    "encoded_size",
    "item_size",
    "value_field_for",
]

AttributeValue = dict[str, Any]


class CodecError(ValueError):
    """A value that cannot be stored as declared, or an attribute that is not one of ours.

    ``feature`` is set when raised through ``encode_feature`` / ``decode_feature``,
    so a bad row in a large write says which feature broke it.
    """

    def __init__(self, message: str, feature: str | None = None) -> None:
        super().__init__(message if feature is None else f"feature {feature!r}: {message}")
        self.feature = feature


# -- attribute helpers -------------------------------------------------------

# The type tag of a null: in a feature's own attribute, a feature written as null.
NULL = "NULL"


def _null() -> AttributeValue:
    # A fresh dict each time: callers may mutate what we return.
    return {NULL: True}


def _single(attr: AttributeValue) -> tuple[str, Any]:
    """DynamoDB attribute values carry exactly one type tag; anything else is corrupt."""
    if not isinstance(attr, dict) or len(attr) != 1:
        raise CodecError(f"not a DynamoDB attribute value: {attr!r}")
    ((tag, payload),) = attr.items()
    return tag, payload


def _expect(attr: AttributeValue, tag: str) -> Any:
    actual, payload = _single(attr)
    if actual != tag:
        raise CodecError(f"expected a {tag} attribute, got {actual}")
    return payload


def _by_tag(**decoders: Callable[[Any], Any]) -> Callable[[AttributeValue], Any]:
    """One decoder per attribute type a value may be stored as; any other type is an error."""

    def decode(attr: AttributeValue) -> Any:
        tag, payload = _single(attr)
        decoder = decoders.get(tag)
        if decoder is None:
            raise CodecError(f"unexpected {tag} attribute, expected one of {sorted(decoders)}")
        return decoder(payload)

    return decode


def _is_valid_name(name: str) -> bool:
    """DynamoDB map keys are attribute names: 1 byte to 64 KB of valid UTF-8."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates, only reachable from JSON escapes
        return False
    return 0 < size < 65536


# -- numbers -------------------------------------------------------------------

# DynamoDB N: up to 38 significant digits, magnitude 1e-130 to 9.99...e125.
_N_MAX_DIGITS = 38
_N_MIN_ADJUSTED = -130
_N_MAX_ADJUSTED = 125


def _significant(d: Decimal) -> tuple[int, tuple[int, ...], int]:
    """Sign, digits without trailing zeros, exponent: pure tuple work, so no context rounding."""
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int), "only called on finite numbers"
    kept = len(digits)
    while kept > 1 and digits[kept - 1] == 0:
        kept -= 1
    return sign, tuple(digits[:kept]), exponent + len(digits) - kept


def _fits_number(text: str) -> bool:
    """Whether DynamoDB accepts ``text`` as an N (it rejects rather than rounds)."""
    d = Decimal(text)
    if not d.is_finite():
        return False
    if d.is_zero():
        return True
    _, digits, _ = _significant(d)
    return len(digits) <= _N_MAX_DIGITS and _N_MIN_ADJUSTED <= d.adjusted() <= _N_MAX_ADJUSTED


def _is_integral(d: Decimal) -> bool:
    return d.is_zero() or _significant(d)[2] >= 0


def _parse_int(text: str) -> int:
    """DynamoDB echoes integers as plain digits, but accept any integral N spelling."""
    try:
        return int(text)
    except ValueError:
        d = Decimal(text)
        if not d.is_finite() or not _is_integral(d):
            raise CodecError(f"N {text!r} is not an integer") from None
        return int(d)


def _plain(text: str) -> str:
    """The one spelling of a number that the decimal rule treats as canonical."""
    d = Decimal(text)
    if d.is_zero():
        return "0"
    sign, digits, exponent = _significant(d)
    return format(Decimal((sign, digits, exponent)), "f")


def _is_ordinary(x: float) -> bool:
    """N has no NaN, infinities or negative zero."""
    return math.isfinite(x) and not (x == 0.0 and math.copysign(1.0, x) < 0)


# The doubles nearest 1e-130 and 1e126 have those reprs, and repr is monotonic,
# so comparing the double is the same as range-checking its repr, minus the parse.
_DOUBLE_N_MIN = 1e-130
_DOUBLE_N_LIMIT = 1e126


def _double_text(x: float) -> str | None:
    if not _is_ordinary(x) or not (x == 0.0 or _DOUBLE_N_MIN <= abs(x) < _DOUBLE_N_LIMIT):
        return None
    return repr(x)  # at most 17 significant digits


def _float32_text(x: float) -> str | None:
    # Every finite float32 (up to 3.4e38, down to 1.4e-45, 9 digits) fits in N.
    return _shortest_float32(x) if _is_ordinary(x) else None


_FLOAT32_STRUCT = struct.Struct("<f")


def _as_float32(x: float) -> float:
    """What a proto float field stores for ``x`` (round to nearest float32)."""
    result: float = _FLOAT32_STRUCT.unpack(_FLOAT32_STRUCT.pack(x))[0]
    return result


def _positional(sign: str, digits: str, exponent: int) -> str:
    """``d.ddd`` (given without its point) times 10**exponent, written without an exponent."""
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    if exponent + 1 >= len(digits):
        return f"{sign}{digits}{'0' * (exponent + 1 - len(digits))}"
    return f"{sign}{digits[: exponent + 1]}.{digits[exponent + 1 :]}"


def _shortest_float32(x: float) -> str:
    """Shortest text that reads back as the same float32 when parsed via a double.

    numpy's shortest digits are exact for a float32 parser; the check guards the
    double-then-float32 rounding that ``float()`` plus a proto float field does.
    ``repr`` of the widened double always passes.
    """
    target = _as_float32(x)
    scientific = np.format_float_scientific(np.float32(x), unique=True, trim="-")
    mantissa, exponent_text = scientific.split("e")
    exponent = int(exponent_text)
    sign, unsigned = ("-", mantissa[1:]) if mantissa.startswith("-") else ("", mantissa)
    positional = _positional(sign, unsigned.replace(".", ""), exponent)
    for text in sorted((positional, f"{mantissa}e{exponent}"), key=len):
        if _as_float32(float(text)) == target:
            return text
    return repr(target)


def _float_order(x: float) -> tuple[bool, float, float]:
    """A total order (NaN last, -0.0 before 0.0), so decoded float sets are deterministic."""
    nan = math.isnan(x)
    return nan, 0.0 if nan else x, math.copysign(1.0, x)


# -- uuids and decimals ---------------------------------------------------------

_CANONICAL_DECIMAL = re.compile(r"-?(0|[1-9]\d*)(\.\d*[1-9])?")


def _canonical_uuid_bytes(text: str) -> bytes | None:
    """16 bytes when ``text`` is exactly how ``uuid.UUID`` prints, so decoding restores it."""
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return None
    return parsed.bytes if str(parsed) == text else None


def _raw_bytes(payload: bytes | str) -> bytes:
    """Binary payload as bytes: boto3 hands over bytes, the raw wire (fast read path) base64 text."""
    return base64.b64decode(payload) if isinstance(payload, str) else bytes(payload)


def _uuid_from_bytes(raw: bytes | str) -> str:
    return str(uuid.UUID(bytes=_raw_bytes(raw)))


def _canonical_decimal(text: str) -> str | None:
    """``text`` itself when DynamoDB would store and echo it unchanged as an N."""
    if text == "-0" or not _CANONICAL_DECIMAL.fullmatch(text) or not _fits_number(text):
        return None
    return text


# -- JSON ---------------------------------------------------------------------

# DynamoDB allows 32 levels of nesting; leave room for the list and generic
# wrappers a JSON value may sit inside. Deeper documents are stored as text.
_JSON_MAX_DEPTH = 24


class _NotNative(Exception):
    """Part of a JSON document that no DynamoDB type holds faithfully."""


def _reject_constant(name: str) -> Any:
    raise _NotNative(name)  # NaN, Infinity, -Infinity


class _FloatLiteral(str):
    """A JSON number with a fraction or exponent, kept as written so N stores the literal."""


def _json_float(literal: _FloatLiteral) -> AttributeValue:
    if not _fits_number(literal):
        raise _NotNative(literal)
    # Decoding turns an integral N into int, which only equals the original
    # float when that float is exactly the integer (1e5 is, 1e23 is not).
    d = Decimal(literal)
    if _is_integral(d) and Decimal(float(d)) != d:
        raise _NotNative(literal)
    return {"N": str(literal)}


def _json_int(i: int) -> AttributeValue:
    text = str(i)
    if not _fits_number(text):
        raise _NotNative(text)
    return {"N": text}


def _json_string(s: str) -> AttributeValue:
    s.encode("utf-8")  # lone surrogates from \\ud800 escapes raise here
    return {"S": s}


def _json_list(items: list[Any], depth: int) -> AttributeValue:
    return {"L": [_json_to_attr(item, depth + 1) for item in items]}


def _json_object(obj: dict[str, Any], depth: int) -> AttributeValue:
    if not all(_is_valid_name(key) for key in obj):
        raise _NotNative("object key")
    return {"M": {key: _json_to_attr(item, depth + 1) for key, item in obj.items()}}


_JSON_SCALARS: dict[type, Callable[[Any], AttributeValue]] = {
    type(None): lambda _: _null(),
    bool: lambda b: {"BOOL": b},
    int: _json_int,
    _FloatLiteral: _json_float,
    str: _json_string,
}
_JSON_CONTAINERS: dict[type, Callable[[Any, int], AttributeValue]] = {
    list: _json_list,
    dict: _json_object,
}


def _json_to_attr(obj: Any, depth: int) -> AttributeValue:
    container = _JSON_CONTAINERS.get(type(obj))
    if container is None:
        return _JSON_SCALARS[type(obj)](obj)
    if depth >= _JSON_MAX_DEPTH:
        raise _NotNative("too deep")
    return container(obj, depth)


def _encode_json(text: str) -> AttributeValue:
    """Native when the whole document is; otherwise the raw text, which is always exact."""
    try:
        document = json.loads(text, parse_float=_FloatLiteral, parse_constant=_reject_constant)
        if document is None or isinstance(document, str):
            # A bare string keeps S meaning "raw text"; NULL at the top means a null feature.
            raise _NotNative("bare string or null")
        return _json_to_attr(document, 0)
    except (ValueError, RecursionError, _NotNative):
        return {"S": text}


def _json_from_number(text: str) -> int | float:
    d = Decimal(text)
    return int(d) if _is_integral(d) else float(text)


_JSON_FROM_ATTR: dict[str, Callable[[Any], Any]] = {
    "NULL": lambda _: None,
    "BOOL": bool,
    "N": _json_from_number,
    "S": str,
    "L": lambda items: [_json_from_attr(item) for item in items],
    "M": lambda obj: {key: _json_from_attr(item) for key, item in obj.items()},
}


def _json_from_attr(attr: AttributeValue) -> Any:
    tag, payload = _single(attr)
    if tag not in _JSON_FROM_ATTR:
        raise CodecError(f"unexpected {tag} attribute in a JSON document")
    return _JSON_FROM_ATTR[tag](payload)


def _decode_json(attr: AttributeValue) -> str:
    tag, payload = _single(attr)
    if tag == "S":
        return str(payload)
    return json.dumps(_json_from_attr(attr), separators=(",", ":"), ensure_ascii=False)


# -- scalar kinds ----------------------------------------------------------------


def _identity(x: Any) -> Any:
    return x


def _preferring(
    tag: str, native: Callable[[Any], Any], fallback: Callable[[Any], str] = str
) -> Callable[[Any], AttributeValue]:
    """Encode as ``{tag: native(x)}``, or as S text when ``native`` says it cannot."""

    def encode(x: Any) -> AttributeValue:
        payload = native(x)
        return {tag: payload} if payload is not None else {"S": fallback(x)}

    return encode


# A set type and how to turn one element into its raw set member (None: cannot).
_SetForm = tuple[str, Callable[[Any], Any]]


@dataclass(frozen=True)
class _Kind:
    """How one element type is stored alone, and which DynamoDB set types can hold it."""

    encode: Callable[[Any], AttributeValue]
    decode: Callable[[AttributeValue], Any]
    set_forms: tuple[_SetForm, ...] = ()
    order: Callable[[Any], Any] = _identity


_BYTES = _Kind(lambda b: {"B": b}, _by_tag(B=_raw_bytes), (("BS", _identity),))
_STRING = _Kind(lambda s: {"S": s}, _by_tag(S=str), (("SS", _identity),))
_INT = _Kind(lambda i: {"N": str(i)}, _by_tag(N=_parse_int), (("NS", str),))
_BOOL = _Kind(lambda b: {"BOOL": b}, _by_tag(BOOL=bool))
_DOUBLE = _Kind(
    _preferring("N", _double_text, repr), _by_tag(N=float, S=float), (("NS", _double_text),), _float_order
)
_FLOAT32 = _Kind(
    _preferring("N", _float32_text, repr), _by_tag(N=float, S=float), (("NS", _float32_text),), _float_order
)
_UUID = _Kind(
    _preferring("B", _canonical_uuid_bytes),
    _by_tag(B=_uuid_from_bytes, S=str),
    (("BS", _canonical_uuid_bytes), ("SS", _identity)),
)
_DECIMAL = _Kind(
    _preferring("N", _canonical_decimal),
    _by_tag(N=_plain, S=str),
    (("NS", _canonical_decimal), ("SS", _identity)),
)
_JSON = _Kind(_encode_json, _decode_json)

# Keyed by the scalar oneof field; list and set fields reuse their element's kind.
_SCALAR_KINDS: dict[str, _Kind] = {
    "bytes_val": _BYTES,
    "string_val": _STRING,
    "int32_val": _INT,
    "int64_val": _INT,
    "unix_timestamp_val": _INT,
    "double_val": _DOUBLE,
    "float_val": _FLOAT32,
    "bool_val": _BOOL,
    "json_val": _JSON,
    "uuid_val": _UUID,
    "time_uuid_val": _UUID,
    "decimal_val": _DECIMAL,
}

_SET_MEMBER_TAG = {"SS": "S", "NS": "N", "BS": "B"}


def _encode_set(kind: _Kind, elements: Iterable[Any]) -> AttributeValue:
    """The first DynamoDB set type that holds every element, else an L without duplicates."""
    items = list(elements)
    for tag, member in kind.set_forms if items else ():
        members = [member(item) for item in items]
        if None not in members:
            return {tag: list(dict.fromkeys(members))}
    # Dedupe on the encoded form: it tells -0.0 from 0.0 and treats all NaNs alike.
    unique = {next(iter(attr.items())): attr for attr in map(kind.encode, items)}
    return {"L": list(unique.values())}


def _decode_set(kind: _Kind, attr: AttributeValue) -> list[Any]:
    tag, payload = _single(attr)
    if tag in _SET_MEMBER_TAG:
        items = [kind.decode({_SET_MEMBER_TAG[tag]: member}) for member in payload]
    elif tag == "L":
        items = [kind.decode(item) for item in payload]
    else:
        raise CodecError(f"expected a set or L attribute, got {tag}")
    return sorted(items, key=kind.order)


# -- field codecs ---------------------------------------------------------------

# Writes the decoded attribute into ``value.<field>``.
_Decoder = Callable[[AttributeValue, ValueProto, str], None]


@dataclass(frozen=True)
class _FieldCodec:
    """Encodes the content of one oneof field (``getattr(value, field)``) and decodes it back."""

    encode: Callable[[Any], AttributeValue]
    decode: _Decoder


def _fill_repeated(value: ValueProto, field: str, items: list[Any]) -> None:
    container = getattr(value, field)
    container.SetInParent()  # an empty list is still a set oneof, unlike null
    container.val.extend(items)


def _scalar_codec(kind: _Kind) -> _FieldCodec:
    return _FieldCodec(kind.encode, lambda attr, value, field: setattr(value, field, kind.decode(attr)))


def _list_codec(kind: _Kind) -> _FieldCodec:
    return _FieldCodec(
        lambda content: {"L": [kind.encode(item) for item in content.val]},
        lambda attr, value, field: _fill_repeated(
            value, field, [kind.decode(item) for item in _expect(attr, "L")]
        ),
    )


def _set_codec(kind: _Kind) -> _FieldCodec:
    return _FieldCodec(
        lambda content: _encode_set(kind, content.val),
        lambda attr, value, field: _fill_repeated(value, field, _decode_set(kind, attr)),
    )


def _message_codec(
    encode: Callable[[Any], AttributeValue], decode_into: Callable[[AttributeValue, Any], None]
) -> _FieldCodec:
    def decode(attr: AttributeValue, value: ValueProto, field: str) -> None:
        message = getattr(value, field)
        message.SetInParent()
        decode_into(attr, message)

    return _FieldCodec(encode, decode)


def _derived_codec(field: str) -> _FieldCodec | None:
    """``x_val`` is a scalar; ``x_list_val`` / ``x_set_val`` hold ``x_val`` elements."""
    if field in _SCALAR_KINDS:
        return _scalar_codec(_SCALAR_KINDS[field])
    for suffix, build in (("_list_val", _list_codec), ("_set_val", _set_codec)):
        element = field.removesuffix(suffix) + "_val"
        if field.endswith(suffix) and element in _SCALAR_KINDS:
            return build(_SCALAR_KINDS[element])
    return None


# -- generic (self-describing) values ---------------------------------------------

_VALUE_FIELDS = {fd.name: fd.number for fd in ValueProto.DESCRIPTOR.oneofs_by_name["val"].fields}
_FIELD_BY_NUMBER = {number: name for name, number in _VALUE_FIELDS.items()}
# Fields whose own encoding already says what they are, so they go untagged.
_NATIVE_GENERIC = {"S": "string_val", "BOOL": "bool_val", "N": "int64_val", "B": "bytes_val"}
_UNTAGGED_FIELDS = frozenset(_NATIVE_GENERIC.values())


def _encode_generic(value: ValueProto) -> AttributeValue:
    field = value.WhichOneof("val")
    if field is None:
        return _null()
    attr = _codec(field).encode(getattr(value, field))
    if field in _UNTAGGED_FIELDS:
        return attr
    return {"M": {str(_VALUE_FIELDS[field]): attr}}


def _decode_generic(attr: AttributeValue) -> ValueProto:
    tag, payload = _single(attr)
    if tag == "NULL":
        return ValueProto()
    if tag != "M":
        if tag not in _NATIVE_GENERIC:
            raise CodecError(f"unexpected {tag} attribute for a nested value")
        return decode_value(attr, _NATIVE_GENERIC[tag])
    if len(payload) != 1:
        raise CodecError(f"a nested value's M must have one field-number key, got {sorted(payload)}")
    ((number, inner),) = payload.items()
    field = _FIELD_BY_NUMBER.get(int(number))
    if field is None:
        raise CodecError(f"unknown Value field number {number}")
    return decode_value(inner, field)


def _encode_map(message: Map) -> AttributeValue:
    if all(_is_valid_name(key) for key in message.val):
        return {"M": {key: _encode_generic(item) for key, item in message.val.items()}}
    pairs = sorted(message.val.items())
    return {"L": [{"L": [{"S": key}, _encode_generic(item)]} for key, item in pairs]}


def _decode_map(attr: AttributeValue, message: Map) -> None:
    tag, payload = _single(attr)
    if tag == "M":
        entries = [(key, item) for key, item in payload.items()]
    elif tag == "L":
        entries = [(_expect(k, "S"), v) for k, v in (_expect(pair, "L") for pair in payload)]
    else:
        raise CodecError(f"expected an M or L attribute for a map, got {tag}")
    for key, item in entries:
        message.val[key].CopyFrom(_decode_generic(item))


def _encode_map_list(message: MapList) -> AttributeValue:
    return {"L": [_encode_map(item) for item in message.val]}


def _decode_map_list(attr: AttributeValue, message: MapList) -> None:
    for item in _expect(attr, "L"):
        _decode_map(item, message.val.add())


def _encode_repeated(message: RepeatedValue) -> AttributeValue:
    return {"L": [_encode_generic(item) for item in message.val]}


def _decode_repeated(attr: AttributeValue, message: RepeatedValue) -> None:
    message.val.extend(_decode_generic(item) for item in _expect(attr, "L"))


_KEY_FIELDS = {fd.name: fd.number for fd in MapKey.DESCRIPTOR.oneofs_by_name["key"].fields}
_KEY_FIELD_BY_NUMBER = {number: name for name, number in _KEY_FIELDS.items()}
# MapKey.x_key holds what Value.x_val holds.
_KEY_KINDS = {name: _SCALAR_KINDS[name.removesuffix("_key") + "_val"] for name in _KEY_FIELDS}


def _encode_key(entry: ScalarMapEntry) -> AttributeValue:
    """NULL: no key message; M{}: an empty key; M{field number: native}: a set key."""
    if not entry.HasField("key"):
        return _null()
    field = entry.key.WhichOneof("key")
    if field is None:
        return {"M": {}}
    return {"M": {str(_KEY_FIELDS[field]): _KEY_KINDS[field].encode(getattr(entry.key, field))}}


def _decode_key(attr: AttributeValue, entry: ScalarMapEntry) -> None:
    tag, payload = _single(attr)
    if tag == "NULL":
        return
    entry.key.SetInParent()
    fields = _expect(attr, "M")
    if len(fields) > 1:
        raise CodecError(f"a map key's M must have at most one field-number key, got {sorted(fields)}")
    for number, inner in fields.items():
        field = _KEY_FIELD_BY_NUMBER[int(number)]
        setattr(entry.key, field, _KEY_KINDS[field].decode(inner))


def _encode_scalar_map(message: ScalarMap) -> AttributeValue:
    """Entries stay a list (keys are typed, and M keys are only strings); a missing value is left out."""
    entries = []
    for entry in message.val:
        parts = [_encode_key(entry)]
        if entry.HasField("value"):
            parts.append(_encode_generic(entry.value))
        entries.append({"L": parts})
    return {"L": entries}


def _decode_scalar_map(attr: AttributeValue, message: ScalarMap) -> None:
    for item in _expect(attr, "L"):
        key, *rest = _expect(item, "L")
        entry = message.val.add()
        _decode_key(key, entry)
        for value in rest:
            entry.value.SetInParent()  # CopyFrom of an empty Value would not mark it present
            entry.value.CopyFrom(_decode_generic(value))


def _encode_zoned(message: ZonedTimestamp) -> AttributeValue:
    return {"M": {"t": {"N": str(message.unix_timestamp)}, "z": {"S": message.zone}}}


def _decode_zoned(attr: AttributeValue, message: ZonedTimestamp) -> None:
    fields = _expect(attr, "M")
    message.unix_timestamp = _parse_int(_expect(fields["t"], "N"))
    message.zone = _expect(fields["z"], "S")


def _decode_null(attr: AttributeValue, value: ValueProto, field: str) -> None:
    _expect(attr, "NULL")
    value.null_val = Null.NULL


_MAP_CODEC = _message_codec(_encode_map, _decode_map)
_MAP_LIST_CODEC = _message_codec(_encode_map_list, _decode_map_list)
_REPEATED_CODEC = _message_codec(_encode_repeated, _decode_repeated)

_STRUCTURED_CODECS: dict[str, _FieldCodec] = {
    "null_val": _FieldCodec(lambda _: _null(), _decode_null),
    "map_val": _MAP_CODEC,
    "struct_val": _MAP_CODEC,
    "map_list_val": _MAP_LIST_CODEC,
    "struct_list_val": _MAP_LIST_CODEC,
    "list_val": _REPEATED_CODEC,
    "set_val": _REPEATED_CODEC,
    "scalar_map_val": _message_codec(_encode_scalar_map, _decode_scalar_map),
    "zoned_timestamp_val": _message_codec(_encode_zoned, _decode_zoned),
}


def _build_codecs() -> dict[str, _FieldCodec]:
    codecs = {}
    for field in _VALUE_FIELDS:
        codec = _STRUCTURED_CODECS.get(field) or _derived_codec(field)
        if codec is not None:  # a field added by a newer Feast fails loudly at use instead
            codecs[field] = codec
    return codecs


_CODECS = _build_codecs()


def _codec(field: str) -> _FieldCodec:
    codec = _CODECS.get(field)
    if codec is None:
        raise CodecError(f"no codec for Value field {field!r}")
    return codec


# -- public API -----------------------------------------------------------------

_FIELD_ALIASES = {
    ValueType.PDF_BYTES: "bytes_val",
    ValueType.IMAGE_BYTES: "bytes_val",
    ValueType.VALUE_LIST: "list_val",
    ValueType.VALUE_SET: "set_val",
}
_UNSTORABLE_TYPES = frozenset({ValueType.UNKNOWN, ValueType.NULL})


def value_field_for(value_type: ValueType) -> str:
    """The Value oneof field a feature of this Feast dtype is written with, which picks its codec."""
    if value_type in _UNSTORABLE_TYPES:
        raise CodecError(f"features of type {value_type.name} cannot be stored")
    field = _FIELD_ALIASES.get(value_type, f"{value_type.name.lower()}_val")
    if field not in _CODECS:
        raise CodecError(f"no Value field for type {value_type.name}")
    return field


def encode_value(value: ValueProto, field: str) -> AttributeValue:
    """The attribute to store for ``value`` declared as ``field``; NULL for a null.

    A value set to another field than declared is refused rather than coerced,
    since decoding would read it back as the declared type.
    """
    codec = _codec(field)
    actual = value.WhichOneof("val")
    if actual is None or actual == "null_val":
        return _null()
    if actual != field:
        raise CodecError(f"expected {field}, got {actual}")
    return codec.encode(getattr(value, field))


def decode_value(attr: AttributeValue, field: str) -> ValueProto:
    """The Value that ``encode_value(_, field)`` stored as ``attr``.

    A NULL attribute reads as an empty Value (Feast's null), except as a
    null_val, which only generic (nested) values hold.
    """
    codec = _codec(field)
    value = ValueProto()
    if field != "null_val" and _single(attr)[0] == NULL:
        return value
    try:
        codec.decode(attr, value, field)
    except CodecError:
        raise
    except (LookupError, TypeError, ValueError, ArithmeticError) as error:
        raise CodecError(f"cannot decode {field} from {attr!r:.200}: {error}") from error
    return value


def encode_feature(feature: str, value: ValueProto, field: str) -> AttributeValue:
    """``encode_value`` whose errors name the feature."""
    try:
        return encode_value(value, field)
    except CodecError as error:
        raise CodecError(str(error), feature) from error


def decode_feature(feature: str, attr: AttributeValue, field: str) -> ValueProto:
    """``decode_value`` whose errors name the feature."""
    try:
        return decode_value(attr, field)
    except CodecError as error:
        raise CodecError(str(error), feature) from error


# -- sizes -------------------------------------------------------------------------


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _number_size(text: str) -> int:
    """Bytes DynamoDB bills for an N.

    AWS documents "approximately 1 byte per two significant digits + 1 byte".
    N is stored base-100 like Oracle's NUMBER: one exponent byte, one byte per
    base-100 digit pair (pairs aligned on the exponent, so an even digit count
    can straddle one more pair), and one terminator byte for negatives; zero is
    one byte. This matches the documented rule for positive numbers with an odd
    digit count and dynalite's model measured against DynamoDB for all others.
    """
    d = Decimal(text)
    if d.is_zero():
        return 1
    sign, digits, _ = _significant(d)
    first = d.adjusted()  # power of ten of the leading digit
    last = first - len(digits) + 1
    return 1 + (first // 2 - last // 2 + 1) + sign


def _list_size(items: list[AttributeValue]) -> int:
    return 3 + sum(1 + encoded_size(item) for item in items)


def _map_size(fields: dict[str, AttributeValue]) -> int:
    return 3 + sum(1 + _utf8_len(key) + encoded_size(item) for key, item in fields.items())


_SIZES: dict[str, Callable[[Any], int]] = {
    "S": _utf8_len,
    "N": _number_size,
    "B": len,
    "BOOL": lambda _: 1,
    "NULL": lambda _: 1,
    "SS": lambda members: sum(map(_utf8_len, members)),
    "NS": lambda members: sum(map(_number_size, members)),
    "BS": lambda members: sum(map(len, members)),
    "L": _list_size,
    "M": _map_size,
}


def encoded_size(attr: AttributeValue) -> int:
    """Bytes DynamoDB counts toward the 400 KB item limit for this value (name excluded).

    Rules (AWS "Item sizes and formats"): S is its UTF-8 length; B its raw
    length; N see ``_number_size``; BOOL and NULL 1 byte; L and M 3 bytes plus,
    per element, 1 byte + its size (+ the key's UTF-8 length in an M); a set is
    the sum of its members' sizes.
    """
    tag, payload = _single(attr)
    size = _SIZES.get(tag)
    if size is None:
        raise CodecError(f"unknown attribute type {tag}")
    return size(payload)


def item_size(item: dict[str, AttributeValue]) -> int:
    """An item's size as DynamoDB measures it against the 400 KB limit: names plus values."""
    return sum(_utf8_len(name) + encoded_size(attr) for name, attr in item.items())


# -- the read path's fast decoders ---------------------------------------------------
#
# decode_value is general; a read of 100 entities x 100 features calls it 10,000
# times, so the shapes that make up nearly all feature data get a decoder that
# builds the Value in one step and hands anything unusual to decode_value.


def _ranged(bits: int) -> Callable[[str], int]:
    """int() that refuses what the proto field would refuse, so a converted value can always be set."""
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1)

    def convert(payload: str) -> int:
        number = int(payload)
        if not low <= number < high:
            raise ValueError(f"{payload} does not fit in {bits} bits")
        return number

    return convert


_INT64, _INT32 = _ranged(64), _ranged(32)

# A scalar field's one expected tag and the conversion of its payload. A
# converted payload is a valid value for the field: readers may set it on a
# Value without checks. Anything else (a NaN stored as S, a decimal) raises
# KeyError or ValueError, and the caller falls back to decode_value.
SCALAR_PAYLOADS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "double_val": ("N", float),
    "float_val": ("N", float),
    "int64_val": ("N", _INT64),
    "int32_val": ("N", _INT32),
    "unix_timestamp_val": ("N", _INT64),
    "string_val": ("S", str),
    "bool_val": ("BOOL", bool),
    "bytes_val": ("B", _raw_bytes),
}


def _elements(tag: str, convert: Callable[[Any], Any]) -> Callable[[list[AttributeValue]], list[Any]]:
    def convert_all(elements: list[AttributeValue]) -> list[Any]:
        return [convert(element[tag]) for element in elements]

    return convert_all


# A list of scalars: L of its elements' usual forms, converted to a plain list
# of valid element values. Lists in feature data are short lists of numbers or
# labels; decode_value would build a Value per element and copy it over.
LIST_PAYLOADS: dict[str, tuple[str, Callable[[Any], list[Any]]]] = {
    field.removesuffix("_val") + "_list_val": ("L", _elements(tag, convert))
    for field, (tag, convert) in SCALAR_PAYLOADS.items()
}

# How a map's entries are usually stored (see GENERIC): a string, int64, bool
# or bytes natively, any other scalar as M{field number: its usual form}.
_NATIVE_SCALARS = {tag: (field, SCALAR_PAYLOADS[field][1]) for tag, field in _NATIVE_GENERIC.items()}
_TAGGED_SCALARS = {
    str(_VALUE_FIELDS[field]): (field, tag, convert) for field, (tag, convert) in SCALAR_PAYLOADS.items()
}


def _generic_scalar(attr: AttributeValue) -> dict[str, Any]:
    """A nested scalar as ``_decode_generic`` reads it, as the Value's initialiser ``{field: value}``."""
    ((tag, payload),) = attr.items()
    if tag == "M":
        ((number, inner),) = payload.items()
        field, inner_tag, convert = _TAGGED_SCALARS[number]
        return {field: convert(inner[inner_tag])}
    field, convert = _NATIVE_SCALARS[tag]
    return {field: convert(payload)}


def _scalar_map(entries: dict[str, AttributeValue]) -> dict[str, dict[str, Any]]:
    # Initialisers, not Values: protobuf builds the whole map from them in one
    # C call, where Values would each be built, then copied into the map.
    return {key: _generic_scalar(item) for key, item in entries.items()}


# Every field with a fast path: its usual tag, and the conversion of that
# tag's payload to a plain value (``value_columns.fill`` appends plain values):
# for SCALAR_PAYLOADS the field's value; for the others the content of the
# field's ``val``, a list of scalars for LIST_PAYLOADS, for maps of scalars
# (the usual map) a dict of Value initialisers. Whatever else is stored raises
# one of UNUSUAL and is decode_value's to decide.
PLAIN_PAYLOADS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    **SCALAR_PAYLOADS,
    **LIST_PAYLOADS,
    "map_val": ("M", _scalar_map),
    "struct_val": ("M", _scalar_map),
}
# The fields whose plain value is what their message's ``val`` holds.
PLAIN_CONTENTS = frozenset(PLAIN_PAYLOADS) - frozenset(SCALAR_PAYLOADS)
# What a fast conversion raises on a value it does not handle (a wrong tag, a
# NaN stored as S, an entry not shaped as usual, a number out of range).
UNUSUAL = (KeyError, ValueError, TypeError, AttributeError)


def _plain_to_value(field: str) -> Callable[[Any], ValueProto]:
    """Makes the Value of ``field`` holding a plain value from ``PLAIN_PAYLOADS[field]``."""
    if field in PLAIN_CONTENTS:

        def with_contents(plain: Any) -> ValueProto:
            # A dict initialiser sets the field even when the list or map is empty.
            fields: dict[str, Any] = {field: {"val": plain}}
            return ValueProto(**fields)

        return with_contents
    return lambda plain: ValueProto(**{field: plain})


def _fast_decoder(field: str) -> Callable[[AttributeValue], ValueProto]:
    tag, convert = PLAIN_PAYLOADS[field]
    as_value = _plain_to_value(field)

    def decode(attr: AttributeValue) -> ValueProto:
        payload = attr.get(tag)
        if payload is not None:
            try:
                return as_value(convert(payload))
            except UNUSUAL:
                pass
        return decode_value(attr, field)

    return decode


_FAST_DECODERS = {field: _fast_decoder(field) for field in PLAIN_PAYLOADS}


def decoder_for(field: str) -> Callable[[AttributeValue], ValueProto]:
    """A decoder equal to ``decode_value(_, field)``, faster for common fields."""
    fast = _FAST_DECODERS.get(field)
    if fast is not None:
        return fast
    _codec(field)  # fail now, not on the first row, for a field the codec does not know
    return lambda attr: decode_value(attr, field)


# -- the write path's fast encoders ---------------------------------------------------
#
# A materialization encodes millions of values; like the read path's decoders,
# the common shapes get an encoder that builds the attribute in one step, and
# anything unusual (a null, a NaN, a zero that may be negative, a value set to
# another field than declared) goes to encode_value, which decides.


def _in_double_range(x: float) -> bool:
    # False for 0.0 (which may be -0.0), NaN and the infinities: encode_value decides those.
    return _DOUBLE_N_MIN <= abs(x) < _DOUBLE_N_LIMIT


def _fast_double(value: ValueProto) -> AttributeValue:
    if value.WhichOneof("val") == "double_val":
        x = value.double_val
        if _in_double_range(x):
            return {"N": repr(x)}
    return encode_value(value, "double_val")


def _fast_integer(field: str) -> Callable[[ValueProto], AttributeValue]:
    def encode(value: ValueProto) -> AttributeValue:
        if value.WhichOneof("val") == field:
            return {"N": str(getattr(value, field))}
        return encode_value(value, field)

    return encode


def _fast_string(value: ValueProto) -> AttributeValue:
    if value.WhichOneof("val") == "string_val":
        return {"S": value.string_val}
    return encode_value(value, "string_val")


def _fast_double_list(value: ValueProto) -> AttributeValue:
    if value.WhichOneof("val") == "double_list_val":
        items = value.double_list_val.val
        if all(map(_in_double_range, items)):
            return {"L": [{"N": repr(x)} for x in items]}
    return encode_value(value, "double_list_val")


def _fast_integer_list(field: str) -> Callable[[ValueProto], AttributeValue]:
    def encode(value: ValueProto) -> AttributeValue:
        if value.WhichOneof("val") == field:
            return {"L": [{"N": str(i)} for i in getattr(value, field).val]}
        return encode_value(value, field)

    return encode


def _fast_string_list(value: ValueProto) -> AttributeValue:
    if value.WhichOneof("val") == "string_list_val":
        return {"L": [{"S": s} for s in value.string_list_val.val]}
    return encode_value(value, "string_list_val")


def _fast_map(value: ValueProto) -> AttributeValue:
    # The map codec's own steps, with its commonest entries (strings, integers) built inline and
    # ASCII keys, which are always valid names, not encoded to be measured.
    if value.WhichOneof("val") != "map_val":
        return encode_value(value, "map_val")
    entries: dict[str, AttributeValue] = {}
    for key, item in value.map_val.val.items():
        if not (key.isascii() and 0 < len(key) < 65536):
            return _encode_map(value.map_val)
        field = item.WhichOneof("val")
        if field == "string_val":
            entries[key] = {"S": item.string_val}
        elif field == "int64_val":
            entries[key] = {"N": str(item.int64_val)}
        else:
            entries[key] = _encode_generic(item)
    return {"M": entries}


_FAST_ENCODERS: dict[str, Callable[[ValueProto], AttributeValue]] = {
    "double_val": _fast_double,
    "int64_val": _fast_integer("int64_val"),
    "int32_val": _fast_integer("int32_val"),
    "unix_timestamp_val": _fast_integer("unix_timestamp_val"),
    "string_val": _fast_string,
    "double_list_val": _fast_double_list,
    "int64_list_val": _fast_integer_list("int64_list_val"),
    "int32_list_val": _fast_integer_list("int32_list_val"),
    "string_list_val": _fast_string_list,
    "map_val": _fast_map,
}


def encoder_for(field: str) -> Callable[[ValueProto], AttributeValue]:
    """An encoder equal to ``encode_value(_, field)``, faster for common fields."""
    fast = _FAST_ENCODERS.get(field)
    if fast is not None:
        return fast
    _codec(field)  # fail now, not on the first row, for a field the codec does not know
    return lambda value: encode_value(value, field)
