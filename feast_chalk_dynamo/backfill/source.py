"""A windowed view's raw events, read from its batch source through the repo's offline store.

Read as ``feast materialize`` reads a view: the offline store's
``pull_all_from_table_or_query`` of the batch source between two times,
with the columns Feast's ``_get_column_names`` names for a view with
aggregations (its join keys, the raw columns its aggregations read, its
timestamps: reverse-mapped through the source's field mapping, and mapped
back after). Rows are then converted by Feast's ``_convert_arrow_to_proto``,
as a pushed frame is: so an event backfilled and the same event pushed make
the same entity key and the same values. A source holds no output columns;
they go in as nulls, as a push's do, and are ignored on write.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # no stubs among the extras
from feast import FeatureStore
from feast.utils import _convert_arrow_to_proto

from feast_chalk_dynamo.backfill.errors import BackfillError
from feast_chalk_dynamo.repos import one_line
from feast_chalk_dynamo.sources import join_keys, pull
from feast_chalk_dynamo.store import WriteData

# Rows converted at a time: Feast's value protos cost far more memory than the events made of them.
CONVERT_ROWS = 10_000


def raw_rows(store: FeatureStore, view: Any, start: datetime, end: datetime) -> Iterator[WriteData]:
    """The view's events from ``start`` to ``end`` (the offline store's bounds: some include ``end``),
    as Feast's rows for ``online_write_batch``, ``CONVERT_ROWS`` at a time."""
    try:
        table = pull(store, view, start, end, latest=False)
    except Exception as error:
        raise BackfillError(
            f"could not read the events of view {view.name!r} from its batch source "
            f"({one_line(error)}); buckets set before stay set: fix the source and run the same command "
            "again (it sets them again, to the same values)"
        ) from error
    keys = join_keys(view)
    outputs = [field.name for field in view.features if field.name not in table.column_names]
    for batch in table.to_batches(max_chunksize=CONVERT_ROWS):
        for name in outputs:
            batch = batch.append_column(name, pa.nulls(batch.num_rows))
        yield _convert_arrow_to_proto(batch, view, keys)
