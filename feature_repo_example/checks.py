"""Independent expectations for what Feast should serve from the example data.

The demo and the integration tests compare served features against values
derived here straight from the parquet files, not against another Feast code
path, so a bug shared by Feast's writer and reader would still be caught.

The windowed view's outputs are computed by pandas over the raw transactions,
with the store's bucket rule written out again here (not imported): buckets of
``tiling_hop_size`` aligned to the epoch, a window of ``W`` the ``W / hop``
most recent buckets at the time of the read, the current one included.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from datasketches import hll_sketch
from feast import FeatureView
from feast.online_response import OnlineResponse
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.stream_feature_view import StreamFeatureView
from feast.types import Float32, Json, Map, UnixTimestamp

from feature_repo_example.features import CREATED_FIELD, JOIN_KEY, TIMESTAMP_FIELD

OnlineDict = dict[str, list[Any]]
# Whether a served value is the expected one (served, expected).
Matcher = Callable[[Any, Any], bool]

# Feast's bucket width when a view leaves tiling_hop_size unset.
FEAST_DEFAULT_HOP = timedelta(minutes=5)
# The store's distinct-count sketch (HyperLogLog, lg_k 11): an answer is right within 3 standard
# errors of it, as DataSketches documents the error of a merged sketch.
SKETCH_LG_K = 11
SKETCH_ERROR = max(abs(hll_sketch.get_rel_err(bound, True, SKETCH_LG_K, 3)) for bound in (True, False))


@dataclass
class Expected:
    """Expected ``OnlineResponse.to_dict()`` plus per-view event timestamps.

    ``event_ts`` is kept apart from ``values`` because ``to_dict()`` leaves
    out the timestamps Feast stored alongside each row (the HTTP server's
    answer and the response's proto hold them).
    """

    values: OnlineDict
    event_ts: dict[str, list[datetime | None]] = field(default_factory=dict)


def _view_path(view: FeatureView) -> Path:
    """The parquet file behind a FileSource-backed view."""
    source = view.batch_source
    path = getattr(source, "path", None)
    if not path:
        raise ValueError(f"view {view.name} is not backed by a FileSource")
    return Path(path)


def latest_rows(
    view: FeatureView,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[int, dict[str, Any]]:
    """Per driver, the row Feast should serve after materializing [start, end].

    Mirrors Feast's rule: latest event time inside the window, ties broken by
    created time, and nothing older than ``now - ttl``.
    """
    rows = pq.read_table(_view_path(view)).to_pylist()
    oldest = now - view.ttl if view.ttl else None
    latest: dict[int, dict[str, Any]] = {}
    for row in rows:
        event_ts = row[TIMESTAMP_FIELD]
        if not start <= event_ts < end:
            continue
        if oldest is not None and event_ts < oldest:
            continue
        key = row[JOIN_KEY]
        current = latest.get(key)
        rank = (event_ts, row[CREATED_FIELD])
        if current is None or rank > (current[TIMESTAMP_FIELD], current[CREATED_FIELD]):
            latest[key] = row
    return latest


def _as_served(value: Any, view: FeatureView, name: str) -> Any:
    """Convert a parquet value to what Feast's Python SDK returns for it.

    Map and Json features are stored as JSON text in the parquet files; Feast
    hands both back as parsed objects.
    """
    if value is None:
        return None
    dtype = next(f.dtype for f in view.features if f.name == name)
    if isinstance(value, str) and dtype in (Json, Map):
        return json.loads(value)
    return value


def expected_online_features(
    views: Sequence[FeatureView],
    entity_ids: Sequence[int],
    *,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> Expected:
    """What ``get_online_features`` over every feature of ``views`` should return."""
    now = now or datetime.now(timezone.utc)
    values: OnlineDict = {JOIN_KEY: list(entity_ids)}
    event_ts: dict[str, list[datetime | None]] = {}
    for view in views:
        latest = latest_rows(view, start=start, end=end, now=now)
        event_ts[view.name] = [latest[e][TIMESTAMP_FIELD] if e in latest else None for e in entity_ids]
        for feature in view.features:
            values[feature.name] = [
                _as_served(latest[e][feature.name], view, feature.name) if e in latest else None
                for e in entity_ids
            ]
    return Expected(values=values, event_ts=event_ts)


def _hop(view: StreamFeatureView) -> timedelta:
    return view.tiling_hop_size or FEAST_DEFAULT_HOP


def _buckets(view: StreamFeatureView, window: timedelta) -> int:
    return window // _hop(view)


def _longest(view: StreamFeatureView) -> timedelta:
    return max(a.time_window for a in view.aggregations if a.time_window)


def _hop_ms(view: StreamFeatureView) -> int:
    return _hop(view) // timedelta(milliseconds=1)


def _bucket(view: StreamFeatureView, when: datetime) -> int:
    """Buckets are ``hop`` wide and aligned to the epoch: bucket ``t_ms // hop_ms``."""
    return int(when.timestamp() * 1000) // _hop_ms(view)


def _ages(view: StreamFeatureView, events: pd.DataFrame, now: datetime) -> pd.Series:
    """Each event's bucket's age in buckets at ``now``: 0 for the current bucket, 1 for the one before."""
    millis = (events[TIMESTAMP_FIELD] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    return _bucket(view, now) - millis // _hop_ms(view)


def same_bucket(view: StreamFeatureView, first: datetime, second: datetime) -> bool:
    """Whether two times are in one bucket: a read between them saw one set of windows."""
    return _bucket(view, first) == _bucket(view, second)


def late_events(view: StreamFeatureView, events: pd.DataFrame, now: datetime) -> int:
    """Events a push at ``now`` drops as late: in a bucket older than the longest window."""
    return int((_ages(view, events, now) >= _buckets(view, _longest(view))).sum())


def expected_windowed(
    view: StreamFeatureView,
    events: pd.DataFrame,
    entity_ids: Sequence[int],
    *,
    pushed_at: datetime,
    now: datetime,
) -> Expected:
    """What ``get_online_features`` of the view's outputs should return at ``now``, by pandas, for
    ``events`` pushed at ``pushed_at``.

    A push applies the events of the longest window ending at ``pushed_at``
    (and any later ones) and drops the older ones as late. An entity with an
    applied event is present, with its newest applied event's time: its
    counts, sums and distinct counts read 0 where a window ending ``now`` has
    no event, its means null. Any other (never pushed, or every event late)
    is absent: every output null.
    """
    applied = events[_ages(view, events, pushed_at) < _buckets(view, _longest(view))]
    newest_event = applied.groupby(JOIN_KEY)[TIMESTAMP_FIELD].max()
    ages = _ages(view, applied, now)
    values: OnlineDict = {JOIN_KEY: list(entity_ids)}
    for aggregation in view.aggregations:
        assert aggregation.time_window is not None
        name = aggregation.resolved_name(aggregation.time_window)
        width = _buckets(view, aggregation.time_window)
        column = applied[(ages >= 0) & (ages < width)].groupby(JOIN_KEY)[aggregation.column]
        function = aggregation.function
        if function == "count_distinct":
            found, empty = column.nunique(), 0
        elif function in ("sum", "count"):
            found, empty = getattr(column, function)(), 0
        else:
            found, empty = getattr(column, function)(), None
        values[name] = [
            None if e not in newest_event.index else _plain(found.get(e, empty)) for e in entity_ids
        ]
    stamps = [newest_event[e].to_pydatetime() if e in newest_event.index else None for e in entity_ids]
    return Expected(values=values, event_ts={view.name: stamps})


def _plain(value: Any) -> Any:
    """A pandas scalar as the SDK returns it: NaN (a mean of nothing) as None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def windowed_matchers(view: StreamFeatureView) -> dict[str, Matcher]:
    """How each output is compared: sums and means as floats (added in another order), distinct counts
    within the sketch's error, counts exactly."""
    matchers: dict[str, Matcher] = {}
    for aggregation in view.aggregations:
        name = aggregation.resolved_name(aggregation.time_window)
        if aggregation.function == "count_distinct":
            matchers[name] = _within_sketch_error
        elif aggregation.function != "count":
            matchers[name] = _close
    return matchers


def _close(got: Any, want: Any) -> bool:
    if got is None or want is None:
        return got is want
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


def _within_sketch_error(got: Any, want: Any) -> bool:
    if got is None or want is None:
        return got is want
    return bool(abs(got - want) <= SKETCH_ERROR * want)


def _normalize(value: Any, dtype: object | None) -> Any:
    """Put equal values from different transports into one comparable form.

    Float32 features are compared at float32 precision; timestamps as epoch
    seconds (HTTP returns ints, the SDK datetimes); JSON may arrive as text
    (HTTP) or parsed (SDK).
    """
    if value is None:
        return None
    if dtype == Float32:
        return float(np.float32(value))
    if dtype == UnixTimestamp:
        if isinstance(value, datetime):
            return int(value.timestamp())
        if isinstance(value, str):
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        return int(value)
    if dtype == Json and isinstance(value, str):
        return json.loads(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def compare(
    expected: Mapping[str, Sequence[Any]],
    actual: Mapping[str, Sequence[Any]],
    views: Iterable[FeatureView],
    *,
    label: str,
    matchers: Mapping[str, Matcher] | None = None,
) -> tuple[int, list[str]]:
    """Count matching values and describe every mismatch, one line each; a feature in ``matchers`` is
    compared by its matcher, the others equal once normalized."""
    dtypes: dict[str, object] = {f.name: f.dtype for view in views for f in view.features}
    problems: list[str] = []
    matched = 0
    entity_ids = list(expected[JOIN_KEY])
    missing_cols = sorted(set(expected) - set(actual))
    extra_cols = sorted(set(actual) - set(expected))
    if missing_cols:
        problems.append(f"{label}: missing columns {missing_cols}")
    if extra_cols:
        problems.append(f"{label}: unexpected columns {extra_cols}")
    for name, want_col in expected.items():
        if name not in actual:
            continue
        count = name != JOIN_KEY  # echoing the request back is not a served value
        got_col = list(actual[name])
        if len(got_col) != len(want_col):
            problems.append(f"{label}: column {name} has {len(got_col)} values, want {len(want_col)}")
            continue
        dtype = dtypes.get(name)
        matcher = (matchers or {}).get(name)
        for entity_id, want, got in zip(entity_ids, want_col, got_col, strict=True):
            if matcher(got, want) if matcher else _normalize(want, dtype) == _normalize(got, dtype):
                matched += count
            else:
                problems.append(f"{label}: {JOIN_KEY}={entity_id} {name}: got {got!r}, want {want!r}")
    return matched, problems


@dataclass
class Answer:
    """A read's answer shaped like ``to_dict()``, with each feature's event times (None: not PRESENT)."""

    values: OnlineDict
    event_ts: dict[str, list[datetime | None]]


def parse_sdk_response(response: OnlineResponse) -> Answer:
    """``get_online_features``' answer: ``to_dict()``'s values, the statuses and times of its proto."""
    event_ts: dict[str, list[datetime | None]] = {}
    for name, result in zip(response.proto.metadata.feature_names.val, response.proto.results, strict=True):
        event_ts[name] = [
            stamp.ToDatetime(tzinfo=timezone.utc) if status == FieldStatus.PRESENT else None
            for status, stamp in zip(result.statuses, result.event_timestamps, strict=True)
        ]
    return Answer(values=response.to_dict(), event_ts=event_ts)


def parse_http_response(payload: Mapping[str, Any]) -> Answer:
    """Reshape the feature server's column-per-feature JSON.

    Absent values come back as the epoch timestamp with a NOT_FOUND status; they
    are mapped to ``None`` so they compare like the SDK's nulls.
    """
    names = payload["metadata"]["feature_names"]
    values: OnlineDict = {}
    event_ts: dict[str, list[datetime | None]] = {}
    for name, result in zip(names, payload["results"], strict=True):
        values[name] = list(result["values"])
        stamps: list[datetime | None] = []
        for status, stamp in zip(result["statuses"], result["event_timestamps"], strict=True):
            if status != "PRESENT":
                stamps.append(None)
            else:
                stamps.append(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
        event_ts[name] = stamps
    return Answer(values=values, event_ts=event_ts)


def compare_event_timestamps(
    expected: Expected,
    answer: Answer,
    views: Iterable[FeatureView],
    *,
    label: str,
) -> tuple[int, list[str]]:
    """Check that each expected feature carries its source row's event time.

    A non-null value must carry its row's event time and an entity with no row
    must have none (a windowed view: its newest event, or none). A null value
    inside an existing row may legitimately come back either way: Feast's
    sqlite store returns it PRESENT with the row's time, while a store that
    drops null features returns it NOT_FOUND.
    """
    matched = 0
    problems: list[str] = []
    entity_ids = list(expected.values[JOIN_KEY])
    for view in views:
        want_col = expected.event_ts[view.name]
        for feature in view.features:
            if feature.name not in expected.values:
                continue  # not asked for (a windowed view's raw columns)
            got_col = answer.event_ts.get(feature.name)
            if got_col is None:
                problems.append(f"{label}: no event timestamps for {feature.name}")
                continue
            want_values = expected.values[feature.name]
            for entity_id, want, got, value in zip(entity_ids, want_col, got_col, want_values, strict=True):
                null_in_row = value is None and want is not None
                if want == got or (null_in_row and got is None):
                    matched += 1
                else:
                    problems.append(
                        f"{label}: {JOIN_KEY}={entity_id} {view.name}:{feature.name} "
                        f"event time {got}, want {want}"
                    )
    return matched, problems
