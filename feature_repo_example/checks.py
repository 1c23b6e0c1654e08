"""Independent expectations for what Feast should serve from the example data.

The demo and the integration tests compare served features against values
derived here straight from the parquet files, not against another Feast code
path, so a bug shared by Feast's writer and reader would still be caught.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from feast import FeatureView
from feast.types import Float32, Json, Map, UnixTimestamp

from feature_repo_example.features import CREATED_FIELD, JOIN_KEY, TIMESTAMP_FIELD

OnlineDict = dict[str, list[Any]]


@dataclass
class Expected:
    """Expected ``OnlineResponse.to_dict()`` plus per-view event timestamps.

    ``event_ts`` is kept apart from ``values`` because only the HTTP server
    exposes the timestamps Feast stored alongside each row.
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
) -> tuple[int, list[str]]:
    """Count matching values and describe every mismatch, one line each."""
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
        for entity_id, want, got in zip(entity_ids, want_col, got_col, strict=True):
            dtype = dtypes.get(name)
            if _normalize(want, dtype) == _normalize(got, dtype):
                matched += count
            else:
                problems.append(f"{label}: {JOIN_KEY}={entity_id} {name}: got {got!r}, want {want!r}")
    return matched, problems


@dataclass
class HttpResult:
    """A ``/get-online-features`` response reshaped like ``to_dict()``."""

    values: OnlineDict
    event_ts: dict[str, list[datetime | None]]


def parse_http_response(payload: Mapping[str, Any]) -> HttpResult:
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
    return HttpResult(values=values, event_ts=event_ts)


def compare_event_timestamps(
    expected: Expected,
    http: HttpResult,
    views: Iterable[FeatureView],
    *,
    label: str,
) -> tuple[int, list[str]]:
    """Check that each served feature carries its source row's event time.

    A non-null value must carry its row's event time and an entity with no row
    must have none. A null value inside an existing row may legitimately come
    back either way: Feast's sqlite store returns it PRESENT with the row's time,
    while a store that drops null features returns it NOT_FOUND.
    """
    matched = 0
    problems: list[str] = []
    entity_ids = list(expected.values[JOIN_KEY])
    for view in views:
        want_col = expected.event_ts[view.name]
        for feature in view.features:
            got_col = http.event_ts.get(feature.name)
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
