"""Entity keys behind Feast's item ids: Feast stores a hash of the key, never the key itself.

Feast's DynamoDB store keys an item by ``compute_entity_id``, a murmur3 hash
of the serialized entity key, so a Scan of its tables yields hashes and
nothing to rebuild this store's readable partition keys from. The keys are
therefore rebuilt the way materialization builds them: the join-key columns
pulled from each view's batch source by the repo's offline store (one row per
entity), converted by Feast's own helpers, then hashed with Feast's own
function and indexed by that hash. Keys that only ever arrived by push or
stream are in no batch source; ``--entities`` files supply them.

Memory: the index holds, per distinct entity, the 32-character hash and the
serialized key: about 170 bytes for a one-integer key and 200 for two short
strings in CPython (measured; a test holds it under 300), so 10 million
entities take some 2 GB. While a batch source is read, its pulled table is
held too (the file offline store reads whole files) and converted 10,000
rows at a time.
A run holds one index at a time, built from the batch sources of every view
(and every version of a versioned view) it migrates with those join keys,
each distinct source pulled once: the versions of a view mostly share theirs.
``--views`` narrows a run, and its index, to some views' sources: a repo too
large for one index migrates view by view, each run with its own ``--state``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # no stubs among the extras
import pyarrow.csv  # type: ignore[import-untyped]
import pyarrow.parquet  # type: ignore[import-untyped]
from feast import FeatureStore, FeatureView
from feast.data_source import DataSource
from feast.infra.online_stores.helpers import compute_entity_id
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.type_map import feast_value_type_to_pa, feast_value_type_to_python_type
from feast.utils import (
    _build_entity_keys,
    _columns_to_proto_values,
)
from feast.value_type import ValueType

from feast_chalk_dynamo.migrate.errors import MigrationError
from feast_chalk_dynamo.sources import join_keys, pull

# Rows converted at a time: Feast's key protos cost far more memory than the index keeps per key.
CONVERT_ROWS = 10_000

JoinKeys = Mapping[str, ValueType]
# "All time" for the offline store's pull, within what every offline store
# (and pandas' nanosecond timestamps) can represent.
ALL_TIME = (datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(2200, 1, 1, tzinfo=timezone.utc))


class KeyIndex:
    """Feast's entity id (the hash) -> the entity key, for one set of join keys."""

    def __init__(self, serialization_version: int) -> None:
        self._version = serialization_version
        # The key as protobuf bytes: a fraction of a live message's memory.
        self._keys: dict[str, bytes] = {}

    def add(self, keys: Iterable[EntityKeyProto]) -> None:
        version = self._version
        for key in keys:
            self._keys[compute_entity_id(key, entity_key_serialization_version=version)] = (
                key.SerializeToString()
            )

    def resolve(self, entity_id: str) -> EntityKeyProto | None:
        serialized = self._keys.get(entity_id)
        return None if serialized is None else EntityKeyProto.FromString(serialized)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._keys


def entity_row(key: EntityKeyProto) -> dict[str, Any]:
    """The key as ``get_online_features`` takes an entity row: join key -> Python value."""
    return {
        name: feast_value_type_to_python_type(value)
        for name, value in zip(key.join_keys, key.entity_values, strict=True)
    }


# Characters of an entity key a report shows: a key is named, not copied out.
SHOWN_KEY_CHARS = 200


def describe_key(key: EntityKeyProto) -> str:
    """The key as an operator wrote it (``driver_id=1001``), to name an entity in a report."""
    shown = ", ".join(f"{name}={value!r}" for name, value in entity_row(key).items())
    return shown if len(shown) <= SHOWN_KEY_CHARS else shown[:SHOWN_KEY_CHARS] + "..."


def keys_of_table(table: pa.Table, keys: JoinKeys) -> Iterable[EntityKeyProto]:
    """One entity key per row of ``table``, built by Feast's own conversion (so it hashes as Feast's did)."""
    columns = list(keys.items())
    for batch in table.to_batches(max_chunksize=CONVERT_ROWS):
        values = _columns_to_proto_values(batch, columns)
        yield from _build_entity_keys(batch.num_rows, dict(keys), values)


def keys_of_source(store: FeatureStore, view: FeatureView) -> Iterable[EntityKeyProto]:
    """The entity keys in the view's batch source, pulled and converted as ``feast materialize`` does.

    The pull is the offline store's latest row per entity over all time, of
    the join-key columns only; a field mapping is applied as materialization
    applies it. A view without a batch source contributes nothing.
    """
    if view.batch_source is None:  # its rows came by push or stream only: --entities must name them
        return []
    try:
        table = pull(store, view, *ALL_TIME, latest=True)
    except Exception as error:
        raise MigrationError(
            f"could not read the entity keys of view {view.name!r} from its batch source "
            f"({type(error).__name__}: {error}); pass them with --entities FILE, or leave the view out "
            "with --views"
        ) from error
    return keys_of_table(table, join_keys(view))


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def file_columns(path: Path) -> set[str]:
    """The column names of a parquet or CSV entities file, from its header alone."""
    try:
        if _is_csv(path):
            with pyarrow.csv.open_csv(path) as reader:
                return set(reader.schema.names)
        return set(pyarrow.parquet.read_schema(path).names)
    except (OSError, pa.ArrowInvalid) as error:
        raise MigrationError(
            f"cannot read the entities file {path} as {'CSV' if _is_csv(path) else 'parquet'}: {error}"
        ) from None


def read_entities_file(path: Path, keys: JoinKeys) -> pa.Table:
    """The join-key columns of a parquet or CSV entities file, typed as the entities declare them."""
    names = list(keys)
    if _is_csv(path):
        types = {name: feast_value_type_to_pa(value_type) for name, value_type in keys.items()}
        options = pyarrow.csv.ConvertOptions(column_types=types, include_columns=names)
        return pyarrow.csv.read_csv(path, convert_options=options)
    return pyarrow.parquet.read_table(path, columns=names)


def build_index(
    store: FeatureStore, views: Sequence[FeatureView], entity_files: Sequence[Path]
) -> tuple[KeyIndex, list[Path]]:
    """The index for views sharing one set of join keys, and the entity files that had those keys.

    Every view's batch source contributes, so a key known to one view's
    source resolves an item of another view keyed the same way; a source
    equal to one already pulled adds nothing and is not pulled again.
    """
    keys = join_keys(views[0])
    index = KeyIndex(store.config.entity_key_serialization_version)
    pulled: list[DataSource | None] = []  # a list: a source class defining __eq__ alone is unhashable
    for view in views:
        if view.batch_source in pulled:
            continue
        pulled.append(view.batch_source)
        index.add(keys_of_source(store, view))
    used = [path for path in entity_files if set(keys) <= file_columns(path)]
    for path in used:
        index.add(keys_of_table(read_entities_file(path, keys), keys))
    return index, used
