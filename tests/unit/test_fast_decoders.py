"""The read path's fast decoders answer exactly as decode_value does, fallbacks included."""

from __future__ import annotations

import json

from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.codec import decode_value, decoder_for, encode_value
from tests.unit.test_codec import (
    GOLDEN,
    ROUND_TRIP_FIELDS,
    VALUE_STRATEGIES,
    _plain_number,
    _scientific_number,
    _to_wire,
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


def test_golden_examples() -> None:
    for value, _ in GOLDEN:
        field = value.WhichOneof("val")
        if field is not None and field != "null_val":
            same_as_decode_value(value, field)


@given(st.sampled_from(ROUND_TRIP_FIELDS).flatmap(lambda f: st.tuples(st.just(f), VALUE_STRATEGIES[f])))
def test_every_field(case: tuple[str, ValueProto]) -> None:
    field, value = case
    same_as_decode_value(value, field)
