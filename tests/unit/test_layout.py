"""Entity keys: injective, order-independent, bounded, never in the meta partition."""

from __future__ import annotations

import uuid

import pytest
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.errors import EntityKeyTooLarge, UnsupportedEntityType
from feast_chalk_dynamo.items.layout import (
    MAX_PARTITION_KEY_BYTES,
    META_PK,
    decode_entity_key,
    encode_entity_key,
    short_id,
)

INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
ENTITY_VALUES = st.one_of(
    st.builds(lambda v: ValueProto(string_val=v), st.text(max_size=30)),
    st.builds(lambda v: ValueProto(int64_val=v), INT64),
    st.builds(lambda v: ValueProto(int32_val=v), INT32),
    st.builds(lambda v: ValueProto(bytes_val=v), st.binary(max_size=30)),
    st.builds(lambda v: ValueProto(bool_val=v), st.booleans()),
    st.builds(lambda v: ValueProto(unix_timestamp_val=v), INT64),
    st.builds(lambda v: ValueProto(uuid_val=str(v)), st.uuids()),
    st.builds(lambda v: ValueProto(time_uuid_val=str(v)), st.uuids(version=1)),
)
JOIN_KEY_NAMES = st.text(min_size=1, max_size=12)


@st.composite
def entity_keys(draw: st.DrawFn) -> EntityKeyProto:
    names = draw(st.lists(JOIN_KEY_NAMES, min_size=1, max_size=4, unique=True))
    return EntityKeyProto(join_keys=names, entity_values=[draw(ENTITY_VALUES) for _ in names])


def canonical(key: EntityKeyProto) -> list[tuple[str, bytes]]:
    return sorted(
        (name, value.SerializeToString(deterministic=True))
        for name, value in zip(key.join_keys, key.entity_values, strict=True)
    )


@given(st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=4), entity_keys())
def test_encoding_round_trips(project_id: str, key: EntityKeyProto) -> None:
    encoded = encode_entity_key(project_id, key)
    decoded_project, decoded = decode_entity_key(encoded)
    assert decoded_project == project_id
    assert canonical(decoded) == canonical(key)  # decodable, hence injective


@given(entity_keys(), entity_keys())
def test_distinct_keys_encode_differently(a: EntityKeyProto, b: EntityKeyProto) -> None:
    if canonical(a) != canonical(b):
        assert encode_entity_key("1", a) != encode_entity_key("1", b)


@given(entity_keys())
def test_join_key_order_does_not_matter(key: EntityKeyProto) -> None:
    reversed_key = EntityKeyProto(
        join_keys=list(reversed(key.join_keys)), entity_values=list(reversed(key.entity_values))
    )
    assert encode_entity_key("1", key) == encode_entity_key("1", reversed_key)


@given(entity_keys())
def test_never_in_the_meta_partition(key: EntityKeyProto) -> None:
    assert not encode_entity_key("1", key).startswith("~")
    assert encode_entity_key("1", key) != META_PK


def test_types_differ_for_equal_looking_values() -> None:
    as_int = EntityKeyProto(join_keys=["id"], entity_values=[ValueProto(int64_val=1)])
    as_str = EntityKeyProto(join_keys=["id"], entity_values=[ValueProto(string_val="1")])
    assert encode_entity_key("1", as_int) != encode_entity_key("1", as_str)


def test_readable() -> None:
    key = EntityKeyProto(join_keys=["driver_id"], entity_values=[ValueProto(int64_val=1001)])
    assert encode_entity_key("3", key) == "3/driver_id=i:1001"


def test_oversize_key_fails_clearly() -> None:
    key = EntityKeyProto(
        join_keys=["doc"], entity_values=[ValueProto(string_val="x" * MAX_PARTITION_KEY_BYTES)]
    )
    with pytest.raises(EntityKeyTooLarge, match="2048"):
        encode_entity_key("1", key)


def test_unsupported_type_fails_clearly() -> None:
    key = EntityKeyProto(join_keys=["v"], entity_values=[ValueProto(double_val=1.5)])
    with pytest.raises(UnsupportedEntityType, match="double_val"):
        encode_entity_key("1", key)


def test_short_ids() -> None:
    assert [short_id(n) for n in (0, 1, 35, 36, 1295, 1296)] == ["0", "1", "z", "10", "zz", "100"]
    assert len({short_id(n) for n in range(5000)}) == 5000


def test_uuid_keys_keep_their_text() -> None:
    text = str(uuid.uuid4()).upper()
    key = EntityKeyProto(join_keys=["u"], entity_values=[ValueProto(uuid_val=text)])
    assert decode_entity_key(encode_entity_key("1", key))[1].entity_values[0].uuid_val == text
