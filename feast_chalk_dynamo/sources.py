"""A view's batch source read through the repo's offline store, as ``feast materialize`` reads it.

``migrate`` reads the entity keys of every view's source, ``backfill`` the
raw events of a windowed view's: both pull through the offline store Feast's
materialization uses, with the columns Feast's ``_get_column_names`` names
(reverse-mapped through the source's field mapping, mapped back after), so
that what they rebuild (entity keys, values) is what Feast's own pipeline
would make of the same rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # no stubs among the extras
from feast import FeatureStore
from feast.infra.offline_stores.offline_utils import get_offline_store_from_config
from feast.utils import _get_column_names, _run_pyarrow_field_mapping
from feast.value_type import ValueType


def join_keys(view: Any) -> dict[str, ValueType]:
    """The view's join keys and their types, as materialization gives them to ``_convert_arrow_to_proto``."""
    return {column.name: column.dtype.to_value_type() for column in view.entity_columns}


def pull(store: FeatureStore, view: Any, start: datetime, end: datetime, *, latest: bool) -> pa.Table:
    """The view's batch source from ``start`` to ``end``: every row with the view's raw columns, or
    (``latest``) each entity's latest row of its join keys alone. Raises what the offline store raises."""
    source = view.batch_source
    entities = [store.registry.get_entity(name, store.project) for name in view.entities]
    join_columns, feature_columns, timestamp_field, created_column = _get_column_names(view, entities)
    offline = get_offline_store_from_config(store.config.offline_store)
    method = offline.pull_latest_from_table_or_query if latest else offline.pull_all_from_table_or_query
    table = method(
        config=store.config,
        data_source=source,
        join_key_columns=join_columns,
        feature_name_columns=[] if latest else feature_columns,
        timestamp_field=timestamp_field,
        created_timestamp_column=created_column,
        start_date=start,
        end_date=end,
    ).to_arrow()
    return _run_pyarrow_field_mapping(table, source.field_mapping) if source.field_mapping else table
