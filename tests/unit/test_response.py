"""Our response builder gives exactly what Feast's own helper gives."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.protos.feast.serving.ServingService_pb2 import GetOnlineFeaturesResponse
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.types import Float64, Int64, String
from feast.utils import _populate_response_from_feature_data
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.reader import datetime_to_micros, micros_to_datetime
from feast_chalk_dynamo.response import populate
from feast_chalk_dynamo.value_columns import FeatureVector, fill

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
