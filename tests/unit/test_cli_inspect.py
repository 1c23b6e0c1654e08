"""How ``inspect`` decodes an item: rows by view, a row kept as one map, nulls, expiry, names the
mapping escapes or hashes, values it cannot decode, and attributes nothing names."""

from __future__ import annotations

from pathlib import Path

import pytest
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.types import Int64, String

from feast_chalk_dynamo.cli.inspect_entity import Feature, View, _name, _unescape, describe_item, entity_key
from feast_chalk_dynamo.cli.shared import CliError
from feast_chalk_dynamo.items.names import name_component

STATS = View("stats", "2", [Feature("rate", "DOUBLE", "3"), Feature("trips", "INT64", "4")])
WIDE = View("wide", "5", [Feature("f0", "STRING", "6"), Feature("f1", "INT64_LIST", "7")])
GONE = View("gone", "9", [Feature("x", "INT64", "a")])
KEY = {"pk": {"S": "1/driver_id=i:7"}, "sk": {"S": "#"}}


def test_rows_by_view_with_times_in_utc_and_nulls() -> None:
    """stats holds its features as attributes (trips written as null: NULL); wide its whole row in one
    map '_v5', which lacks f1 (never written); gone has no row here (nothing printed); _x is the
    item's expiry."""
    item = {
        **KEY,
        "_t2": {"N": "1748781296789012"},
        "3": {"N": "0.25"},
        "4": {"NULL": True},
        "_t5": {"N": "1748781296000000"},
        "_v5": {"M": {"6": {"S": "Lagos"}}},
        "_x": {"N": "1748867696"},
    }
    assert describe_item(item, [STATS, WIDE, GONE]) == [
        "stats (_t2): observed at 2025-06-01T12:34:56.789012+00:00",
        "  rate  (3) = 0.25",
        "  trips (4) = null",
        "wide (_t5, its features in one map _v5): observed at 2025-06-01T12:34:56+00:00",
        "  f0 (6) = 'Lagos'",
        "  f1 (7) = (not written)",
        "expires (_x, DynamoDB TTL) at 2025-06-02T12:34:56+00:00",
    ]


def test_what_nothing_names_is_listed_raw_and_an_undecodable_value_said_so() -> None:
    """A retired view's attributes (gone is not live: not passed) are nobody's; a value stored in a
    type its dtype never takes is shown raw with the codec's reason."""
    item = {
        **KEY,
        "_t2": {"N": "1"},
        "3": {"BOOL": True},
        "_t9": {"N": "1"},
        "a": {"N": "5"},
        "b": {"B": b"\x01"},
    }
    lines = describe_item(item, [STATS])
    assert lines[1].startswith('  rate  (3) = {"BOOL": true} (not decodable as DOUBLE: ')
    assert lines[-4:] == [
        "attributes no live mapping names:",
        '  _t9 = {"N": "1"}',
        '  a = {"N": "5"}',
        '  b = {"B": "AQ=="}',
    ]


def test_mapping_components_back_to_names() -> None:
    """The mapping escapes '%' and '/' (to %25 and %2F) and hashes a name over 300 bytes, which only
    the view's schema can name again."""
    for name in ("rate", "a/b", "100%", "%2F", "%25/%"):
        assert _unescape(name_component(name)) == name
    long = "f" * 400
    hashed = name_component(long)
    assert hashed.startswith("%H")
    assert _name(hashed, ["rate", long]) == long
    assert _name(hashed, ["rate"]) == hashed  # not in the schema any more: shown as stored


# -- the entity key ------------------------------------------------------------------------------------

DRIVER = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
RIDER = Entity(name="rider", join_keys=["rider_id"], value_type=ValueType.STRING)


def view(name: str, entities: list[Entity]) -> FeatureView:
    keys = [Field(name=entity.join_key, dtype=Int64 if entity is DRIVER else String) for entity in entities]
    return FeatureView(
        name=name,
        entities=entities,
        schema=[*keys, Field(name="x", dtype=Int64)],
        source=FileSource(path="/nonexistent.parquet", timestamp_field="ts"),
    )


@pytest.fixture
def two_items(tmp_path: Path) -> FeatureStore:
    """Items keyed by driver_id (stats, ranks), and by driver_id and rider_id (trips); real Feast, its
    sqlite online store (nothing is read or written: the registry alone answers)."""
    store = FeatureStore(
        config=RepoConfig(
            project="p",
            provider="local",
            registry=str(tmp_path / "registry.db"),
            online_store={"type": "sqlite", "path": str(tmp_path / "online.db")},
            entity_key_serialization_version=3,
        )
    )
    store.apply(
        [DRIVER, RIDER, view("stats", [DRIVER]), view("ranks", [DRIVER]), view("trips", [DRIVER, RIDER])]
    )
    return store


KEYED = (
    "an item is keyed by driver_id (views stats, ranks) or driver_id, rider_id (view trips); give each "
    "join key of one, --entity KEY=VALUE for each"
)


def test_the_whole_key_of_an_item_in_any_order(two_items: FeatureStore) -> None:
    assert entity_key(two_items, ["driver_id=7"]) == EntityKeyProto(
        join_keys=["driver_id"], entity_values=[ValueProto(int64_val=7)]
    )
    both = entity_key(two_items, ["rider_id=r", "driver_id=7"])
    assert dict(zip(both.join_keys, both.entity_values, strict=True)) == {
        "driver_id": ValueProto(int64_val=7),
        "rider_id": ValueProto(string_val="r"),
    }


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (["rider_id=r"], f"--entity gives rider_id, which keys no item: {KEYED}"),
        (["rdier_id=r", "driver_id=7"], f"'rdier_id' is no join key of the entities of project 'p': {KEYED}"),
        (["driver_id=7", "driver_id=8"], "--entity gives join key 'driver_id' twice"),
    ],
)
def test_part_of_a_key_or_a_misspelt_one_names_the_keys_an_item_needs(
    two_items: FeatureStore, given: list[str], error: str
) -> None:
    """A part of a composite key used to be read as a key of its own, and found "no item"."""
    with pytest.raises(CliError) as refused:
        entity_key(two_items, given)
    assert str(refused.value) == error
