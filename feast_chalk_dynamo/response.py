"""Feast's ``GetOnlineFeaturesResponse`` filled from value rows, as Feast's own helper does, faster.

``feast.utils._populate_response_from_feature_data`` takes a ``Value``
message per feature per row and copies each row's timestamp once per
feature. Here rows hold plain values (``item_decoders.ValueRows``) and each
feature vector is filled as one column: statuses and timestamps, shared by
all features of a view, are built once and copied in one C++ call, and a
column of doubles (most feature data) is appended as one serialized chunk.
For 100 entities x 100 features that is about a third of the helper's cost.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain, repeat
from typing import Any

from feast.protos.feast.serving.ServingService_pb2 import FieldStatus, GetOnlineFeaturesResponse
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.protobuf.timestamp_pb2 import Timestamp

from feast_chalk_dynamo.item_decoders import ValueRow

FeatureVector = GetOnlineFeaturesResponse.FeatureVector
# Looked up once: enum attribute access on protobuf wrappers is a Python call.
PRESENT = FieldStatus.PRESENT
NOT_FOUND = FieldStatus.NOT_FOUND


def populate(
    requested_features: list[str],
    fields: Sequence[str],
    rows: list[ValueRow],
    indexes: tuple[list[int], ...],
    response: GetOnlineFeaturesResponse,
    full_feature_names: bool,
    table: Any,
    output_len: int,
    include_version_metadata: bool,
) -> None:
    """Append one feature vector per requested feature; same result as Feast's helper.

    ``fields`` names each feature's ``Value`` field, in the order of the
    rows' values; ``indexes`` lists, for each row, the output positions it fills.
    """
    table_name = table.projection.name_to_use()
    response.metadata.feature_names.val.extend(
        f"{table_name}__{name}" if full_feature_names else name for name in requested_features
    )
    if include_version_metadata:
        _add_version_metadata(response, table)

    template = FeatureVector()
    timestamps = [Timestamp() for _ in range(output_len)]
    statuses = [NOT_FOUND] * output_len
    source = [0] * output_len  # the row each output position shows
    nulls = [None] * len(requested_features)
    values: list[list[Any]] = []
    for row, ((micros, found), destinations) in enumerate(zip(rows, indexes, strict=True)):
        values.append(nulls if found is None else found)
        stamp = Timestamp()
        if micros is not None:
            stamp.FromMicroseconds(micros)
        for position in destinations:
            source[position] = row
            timestamps[position] = stamp
            if found is not None:
                statuses[position] = PRESENT
    template.statuses.extend(statuses)
    template.event_timestamps.extend(timestamps)

    # Rows to columns in one C call; with no output rows, one empty column per feature.
    columns = zip(*[values[row] for row in source], strict=True) if output_len else repeat(())
    for field, column in zip(fields, columns, strict=False):
        vector = response.results.add()
        vector.CopyFrom(template)
        fill(vector, field, column)
    _track_statuses(table.name, len(requested_features), output_len, statuses)


def fill(vector: Any, field: str, column: Sequence[Any]) -> None:
    """Append ``column`` to ``vector.values``: plain values of ``field``, ``Value``s, or None for null."""
    if field == "double_val":
        try:
            entries = chain.from_iterable(zip(repeat(_DOUBLE_ENTRY), column))
            vector.MergeFromString(_double_entries(len(column)).pack(*entries))
            return
        except struct.error:  # a null or a Value among them: one at a time, below
            pass
    add = vector.values.add
    for value in column:
        if value is None:
            add()
        elif isinstance(value, ValueProto):
            add().CopyFrom(value)
        else:
            setattr(add(), field, value)


def _wire_tag(number: int, wire_type: int) -> int:
    tag = number << 3 | wire_type
    assert tag < 0x80, "a one-byte tag"  # fields 1 to 15, as these are
    return tag


# One element of FeatureVector.values holding a double, as protobuf serializes
# it: the values tag, the element's length (9), the double_val tag, then the 8
# little-endian bytes. Protobuf has no bulk append; parsing one chunk of these
# is C++ all the way, where setting 10,000 doubles one by one is 10,000 Python calls.
_DOUBLE_ENTRY = bytes(
    [
        _wire_tag(FeatureVector.DESCRIPTOR.fields_by_name["values"].number, 2),
        9,
        _wire_tag(ValueProto.DESCRIPTOR.fields_by_name["double_val"].number, 1),
    ]
)


@lru_cache(maxsize=256)
def _double_entries(count: int) -> struct.Struct:
    return struct.Struct("<" + f"{len(_DOUBLE_ENTRY)}sd" * count)


def _add_version_metadata(response: GetOnlineFeaturesResponse, table: Any) -> None:
    name = table.projection.name_alias or table.projection.name
    if name not in [metadata.name for metadata in response.metadata.feature_view_metadata]:
        metadata = response.metadata.feature_view_metadata.add()
        metadata.name = name
        metadata.version = getattr(table, "current_version_number", 0) or 0


def _track_statuses(view: str, n_features: int, output_len: int, statuses: list[Any]) -> None:
    """Feast's online-feature status metrics, which its helper records too."""
    try:  # imported late, as Feast does: its metrics module is optional machinery
        from feast.metrics import track_feature_statuses

        present = n_features * sum(status == PRESENT for status in statuses)
        track_feature_statuses(view, present, n_features * output_len - present)
    except Exception:  # metrics must never fail a read, as in Feast
        pass
