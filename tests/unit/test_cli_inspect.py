"""How ``inspect`` decodes an item: rows by view, a row kept as one map, nulls, expiry, names the
mapping escapes or hashes, values it cannot decode, and attributes nothing names."""

from __future__ import annotations

from feast_chalk_dynamo.cli.inspect_entity import Feature, View, _name, _unescape, describe_item
from feast_chalk_dynamo.names import name_component

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
