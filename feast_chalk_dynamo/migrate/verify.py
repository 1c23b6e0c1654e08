"""``--verify N``: the same ``get_online_features`` through Feast's DynamoDB store and this one, compared.

Two FeatureStores on the same repo and registry, one with Feast's store
reading the tables migrated from, one with this store as the yaml has it,
are asked for every feature of every migrated view (of each version of a
versioned view, as ``view@vN:feature``) of N entities sampled from Feast's
tables. Each value, status and event timestamp of the response protos
must be equal; every difference is said. Values are compared by their
deterministic serialization, so maps compare whatever their order, and JSON
values as documents: this store keeps JSON as native maps and lists, so its
text comes back compact, with the same content. Feast's value is typed as its
feature declares it first, as the copy typed it (``retype``: Feast's store
serves an ``int64_val`` 5 of a feature now declared Float64, this one a
``double_val`` 5.0); a value that cannot be is compared as it is, and
differs.

Reads follow each store's semantics: with ``chalk_style_expiry`` on, this
store hides rows older than their view's ttl, which Feast's store serves, and
those show up as differences.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feast import FeatureStore
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from google.protobuf import text_format
from google.protobuf.timestamp_pb2 import Timestamp

from feast_chalk_dynamo.items.codec import value_field_for
from feast_chalk_dynamo.migrate.errors import MigrationError
from feast_chalk_dynamo.migrate.keys import KeyIndex, describe_key, entity_row
from feast_chalk_dynamo.migrate.repo import SourceTable
from feast_chalk_dynamo.migrate.retype import NotConvertible, conform
from feast_chalk_dynamo.migrate.scan import sample_entity_ids
from feast_chalk_dynamo.repos import with_online_store

# Entities per get_online_features call.
CHUNK = 100


@dataclass
class Verification:
    entities: int = 0
    values: int = 0  # feature values compared (entities x features)
    found: int = 0  # of those, values Feast's store had
    differences: list[str] = field(default_factory=list)


def feast_store_config(
    config: RepoConfig, region: str, endpoint_url: str | None, table_prefix: str
) -> RepoConfig:
    """The repo's config with Feast's own DynamoDB store reading the tables named ``<prefix><view>``."""
    try:
        from feast.infra.online_stores.dynamodb import DynamoDBOnlineStoreConfig
    except ImportError as error:
        raise MigrationError(
            f"--verify reads through Feast's DynamoDB store, which needs Feast's AWS extras ({error}): "
            "pip install aiobotocore"
        ) from None
    template = table_prefix.replace("{", "{{").replace("}", "}}") + "{table_name}"
    section = DynamoDBOnlineStoreConfig(
        region=region, endpoint_url=endpoint_url, table_name_template=template
    )
    return with_online_store(config, section)


def sample_keys(
    client: Any, sources: Sequence[SourceTable], index: KeyIndex, wanted: int, rng: random.Random
) -> list[EntityKeyProto]:
    """Up to ``wanted`` entities that have a row in one of ``sources``' tables and whose key resolves."""
    ids: dict[str, None] = {}
    for source in sources:
        ids.update(dict.fromkeys(sample_entity_ids(client, source.table, source.item_count, wanted, rng)))
    resolvable = [entity_id for entity_id in ids if entity_id in index]
    chosen = rng.sample(resolvable, min(wanted, len(resolvable)))
    return [key for key in map(index.resolve, chosen) if key is not None]


def verify(
    repo: Path, ours: FeatureStore, feast_config: RepoConfig, sources: Sequence[SourceTable],
    keys: Sequence[EntityKeyProto],
) -> Verification:  # fmt: skip
    # A version by its own reference (view@vN): each is compared, not only the one Feast calls current.
    refs = [f"{source.label}:{feature.name}" for source in sources for feature in source.view.features]
    # The Value field of each feature by its name in the response (full_feature_names: view@vN__feature).
    declared = {
        f"{source.label}__{feature.name}": value_field_for(feature.dtype.to_value_type())
        for source in sources
        for feature in source.view.features
    }
    theirs = FeatureStore(repo_path=str(repo), config=feast_config)
    result = Verification()
    try:
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            rows = [entity_row(key) for key in chunk]
            expected = theirs.get_online_features(
                features=refs, entity_rows=rows, full_feature_names=True
            ).proto
            actual = ours.get_online_features(features=refs, entity_rows=rows, full_feature_names=True).proto
            _compare(expected, actual, chunk, declared, result)
    finally:
        asyncio.run(theirs.close())
    result.entities = len(keys)
    return result


def _compare(
    expected: Any, actual: Any, keys: Sequence[EntityKeyProto], declared: dict[str, str], result: Verification
) -> None:
    names = list(expected.metadata.feature_names.val)
    if names != list(actual.metadata.feature_names.val):
        result.differences.append(
            f"features differ: {names} (Feast's store) vs {list(actual.metadata.feature_names.val)}"
        )
        return
    join_keys = {name for key in keys for name in key.join_keys}
    for name, want, got in zip(names, expected.results, actual.results, strict=True):
        if name in join_keys:
            continue
        for i, key in enumerate(keys):
            result.values += 1
            result.found += want.statuses[i] == FieldStatus.PRESENT
            entity = describe_key(key)
            for what, theirs, ours in (
                ("value", _typed(want.values[i], declared.get(name)), got.values[i]),
                ("status", want.statuses[i], got.statuses[i]),
                (
                    "event timestamp",
                    _timestamp(want.event_timestamps, i),
                    _timestamp(got.event_timestamps, i),
                ),
            ):
                if _comparable(theirs) != _comparable(ours):
                    result.differences.append(
                        f"{entity} {name}: {what} {_shown(theirs)} in Feast's store, {_shown(ours)} here"
                    )


def _typed(value: ValueProto, field: str | None) -> ValueProto:
    """Feast's value as its feature declares it, where it can be (``retype``); else as it is."""
    if field is None:
        return value
    try:
        return conform(value, field)
    except NotConvertible:
        return value


def _comparable(part: Any) -> Any:
    if not isinstance(part, ValueProto):
        return part
    kind = part.WhichOneof("val")
    if kind == "json_val":
        return kind, _document(part.json_val)
    if kind == "json_list_val":
        return kind, [_document(text) for text in part.json_list_val.val]
    return part.SerializeToString(deterministic=True)


def _document(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _shown(part: Any) -> str:
    if isinstance(part, ValueProto):
        text = text_format.MessageToString(part, as_one_line=True)
        return "{" + text + "}" if text else "null"
    if isinstance(part, int):
        return str(FieldStatus.Name(part))
    return str(part)


def _timestamp(stamps: Sequence[Timestamp], i: int) -> str:
    return str(stamps[i].ToJsonString()) if i < len(stamps) else "none"
