"""Feast objects of the windowed-aggregation tests: stream feature views with ``aggregations``.

Shared by the test process and the worker processes (``tests.feast_worker``),
which must define the same views to push to them.

- ``tx``: per driver (an Int64 key), the lead's first end-to-end view;
- ``sales``: per (merchant, terminal), a composite key of a string and an
  int, with every function (in each of Feast's spellings) over 1 hour,
  3 hours and 1 day of 10-minute buckets.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from feast import Entity, Field, FileSource, PushSource, ValueType
from feast.aggregation import Aggregation
from feast.stream_feature_view import StreamFeatureView
from feast.types import Float64, Int64, PrimitiveFeastType, String

HOP = timedelta(minutes=10)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)

DRIVER = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
MERCHANT = Entity(name="merchant", join_keys=["merchant"], value_type=ValueType.STRING)
TERMINAL = Entity(name="terminal", join_keys=["terminal"], value_type=ValueType.INT64)

TX_AGGREGATIONS = [
    Aggregation(column="amount", function="sum", time_window=HOUR),
    Aggregation(column="amount", function="count", time_window=HOUR),
    Aggregation(column="amount", function="mean", time_window=DAY),
    Aggregation(column="amount", function="min", time_window=HOUR),
    Aggregation(column="amount", function="max", time_window=DAY),
    Aggregation(column="amount", function="std", time_window=DAY),
    Aggregation(column="rider", function="count_distinct", time_window=timedelta(days=7)),
]
SALES_AGGREGATIONS = [
    Aggregation(column="amount", function="sum", time_window=HOUR),
    Aggregation(column="amount", function="sum", time_window=DAY),
    Aggregation(column="amount", function="count", time_window=timedelta(hours=3)),
    Aggregation(column="amount", function="min", time_window=HOUR),
    Aggregation(column="amount", function="max", time_window=DAY),
    Aggregation(column="amount", function="avg", time_window=timedelta(hours=3)),
    Aggregation(column="amount", function="stddev", time_window=DAY),
    Aggregation(column="amount", function="variance", time_window=HOUR),
    Aggregation(column="qty", function="sum", time_window=DAY),
    Aggregation(column="qty", function="max", time_window=HOUR),
    Aggregation(column="rider", function="count_distinct", time_window=HOUR),
    Aggregation(column="rider", function="count_distinct", time_window=DAY),
]
# An output's declared type by function: counts as Int64, the others as Float64 (a sum of an Int64
# column as Int64).
INTEGRAL = frozenset({"count", "count_distinct"})
RAW_DTYPES: dict[str, PrimitiveFeastType] = {"amount": Float64, "qty": Int64, "rider": String}


def output_name(aggregation: Aggregation) -> str:
    return aggregation.resolved_name(aggregation.time_window)


def output_dtype(aggregation: Aggregation) -> PrimitiveFeastType:
    if aggregation.function in INTEGRAL:
        return Int64
    integral_column = RAW_DTYPES.get(aggregation.column) == Int64
    return Int64 if integral_column and aggregation.function in ("sum", "min", "max") else Float64


def distinct_counts(columns: int) -> tuple[list[Aggregation], dict[str, PrimitiveFeastType]]:
    """A distinct count over each of ``columns`` string columns, and the schema's fields for them: every
    bucket holds a sketch per column (about 360 make one bucket past DynamoDB's 400 KB)."""
    aggregations = [
        Aggregation(column=f"c{i}", function="count_distinct", time_window=HOUR) for i in range(columns)
    ]
    fields: dict[str, PrimitiveFeastType] = {f"c{i}": String for i in range(columns)}
    return aggregations, fields | {output_name(a): Int64 for a in aggregations}


def windowed_view(
    name: str,
    entities: Sequence[Entity],
    aggregations: Sequence[Aggregation],
    source: Path,
    hop: timedelta | None = HOP,
    fields: dict[str, PrimitiveFeastType] | None = None,
) -> StreamFeatureView:
    """A stream feature view with these aggregations over a push source named ``<name>_push``.

    Its schema: the entities' join keys, then ``fields``, by default every
    raw column an aggregation reads and each output as Feast names it.
    """
    if fields is None:
        fields = {a.column: RAW_DTYPES[a.column] for a in aggregations}
        fields |= {output_name(a): output_dtype(a) for a in aggregations}
    schema = [
        Field(name=e.join_key, dtype=Int64 if e.value_type == ValueType.INT64 else String) for e in entities
    ]
    schema += [Field(name=field, dtype=dtype) for field, dtype in fields.items()]
    push = PushSource(name=f"{name}_push", batch_source=FileSource(path=str(source), timestamp_field="ts"))
    return StreamFeatureView(
        name=name, entities=list(entities), source=push, aggregations=list(aggregations),
        timestamp_field="ts", schema=schema, tiling_hop_size=hop,
    )  # fmt: skip


def tx_view(source: Path, aggregations: Sequence[Aggregation] = TX_AGGREGATIONS) -> StreamFeatureView:
    return windowed_view("tx", [DRIVER], aggregations, source)


def sales_view(source: Path) -> StreamFeatureView:
    return windowed_view("sales", [MERCHANT, TERMINAL], SALES_AGGREGATIONS, source)


def write_source(path: Path) -> Path:
    """The push source's batch source: a parquet of one raw event (Feast reads its schema at apply)."""
    pd.DataFrame(
        {"driver_id": [1], "merchant": ["m"], "terminal": [1], "amount": [1.0], "qty": [1], "rider": ["r"],
         "ts": [pd.Timestamp("2024-01-01", tz="UTC")]}
    ).to_parquet(path)  # fmt: skip
    return path


def push_frame(view: StreamFeatureView, events: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Raw events as a push of ``view``: Feast wants every schema column, so the outputs go as nulls."""
    frame = pd.DataFrame(list(events))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    for aggregation in view.aggregations:
        frame[output_name(aggregation)] = None
    return frame
