"""Our response builder gives exactly what Feast's own helper gives."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.protos.feast.serving.ServingService_pb2 import GetOnlineFeaturesResponse
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.types import Float64, Int64
from feast.utils import _populate_response_from_feature_data

from feast_chalk_dynamo.response import populate

VIEW = FeatureView(
    name="stats",
    entities=[Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)],
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="a", dtype=Float64),
        Field(name="b", dtype=Float64),
    ],
    source=FileSource(path="/nonexistent.parquet", timestamp_field="ts"),
)
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def rows() -> list[Any]:
    return [
        (T0, {"a": ValueProto(double_val=1.0), "b": ValueProto()}),  # a null feature in a found row
        (None, None),  # absent
        (T0 + timedelta(seconds=5), {"a": ValueProto(double_val=2.0), "b": ValueProto(double_val=3.0)}),
    ]


@pytest.mark.parametrize("full_feature_names", [True, False])
@pytest.mark.parametrize("version_metadata", [True, False])
def test_same_response_as_feast(full_feature_names: bool, version_metadata: bool) -> None:
    indexes = ([0, 3], [1], [2, 4, 5])  # duplicated entities fan out to several output rows
    expected, actual = GetOnlineFeaturesResponse(), GetOnlineFeaturesResponse()
    for response, build in ((expected, _populate_response_from_feature_data), (actual, populate)):
        for features in (["a", "b"], ["b"]):
            build(features, rows(), indexes, response, full_feature_names, VIEW, 6, version_metadata)
    assert actual == expected
