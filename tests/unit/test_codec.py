"""Property tests of the native DynamoDB codec over every oneof field of Feast's Value.

Each value goes encode -> the wire (DynamoDB JSON, binary as base64, numbers
re-spelled and set members reordered as DynamoDB does) -> decode, and must come
back the same. "The same" is ``comparable``: exact for every field except that
sets compare as sets, JSON compares by ``json.loads`` and NaNs compare equal.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import uuid
from collections.abc import Callable
from decimal import Context, Decimal
from typing import Any

import numpy as np
import pytest
from feast.protos.feast.types.Value_pb2 import (
    BoolList,
    BoolSet,
    BytesList,
    BytesSet,
    DoubleList,
    DoubleSet,
    FloatList,
    FloatSet,
    Int32List,
    Int32Set,
    Int64List,
    Int64Set,
    Map,
    MapKey,
    MapList,
    Null,
    RepeatedValue,
    ScalarMap,
    ScalarMapEntry,
    StringList,
    StringSet,
    ZonedTimestamp,
)
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.value_type import ValueType
from google.protobuf.message import Message
from hypothesis import example, given
from hypothesis import strategies as st

from feast_chalk_dynamo.items.codec import (
    AttributeValue,
    CodecError,
    decode_feature,
    decode_value,
    encode_feature,
    encode_value,
    encoded_size,
    item_size,
    value_field_for,
)

ONEOF_FIELDS = [fd.name for fd in ValueProto.DESCRIPTOR.oneofs_by_name["val"].fields]
# Every field a feature may be declared with (null_val is only ever a value inside another).
ROUND_TRIP_FIELDS = [field for field in ONEOF_FIELDS if field != "null_val"]
# The two spellings of Feast's null.
NULLS = [ValueProto(), ValueProto(null_val=Null.NULL)]

# -- strategies ------------------------------------------------------------------

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([-(2**63), 2**63 - 1, 0, -1]))
DOUBLES = st.one_of(
    st.floats(),
    st.sampled_from(
        [
            0.0, -0.0, math.nan, -math.nan, math.inf, -math.inf,
            5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
            1e-130, 9.99e-131, 1e126, 9.999999999999999e125, -1e125, 1e300, 1e-300, 0.1, 1 / 3,
        ]
    ),
)  # fmt: skip
FLOATS = st.one_of(
    st.floats(width=32),
    st.sampled_from([float(np.float32(x)) for x in (1e-45, 1.1754942e-38, 3.4028235e38, 0.1, 16777217.0)]),
)
TEXT = st.text(max_size=24)
UUIDS = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: f"{{{u}}}"),
    st.uuids().map(lambda u: u.urn),
    TEXT,
)
DECIMALS = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,44})(\.[0-9]{0,44}[1-9])?", fullmatch=True),
    st.decimals().map(str),
    st.sampled_from(["-0", "0.0", "1e5", "1E+5", "0.10", "00", "1" + "0" * 125, "1" + "0" * 126]),
    st.sampled_from(["0." + "0" * 129 + "1", "0." + "0" * 130 + "1", "9" * 38, "9" * 39, ".5", "+1"]),
    TEXT,
)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**45), 10**45), st.floats(), st.text(max_size=8)
)
JSON_DOCUMENTS = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)
NUMBER_LITERALS = st.from_regex(
    r"-?(0|[1-9][0-9]{0,42})(\.[0-9]{1,42})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)
JSON_TEXTS = st.one_of(
    st.builds(
        json.dumps,
        JSON_DOCUMENTS,
        ensure_ascii=st.booleans(),
        separators=st.sampled_from([(",", ":"), (", ", ": ")]),
    ),
    NUMBER_LITERALS,
    NUMBER_LITERALS.map(lambda literal: f'{{"n": [{literal}]}}'),
    st.sampled_from(['["\\ud800"]', '{"\\udc00": 1}', '{"": 1}', "[" * 40 + "]" * 40, " [ ] ", "-0"]),
    TEXT,  # mostly not JSON at all
)


def _values(field: str, contents: st.SearchStrategy[Any]) -> st.SearchStrategy[ValueProto]:
    return contents.map(lambda content: ValueProto(**{field: content}))


def _with_duplicates(elements: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """Sets arrive from Feast as lists, duplicates included; the codec must drop them."""
    return st.lists(elements, max_size=6).map(lambda items: items + items[:2])


# Element strategy and message class of each list/set field, by element field name.
SCALARS: dict[str, tuple[st.SearchStrategy[Any], type[Message] | None, type[Message] | None]] = {
    "bytes_val": (st.binary(max_size=24), BytesList, BytesSet),
    "string_val": (TEXT, StringList, StringSet),
    "int32_val": (INT32, Int32List, Int32Set),
    "int64_val": (INT64, Int64List, Int64Set),
    "double_val": (DOUBLES, DoubleList, DoubleSet),
    "float_val": (FLOATS, FloatList, FloatSet),
    "bool_val": (st.booleans(), BoolList, BoolSet),
    "unix_timestamp_val": (INT64, Int64List, Int64Set),
    "json_val": (JSON_TEXTS, StringList, None),
    "uuid_val": (UUIDS, StringList, StringSet),
    "time_uuid_val": (UUIDS, StringList, StringSet),
    "decimal_val": (DECIMALS, StringList, StringSet),
}


def _scalar_contents() -> dict[str, st.SearchStrategy[Any]]:
    contents: dict[str, st.SearchStrategy[Any]] = {}
    for field, (elements, list_type, set_type) in SCALARS.items():
        prefix = field.removesuffix("_val")
        contents[field] = elements
        if list_type is not None:
            contents[f"{prefix}_list_val"] = st.builds(list_type, val=st.lists(elements, max_size=6))
        if set_type is not None:
            contents[f"{prefix}_set_val"] = st.builds(set_type, val=_with_duplicates(elements))
    contents["zoned_timestamp_val"] = st.builds(
        ZonedTimestamp,
        unix_timestamp=INT64,
        zone=st.one_of(st.sampled_from(["", "UTC", "America/Los_Angeles", "-07:00"]), TEXT),
    )
    return contents


SCALAR_CONTENTS = _scalar_contents()


def _map_keys() -> st.SearchStrategy[MapKey | None]:
    typed = [
        st.builds(MapKey, **{fd.name: SCALARS[fd.name.removesuffix("_key") + "_val"][0]})
        for fd in MapKey.DESCRIPTOR.fields
    ]
    return st.one_of(st.none(), st.just(MapKey()), *typed)


def _scalar_map_entry(
    key: MapKey | None, value: ValueProto | None
) -> ScalarMapEntry:  # None: leave the submessage unset
    entry = ScalarMapEntry()
    if key is not None:
        entry.key.CopyFrom(key)
        entry.key.SetInParent()
    if value is not None:
        entry.value.SetInParent()
        entry.value.CopyFrom(value)
    return entry


def _container_contents(children: st.SearchStrategy[ValueProto]) -> dict[str, st.SearchStrategy[Any]]:
    maps = st.builds(Map, val=st.dictionaries(st.text(max_size=6), children, max_size=4))
    map_lists = st.builds(MapList, val=st.lists(maps, max_size=3))
    repeated = st.builds(RepeatedValue, val=st.lists(children, max_size=4))
    entries = st.builds(_scalar_map_entry, _map_keys(), st.one_of(st.none(), children))
    return {
        "map_val": maps,
        "struct_val": maps,
        "map_list_val": map_lists,
        "struct_list_val": map_lists,
        "list_val": repeated,
        "set_val": repeated,
        "scalar_map_val": st.builds(ScalarMap, val=st.lists(entries, max_size=4)),
    }


LEAF_VALUES = st.one_of(
    st.just(ValueProto()),
    st.just(ValueProto(null_val=Null.NULL)),
    *(_values(field, contents) for field, contents in SCALAR_CONTENTS.items()),
)
NESTED_VALUES = st.recursive(
    LEAF_VALUES,
    lambda children: st.one_of(
        *(_values(field, contents) for field, contents in _container_contents(children).items())
    ),
    max_leaves=8,
)
CONTENTS = {**SCALAR_CONTENTS, **_container_contents(NESTED_VALUES)}
VALUE_STRATEGIES = {field: _values(field, contents) for field, contents in CONTENTS.items()}

# -- comparing and the wire --------------------------------------------------------


def _float_key(x: float) -> Any:
    return "nan" if math.isnan(x) else struct.pack(">d", x)


def _element_key(x: Any) -> Any:
    return _float_key(x) if isinstance(x, float) else x


def _json_meaning(text: str) -> Any:
    """What the JSON rule promises to keep: json.loads' result (raw text if it is not JSON)."""
    try:
        return json.loads(text, parse_constant=lambda name: ("constant", name))
    except (ValueError, RecursionError):
        return ("raw", text)


def _comparable_field(name: str, content: Any, is_map: bool, is_repeated: bool) -> Any:
    if name == "json_val":
        return _json_meaning(content)
    if name == "json_list_val":
        return [_json_meaning(item) for item in content.val]
    if name.endswith("_set_val"):
        return frozenset(_element_key(item) for item in content.val)
    if is_map:
        return {key: comparable(item) for key, item in content.items()}
    if is_repeated:
        return [_comparable_element(item) for item in content]
    return _comparable_element(content)


def _comparable_element(item: Any) -> Any:
    return comparable(item) if isinstance(item, Message) else _element_key(item)


def comparable(message: Message) -> Any:
    """A structure equal for two messages exactly when the codec promises they round-trip."""
    fields = {}
    for fd, content in message.ListFields():
        is_map = fd.message_type is not None and fd.message_type.GetOptions().map_entry
        fields[fd.name] = _comparable_field(fd.name, content, is_map, fd.is_repeated)
    return message.DESCRIPTOR.name, fields


def _plain_number(text: str) -> str:
    d = Decimal(text)
    return "0" if d.is_zero() else format(d.normalize(Context(prec=80)), "f")


def _scientific_number(text: str) -> str:
    return str(Decimal(text).normalize(Context(prec=80)))


def _to_wire(attr: AttributeValue, number: Callable[[str], str]) -> Any:
    """Serialize as DynamoDB's JSON protocol does, re-spelling N and reordering sets like the server."""
    ((tag, payload),) = attr.items()
    converters: dict[str, Callable[[Any], Any]] = {
        "B": lambda raw: base64.b64encode(raw).decode(),
        "BS": lambda members: [base64.b64encode(raw).decode() for raw in reversed(members)],
        "N": number,
        "NS": lambda members: [number(text) for text in reversed(members)],
        "SS": lambda members: list(reversed(members)),
        "L": lambda items: [_to_wire(item, number) for item in items],
        "M": lambda fields: {key: _to_wire(item, number) for key, item in fields.items()},
    }
    return {tag: converters.get(tag, lambda same: same)(payload)}


def _from_wire(attr: Any) -> AttributeValue:
    ((tag, payload),) = attr.items()
    converters: dict[str, Callable[[Any], Any]] = {
        "B": base64.b64decode,
        "BS": lambda members: [base64.b64decode(text) for text in members],
        "L": lambda items: [_from_wire(item) for item in items],
        "M": lambda fields: {key: _from_wire(item) for key, item in fields.items()},
    }
    return {tag: converters.get(tag, lambda same: same)(payload)}


def over_the_wire(attr: AttributeValue, number: Callable[[str], str] = _plain_number) -> AttributeValue:
    return _from_wire(json.loads(json.dumps(_to_wire(attr, number))))


def _leaves(attr: AttributeValue) -> list[tuple[str, Any]]:
    ((tag, payload),) = attr.items()
    if tag == "L":
        return [leaf for item in payload for leaf in _leaves(item)]
    if tag == "M":
        return [leaf for item in payload.values() for leaf in _leaves(item)]
    return [(tag, payload)]


# -- round trips ---------------------------------------------------------------------


def test_strategies_cover_every_oneof_field() -> None:
    assert sorted(VALUE_STRATEGIES) == sorted(ROUND_TRIP_FIELDS)


@pytest.mark.parametrize("number", [_plain_number, _scientific_number], ids=["plain-N", "scientific-N"])
@pytest.mark.parametrize("field", ROUND_TRIP_FIELDS)
@given(data=st.data())
def test_round_trip(field: str, number: Callable[[str], str], data: st.DataObject) -> None:
    """Every value, nulls mixed in (a null comes back as Feast's null, an empty Value)."""
    value = data.draw(st.one_of(VALUE_STRATEGIES[field], st.sampled_from(NULLS)))
    attr = encode_value(value, field)
    expected = value if value.WhichOneof("val") not in (None, "null_val") else ValueProto()
    assert comparable(decode_value(over_the_wire(attr, number), field)) == comparable(expected)


@pytest.mark.parametrize("field", [field for field in ONEOF_FIELDS if field.endswith("_set_val")])
@given(data=st.data())
def test_decoded_sets_are_unique_and_independent_of_member_order(field: str, data: st.DataObject) -> None:
    attr = encode_value(data.draw(VALUE_STRATEGIES[field]), field)
    assert attr is not None
    ((tag, members),) = attr.items()
    shuffled = {tag: data.draw(st.permutations(members))}
    decoded = decode_value(shuffled, field)
    elements = [_element_key(item) for item in getattr(decoded, field).val]
    assert len(elements) == len(set(elements))
    assert decoded.SerializeToString() == decode_value(attr, field).SerializeToString()


@given(st.floats(width=32))
def test_float32_round_trips_bit_exactly_with_shortest_text(x: float) -> None:
    attr = encode_value(ValueProto(float_val=x), "float_val")
    assert attr is not None
    back = decode_value(over_the_wire(attr), "float_val").float_val
    if math.isnan(x):
        assert math.isnan(back)
        return
    assert struct.pack("<f", back) == struct.pack("<f", x)
    if "N" in attr:
        assert len(attr["N"]) <= len(np.format_float_positional(np.float32(x), unique=True, trim="-"))


@given(DOUBLES)
def test_double_is_a_number_exactly_when_dynamodb_can_hold_it(x: float) -> None:
    attr = encode_value(ValueProto(double_val=x), "double_val")
    representable = math.isfinite(x) and (x == 0 or 1e-130 <= abs(x) < 1e126) and str(x) != "-0.0"
    assert attr == ({"N": repr(x)} if representable else {"S": repr(x)})


@pytest.mark.parametrize("field", ROUND_TRIP_FIELDS)
def test_a_null_is_stored_as_NULL(field: str) -> None:
    """A written null is an attribute of its own, so a read tells it from a feature never written."""
    for null in NULLS:
        assert encode_value(null, field) == {"NULL": True}
    assert decode_value({"NULL": True}, field) == ValueProto()


@pytest.mark.parametrize("field", ROUND_TRIP_FIELDS)
@given(data=st.data())
def test_no_value_is_stored_as_NULL(field: str, data: st.DataObject) -> None:
    """So a NULL in a feature's attribute is always a written null (a JSON document null is text)."""
    value = data.draw(VALUE_STRATEGIES[field])
    assert "NULL" not in encode_value(value, field)


def test_null_inside_a_value_is_null_val() -> None:
    assert decode_value({"NULL": True}, "null_val") == ValueProto(null_val=Null.NULL)


# -- native layout -------------------------------------------------------------------

CANONICAL_UUID = "abcdef12-3456-4789-abcd-ef0123456789"

GOLDEN: list[tuple[ValueProto, AttributeValue]] = [
    (ValueProto(int64_val=-(2**63)), {"N": "-9223372036854775808"}),
    (ValueProto(int32_val=7), {"N": "7"}),
    (ValueProto(unix_timestamp_val=1700000000), {"N": "1700000000"}),
    (ValueProto(string_val=""), {"S": ""}),
    (ValueProto(bytes_val=b""), {"B": b""}),
    (ValueProto(bool_val=False), {"BOOL": False}),
    (ValueProto(double_val=0.5), {"N": "0.5"}),
    (ValueProto(double_val=math.inf), {"S": "inf"}),
    (ValueProto(double_val=-0.0), {"S": "-0.0"}),
    (ValueProto(double_val=1e126), {"S": "1e+126"}),
    (ValueProto(double_val=1e-130), {"N": "1e-130"}),
    (ValueProto(double_val=5e-324), {"S": "5e-324"}),
    (ValueProto(float_val=0.1), {"N": "0.1"}),
    (ValueProto(float_val=float(np.float32(1e-30))), {"N": "1e-30"}),
    (ValueProto(float_val=float(np.float32(3.4028235e38))), {"N": "3.4028235e38"}),
    (ValueProto(uuid_val=CANONICAL_UUID), {"B": uuid.UUID(CANONICAL_UUID).bytes}),
    (ValueProto(time_uuid_val=CANONICAL_UUID.upper()), {"S": CANONICAL_UUID.upper()}),
    (ValueProto(decimal_val="-123.45"), {"N": "-123.45"}),
    (ValueProto(decimal_val="1.50"), {"S": "1.50"}),
    (ValueProto(decimal_val="-0"), {"S": "-0"}),
    (ValueProto(decimal_val="1" * 39), {"S": "1" * 39}),
    (ValueProto(int32_list_val=Int32List(val=[1, -2])), {"L": [{"N": "1"}, {"N": "-2"}]}),
    (ValueProto(bool_list_val=BoolList(val=[True])), {"L": [{"BOOL": True}]}),
    (ValueProto(double_list_val=DoubleList(val=[1.5, math.nan])), {"L": [{"N": "1.5"}, {"S": "nan"}]}),
    (ValueProto(string_list_val=StringList()), {"L": []}),
    (
        ValueProto(uuid_list_val=StringList(val=[CANONICAL_UUID, "x"])),
        {"L": [{"B": uuid.UUID(CANONICAL_UUID).bytes}, {"S": "x"}]},
    ),
    (ValueProto(int64_set_val=Int64Set(val=[3, 1, 3])), {"NS": ["3", "1"]}),
    (ValueProto(string_set_val=StringSet(val=["b", "", "b"])), {"SS": ["b", ""]}),
    (ValueProto(bytes_set_val=BytesSet(val=[b"\x00", b""])), {"BS": [b"\x00", b""]}),
    (ValueProto(bytes_set_val=BytesSet()), {"L": []}),
    (ValueProto(bool_set_val=BoolSet(val=[True, True])), {"L": [{"BOOL": True}]}),
    (ValueProto(double_set_val=DoubleSet(val=[0.0, 1.5])), {"NS": ["0.0", "1.5"]}),
    (ValueProto(double_set_val=DoubleSet(val=[0.0, -0.0])), {"L": [{"N": "0.0"}, {"S": "-0.0"}]}),
    (ValueProto(float_set_val=FloatSet(val=[0.25])), {"NS": ["0.25"]}),
    (ValueProto(uuid_set_val=StringSet(val=[CANONICAL_UUID])), {"BS": [uuid.UUID(CANONICAL_UUID).bytes]}),
    (ValueProto(uuid_set_val=StringSet(val=[CANONICAL_UUID, "x"])), {"SS": [CANONICAL_UUID, "x"]}),
    (ValueProto(decimal_set_val=StringSet(val=["1", "2.5"])), {"NS": ["1", "2.5"]}),
    (ValueProto(decimal_set_val=StringSet(val=["1", "1.0"])), {"SS": ["1", "1.0"]}),
    (
        ValueProto(json_val='{"a": [1, 2.50, "x", true, null], "b": {}}'),
        {
            "M": {
                "a": {"L": [{"N": "1"}, {"N": "2.50"}, {"S": "x"}, {"BOOL": True}, {"NULL": True}]},
                "b": {"M": {}},
            }
        },
    ),
    (ValueProto(json_val='"text"'), {"S": '"text"'}),
    (ValueProto(json_val="null"), {"S": "null"}),  # NULL at the top is a null feature
    (ValueProto(json_val="[null]"), {"L": [{"NULL": True}]}),
    (ValueProto(json_val="[NaN]"), {"S": "[NaN]"}),
    (ValueProto(json_val='{"": 1}'), {"S": '{"": 1}'}),
    (ValueProto(json_val="[1e400]"), {"S": "[1e400]"}),
    (ValueProto(json_val="[1e23]"), {"S": "[1e23]"}),  # as an int it would not equal the float
    (ValueProto(json_list_val=StringList(val=["1", "{oops"])), {"L": [{"N": "1"}, {"S": "{oops"}]}),
    (
        ValueProto(map_val=Map(val={"s": ValueProto(string_val="x"), "d": ValueProto(double_val=2.5)})),
        {"M": {"s": {"S": "x"}, "d": {"M": {"5": {"N": "2.5"}}}}},
    ),
    (
        ValueProto(struct_val=Map(val={"n": ValueProto(), "z": ValueProto(null_val=Null.NULL)})),
        {"M": {"n": {"NULL": True}, "z": {"M": {"19": {"NULL": True}}}}},
    ),
    (ValueProto(map_val=Map(val={"": ValueProto(int64_val=1)})), {"L": [{"L": [{"S": ""}, {"N": "1"}]}]}),
    (ValueProto(map_list_val=MapList(val=[Map()])), {"L": [{"M": {}}]}),
    (
        ValueProto(list_val=RepeatedValue(val=[ValueProto(bool_val=True), ValueProto(int32_val=1)])),
        {"L": [{"BOOL": True}, {"M": {"3": {"N": "1"}}}]},
    ),
    (
        ValueProto(
            scalar_map_val=ScalarMap(val=[_scalar_map_entry(MapKey(int32_key=4), ValueProto(bytes_val=b"x"))])
        ),
        {"L": [{"L": [{"M": {"1": {"N": "4"}}}, {"B": b"x"}]}]},
    ),
    (
        ValueProto(zoned_timestamp_val=ZonedTimestamp(unix_timestamp=-5, zone="Europe/Paris")),
        {"M": {"t": {"N": "-5"}, "z": {"S": "Europe/Paris"}}},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("value", "attr"), GOLDEN, ids=lambda x: str(x).replace("\n", " ")[:60])
def test_golden_encodings(value: ValueProto, attr: AttributeValue) -> None:
    field = value.WhichOneof("val")
    assert field is not None
    assert encode_value(value, field) == attr
    assert comparable(decode_value(over_the_wire(attr), field)) == comparable(value)


# Fields whose content is only numbers or booleans: text may appear only for special floats.
NUMERIC_FIELDS = [
    field
    for field in ONEOF_FIELDS
    if field.split("_")[0] in {"int32", "int64", "double", "float", "bool", "unix"}
]


@pytest.mark.parametrize("field", NUMERIC_FIELDS)
@given(data=st.data())
def test_numeric_fields_store_numbers_not_text(field: str, data: st.DataObject) -> None:
    attr = encode_value(data.draw(VALUE_STRATEGIES[field]), field)
    assert attr is not None
    ((tag, payload),) = attr.items()
    members = [("N", text) for text in payload] if tag == "NS" else _leaves(attr)
    for leaf_tag, leaf in members:
        assert leaf_tag in {"N", "BOOL", "S"}
        if leaf_tag == "S":  # only what N cannot hold
            x = float(leaf)
            assert not math.isfinite(x) or leaf == "-0.0" or not (x == 0 or 1e-130 <= abs(x) < 1e126)


def _scalars(message: Message) -> list[Any]:
    """Every scalar anywhere inside a message, map keys aside."""
    found: list[Any] = []
    for fd, content in message.ListFields():
        is_map = fd.message_type is not None and fd.message_type.GetOptions().map_entry
        items = content.values() if is_map else content if fd.is_repeated else [content]
        for item in items:
            found.extend(_scalars(item) if isinstance(item, Message) else [item])
    return found


def _is_canonical_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


@pytest.mark.parametrize("field", ROUND_TRIP_FIELDS)
@given(data=st.data())
def test_no_protobuf_blobs(field: str, data: st.DataObject) -> None:
    """Binary appears only where the value is binary: bytes content, or a canonical UUID's 16 bytes."""
    value = data.draw(VALUE_STRATEGIES[field])
    attr = encode_value(value, field)
    assert attr is not None
    ((tag, payload),) = attr.items()
    binaries = set(payload) if tag == "BS" else {leaf for t, leaf in _leaves(attr) if t == "B"}
    scalars = _scalars(value)
    allowed = {item for item in scalars if isinstance(item, bytes)} | {
        uuid.UUID(item).bytes for item in scalars if isinstance(item, str) and _is_canonical_uuid(item)
    }
    assert binaries <= allowed


# -- errors and dtypes ------------------------------------------------------------------


def test_mismatched_field_is_refused() -> None:
    with pytest.raises(CodecError, match="expected int64_val, got int32_val"):
        encode_value(ValueProto(int32_val=1), "int64_val")


def test_feature_errors_name_the_feature() -> None:
    with pytest.raises(CodecError, match="feature 'clicks': expected int64_val") as raised:
        encode_feature("clicks", ValueProto(string_val="1"), "int64_val")
    assert raised.value.feature == "clicks"
    with pytest.raises(CodecError, match="feature 'clicks'"):
        decode_feature("clicks", {"S": "x"}, "int64_val")


@pytest.mark.parametrize(
    ("attr", "field"),
    [
        ({"S": "x"}, "int64_val"),
        ({"N": "1.5"}, "int64_val"),
        ({"N": "99999999999"}, "int32_val"),
        ({"B": b"short"}, "uuid_val"),
        ({"SS": ["a"]}, "int64_set_val"),
        ({"M": {"5": {"N": "1"}, "6": {"N": "1"}}}, "list_val"),
        ({"M": {"k": {"M": {"999": {"N": "1"}}}}}, "map_val"),
        ({"L": [{"SS": ["a"]}]}, "list_val"),
        ({"M": {"t": {"N": "1"}}}, "zoned_timestamp_val"),
        ({"S": "x", "N": "1"}, "string_val"),
        ({"B": b"x"}, "json_val"),
    ],
)
def test_foreign_attributes_raise_codec_error(attr: AttributeValue, field: str) -> None:
    with pytest.raises(CodecError):
        decode_value(attr, field)


def test_unknown_field_is_refused() -> None:
    with pytest.raises(CodecError):
        encode_value(ValueProto(int64_val=1), "nope_val")


@pytest.mark.parametrize(
    "value_type", [vt for vt in ValueType if vt not in {ValueType.UNKNOWN, ValueType.NULL}]
)
def test_value_field_for_every_storable_type(value_type: ValueType) -> None:
    field = value_field_for(value_type)
    assert field in ONEOF_FIELDS
    assert ValueProto.DESCRIPTOR.fields_by_name[field].number == {
        ValueType.PDF_BYTES: 1,
        ValueType.IMAGE_BYTES: 1,
    }.get(value_type, value_type.value)


@pytest.mark.parametrize("value_type", [ValueType.UNKNOWN, ValueType.NULL])
def test_value_field_for_refuses_unstorable_types(value_type: ValueType) -> None:
    with pytest.raises(CodecError):
        value_field_for(value_type)


def test_decode_accepts_any_spelling_of_a_number() -> None:
    assert decode_value({"N": "1E+2"}, "int64_val") == ValueProto(int64_val=100)
    assert decode_value({"N": "1.0E+2"}, "decimal_val") == ValueProto(decimal_val="100")
    assert decode_value({"N": "0.00001"}, "double_val") == ValueProto(double_val=1e-5)


# -- sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "size"),
    [
        ({"S": "héllo"}, 6),
        ({"B": b"\x00" * 5}, 5),
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"N": "0"}, 1),
        ({"N": "7"}, 2),
        ({"N": "123"}, 3),
        ({"N": "-7"}, 3),
        ({"N": "1.5"}, 3),
        ({"N": "12"}, 2),
        ({"N": "1200"}, 2),
        ({"N": "1" * 38}, 20),
        ({"SS": ["a", "bc"]}, 3),
        ({"NS": ["1", "2"]}, 4),
        ({"BS": [b"ab", b""]}, 2),
        ({"L": []}, 3),
        ({"L": [{"S": "ab"}, {"N": "1"}]}, 3 + (1 + 2) + (1 + 2)),
        ({"M": {"k": {"BOOL": True}}}, 3 + 1 + 1 + 1),
        ({"M": {"é": {"L": []}}}, 3 + 1 + 2 + 3),
    ],
)
def test_encoded_size(attr: AttributeValue, size: int) -> None:
    assert encoded_size(attr) == size


@given(NUMBER_LITERALS.filter(lambda text: Decimal(text) != 0))
def test_number_size_is_within_the_documented_approximation(text: str) -> None:
    significant = len("".join(map(str, Decimal(text).as_tuple().digits)).rstrip("0"))
    documented = (significant + 1) // 2 + 1
    assert documented <= encoded_size({"N": text}) <= documented + 2


def test_item_size_counts_names_and_values() -> None:
    assert item_size({"pk": {"S": "abc"}, "é": {"N": "12345"}}) == (2 + 3) + (2 + 4)


@given(LEAF_VALUES)
@example(ValueProto(string_val="x" * 1000))
def test_size_of_strings_and_binary_is_their_length(value: ValueProto) -> None:
    field = value.WhichOneof("val")
    if field not in {"string_val", "bytes_val"}:
        return
    attr = encode_value(value, field)
    assert attr is not None
    content = getattr(value, field)
    assert encoded_size(attr) == len(content.encode() if isinstance(content, str) else content)
