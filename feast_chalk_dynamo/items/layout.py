"""Where things live in the one table: item keys and attribute names.

Pure functions, no I/O: the key encoding must be identical in every process
and Python version that ever reads the table, so it depends on nothing but
its input.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feast_chalk_dynamo.dynamo.tables import PK, SK
from feast_chalk_dynamo.errors import EntityKeyTooLarge, UnsupportedEntityType

ENTITY_SK = "#"
META_PK = "~meta"
# Every attribute the layout itself names starts with this prefix, now and in
# any later version, and no short id ever does: so a feature can never land
# on an attribute the layout uses, whatever the counter reaches.
RESERVED_PREFIX = "_"
EXPIRY_ATTR = "_x"
TS_PREFIX = "_t"
VALUES_PREFIX = "_v"
MAX_PARTITION_KEY_BYTES = 2048
MAX_ITEM_BYTES = 400 * 1024

_ID_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def is_reserved_attribute(name: str) -> bool:
    """True for the key attributes and every attribute name the layout keeps for itself."""
    return name in (PK, SK) or name.startswith(RESERVED_PREFIX)


def id_for_counter(number: int) -> str | None:
    """The short id a counter value stands for, or None if its text is reserved (``pk`` is 920).

    The allocator takes another counter value on None, so ids stay unique and
    never name a key or layout attribute.
    """
    candidate = short_id(number)
    return None if is_reserved_attribute(candidate) else candidate


def short_id(number: int) -> str:
    """Base-36 text of a counter value: the shortest attribute name for it."""
    if number < 0:
        raise ValueError("short ids come from a counter that starts at 1")
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _ID_DIGITS[rest] + digits
        if number == 0:
            return digits


def ts_attr(namespace_id: str) -> str:
    """Attribute holding a view's observed-at time (epoch µs) on an entity item."""
    return TS_PREFIX + namespace_id


def values_attr(namespace_id: str) -> str:
    """Attribute holding a whole row of a view as one map, when its features are too many to SET.

    When present it holds the view's newest row (a row written attribute by
    attribute removes it), so readers take the map first.
    """
    return VALUES_PREFIX + namespace_id


# Each join-key value type gets a one-letter tag so that, say, the string "1"
# and the integer 1 never share a key. The text after the tag round-trips.
# The last element says whether the text may hold a character that needs
# escaping: numbers, booleans and UUIDs never do (a read encodes 100s of keys).
_ENCODERS: dict[str, tuple[str, Callable[[Any], str], bool]] = {
    "string_val": ("s", str, True),
    "int64_val": ("i", str, False),
    "int32_val": ("j", str, False),
    "bytes_val": ("b", lambda v: base64.b64encode(v).decode("ascii"), True),  # base64 has "="
    "bool_val": ("z", lambda v: "1" if v else "0", False),
    "unix_timestamp_val": ("t", str, False),
    "uuid_val": ("u", str, True),  # Feast does not check that it holds a UUID
    "time_uuid_val": ("v", str, True),
}
_DECODERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "s": ("string_val", str),
    "i": ("int64_val", int),
    "j": ("int32_val", int),
    "b": ("bytes_val", base64.b64decode),
    "z": ("bool_val", lambda t: t == "1"),
    "t": ("unix_timestamp_val", int),
    "u": ("uuid_val", str),
    "v": ("time_uuid_val", str),
}

_SPECIAL = re.compile(r"([\\|=~])")
_UNESCAPE = re.compile(r"\\(.)")


def _escape(text: str) -> str:
    # "~" is escaped too, so no entity key can ever look like a "~meta" key.
    return _SPECIAL.sub(r"\\\1", text)


_escape_name = lru_cache(maxsize=1024)(_escape)  # join-key names: a handful, over and over


def _unescape(text: str) -> str:
    return _UNESCAPE.sub(r"\1", text)


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def encode_entity_key(project_id: str, entity_key: EntityKeyProto) -> str:
    """Partition key of an entity's item: ``<project id>/<key>=<tag>:<value>|…``.

    Join keys are sorted, as Feast's own serialisation does, so the order in
    which a caller names them does not matter. Readable on purpose: an
    operator inspecting the table sees ``3/driver_id=i:1001``.
    """
    pairs = zip(entity_key.join_keys, entity_key.entity_values, strict=True)
    parts = []
    for name, value in sorted(pairs, key=_by_name) if len(entity_key.join_keys) > 1 else pairs:
        field = value.WhichOneof("val")
        encoder = _ENCODERS.get(field or "")
        if encoder is None:
            raise UnsupportedEntityType(
                f"join key {name!r} has a value of type {field or 'null'}; entity keys "
                f"must be one of {', '.join(sorted(_ENCODERS))}"
            )
        tag, encode, may_need_escaping = encoder
        text = encode(getattr(value, field))
        parts.append(f"{_escape_name(name)}={tag}:{_escape(text) if may_need_escaping else text}")
    key = f"{project_id}/" + "|".join(parts)
    # A UTF-8 character is at most 4 bytes: short keys need no encoding to be measured.
    size = len(key) if len(key) * 4 <= MAX_PARTITION_KEY_BYTES else len(key.encode("utf-8"))
    if size > MAX_PARTITION_KEY_BYTES:
        shown = describe_entity(key)
        raise EntityKeyTooLarge(
            f"entity key {shown[:200]}{'...' if len(shown) > 200 else ''} "
            f"encodes to {size} bytes; DynamoDB partition keys hold at most {MAX_PARTITION_KEY_BYTES}"
        )
    return key


def _by_name(pair: tuple[str, ValueProto]) -> str:
    return pair[0]


def decode_entity_key(partition_key: str) -> tuple[str, EntityKeyProto]:
    """Inverse of :func:`encode_entity_key`; used by inspection tools and to prove injectivity."""
    project_id, _, rest = partition_key.partition("/")
    entity_key = EntityKeyProto()
    for part in _split_unescaped(rest, "|"):
        name, encoded = _split_unescaped(part, "=")
        tag, _, text = _unescape(encoded).partition(":")
        field, decode = _DECODERS[tag]
        value = ValueProto()
        setattr(value, field, decode(text))
        entity_key.join_keys.append(_unescape(name))
        entity_key.entity_values.append(value)
    return project_id, entity_key


def describe_entity(partition_key: str) -> str:
    """An entity as its user wrote it, for error messages: ``driver_id=2, city='SF'``."""
    try:
        _, entity_key = decode_entity_key(partition_key)
    except (KeyError, ValueError):  # not an entity key: show it as it is
        return partition_key
    pairs = zip(entity_key.join_keys, entity_key.entity_values, strict=True)
    return ", ".join(f"{name}={getattr(value, value.WhichOneof('val'))!r}" for name, value in pairs)


def project_prefix(project_id: str) -> str:
    """Partition-key prefix shared by every entity item of one project."""
    return f"{project_id}/"
