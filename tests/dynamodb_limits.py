"""Would real DynamoDB reject this request? A pure-Python check against AWS's documented limits.

The integration tests run against moto and dynalite. Both are lax: they accept requests that
real DynamoDB refuses with a ``ValidationException`` (expressions over 4 KB, placeholders nobody
uses, 101-key batches, two transaction actions on one item, ...). A store that passes its tests
there can still fail in production. ``violation`` holds each request, in DynamoDB's JSON wire
format, to the limits AWS documents, and says what AWS would answer.

The limits are those of "Constraints in Amazon DynamoDB" and "Item sizes and formats" in the
DynamoDB developer guide, and of the DynamoDB API reference. Messages copy AWS's wording where it
is known (from AWS's own answers as recorded by moto, dynalite and the dynamodb-conformance
suite); where it is not, the message is ours and says what is wrong.

It checks no more than it can be sure of: a request AWS would accept must never get a message.
So where the outcome depends on the stored item (the size an UpdateItem leaves) it checks a lower
bound, and it leaves to moto and dynalite what they already enforce (expression syntax, reserved
words, table existence, types against the table's schema beyond the key).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["TABLE_KEYS", "attribute_size", "created_keys", "item_size", "request_tables", "violation"]

# The store's one table: string partition key "pk", string sort key "sk".
TABLE_KEYS: tuple[str, str] = ("pk", "sk")
KEY_TYPE = "S"

Keys = tuple[str, ...]  # (partition key name,) or (partition key name, sort key name)

# -- AWS's limits --------------------------------------------------------------------------------
# DynamoDB measures sizes in binary units: 1 KB = 1024 bytes, 1 MB = 1024 KB.
KB = 1024
MB = 1024 * KB

MAX_REQUEST_BYTES = 16 * MB  # an HTTP request body is at most 16 MB
MAX_ITEM_BYTES = 400 * KB  # "The maximum item size in DynamoDB is 400 KB"
MAX_TRANSACTION_BYTES = 4 * MB  # "The aggregate size of the items in the transaction cannot exceed 4 MB"
MAX_TRANSACT_ITEMS = 100  # TransactWriteItems / TransactGetItems: "up to 100 ... actions"
MAX_BATCH_GET_KEYS = 100  # BatchGetItem: "up to 100 items"
MAX_BATCH_WRITE_REQUESTS = 25  # BatchWriteItem: "up to 25 put or delete requests"
MAX_EXPRESSION_BYTES = 4 * KB  # "The maximum length of any expression string is 4 KB"
MAX_PLACEHOLDER_BYTES = 255  # "any single expression attribute name or ... value is 255 bytes"
MAX_SUBSTITUTION_BYTES = 2 * MB  # "all substitution variables in an expression is 2 MB"
MAX_PARTITION_KEY_BYTES = 2048  # "The maximum length of a partition key value is 2048 bytes"
MAX_SORT_KEY_BYTES = 1024  # "The maximum length of a sort key value is 1024 bytes"
MAX_KEY_NAME_BYTES = 255  # primary key attribute names: "no greater than 255 characters long"
MAX_ATTRIBUTE_NAME_BYTES = 64 * KB - 1  # other attribute names: "less than 64 KB"
MAX_NESTING_LEVELS = 32  # "DynamoDB supports nested attributes up to 32 levels deep"
MAX_NUMBER_DIGITS = 38  # "Numbers can have up to 38 digits of precision"
MAX_NUMBER_EXPONENT = 125  # positive range up to 9.9999999999999999999999999999999999999E+125
MIN_NUMBER_EXPONENT = -130  # smallest magnitude 1E-130

# -- AWS's messages used more than once ----------------------------------------------------------
PARAMETER_INVALID = "One or more parameter values were invalid: "
SCHEMA_MISMATCH = "The provided key element does not match the schema"
NESTING_TOO_DEEP = (
    "Nesting Levels have exceeded supported limits: "
    "Attributes in the item have nested levels beyond supported limit"
)
ITEM_TOO_LARGE = "Item size has exceeded the maximum allowed size"
UPDATE_TOO_LARGE = "Item size to update has exceeded the maximum allowed size"
EMPTY_SETS = {
    "SS": PARAMETER_INVALID + "An string set  may not be empty",  # sic: AWS's two spaces
    "NS": PARAMETER_INVALID + "An number set  may not be empty",
    "BS": PARAMETER_INVALID + "Binary sets should not be empty",
}


def violation(
    operation: str,
    payload: Mapping[str, Any],
    *,
    keys: Keys = TABLE_KEYS,
    body_size: int | None = None,
) -> str | None:
    """The message of the ValidationException AWS would answer this request with; None if it accepts it.

    ``operation`` is the ``X-Amz-Target`` suffix ("UpdateItem", "BatchGetItem", ...) and
    ``payload`` the parsed JSON body. ``keys`` names the table's key attributes, partition key
    first; ``body_size`` is the body's length in bytes, if known. Operations without items or
    expressions (ListTables, CreateTable, DescribeTimeToLive, ...) are checked for size only.

    In a TransactWriteItems, AWS reports some per-action failures (a wrong key type, say) as a
    TransactionCanceledException whose reason carries this same message.
    """
    return next(_violations(operation, payload, keys, body_size), None)


def _violations(
    operation: str, payload: Mapping[str, Any], keys: Keys, body_size: int | None
) -> Iterator[str]:
    """Every violation of the request, in about the order AWS checks; ``violation`` takes the first.

    All the checks below are generators for this reason: the first message stops the walk, so
    a later check (sizes, say) only ever sees values an earlier check has passed.
    """
    if body_size is not None and body_size > MAX_REQUEST_BYTES:
        yield f"Request size {body_size} bytes exceeds the maximum allowed size of {MAX_REQUEST_BYTES} bytes"
    check = _OPERATIONS.get(operation)
    if check is not None:
        yield from check(payload, keys)


def request_tables(payload: Mapping[str, Any]) -> set[str]:
    """The tables a request names: its TableName, its RequestItems' tables, or its transaction actions'."""
    tables = {payload["TableName"]} if isinstance(payload.get("TableName"), str) else set()
    tables.update(payload.get("RequestItems") or {})
    for entry in payload.get("TransactItems") or []:
        for action in entry.values():
            if isinstance(action, Mapping) and isinstance(action.get("TableName"), str):
                tables.add(action["TableName"])
    return tables


def created_keys(payload: Mapping[str, Any]) -> Keys:
    """The key attributes a CreateTable request gives its table, partition key first."""
    schema = sorted(payload.get("KeySchema") or [], key=lambda key: key.get("KeyType") != "HASH")
    return tuple(key["AttributeName"] for key in schema)


# -- sizes ---------------------------------------------------------------------------------------


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it against the 400 KB limit: names' UTF-8 lengths plus values."""
    return sum(_utf8_len(name) + attribute_size(value) for name, value in item.items())


def attribute_size(value: Mapping[str, Any]) -> int:
    """The bytes one attribute value counts for (name excluded), by AWS's "Item sizes and formats".

    S is its UTF-8 length, B its raw length (the wire holds base64), N see ``_number_size``, BOOL
    and NULL 1 byte, a set the sum of its members, L and M 3 bytes plus per element 1 byte and its
    size (plus, in an M, the key's UTF-8 length).
    """
    ((tag, payload),) = value.items()
    if tag == "S":
        return _utf8_len(payload)
    if tag == "B":
        return _binary_len(payload)
    if tag == "N":
        return _number_size(payload)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(map(_utf8_len, payload))
    if tag == "BS":
        return sum(map(_binary_len, payload))
    if tag == "NS":
        return sum(map(_number_size, payload))
    if tag == "L":
        return 3 + sum(1 + attribute_size(element) for element in payload)
    if tag == "M":
        return 3 + sum(1 + _utf8_len(name) + attribute_size(element) for name, element in payload.items())
    raise ValueError(f"unknown attribute type {tag!r}")


def _number_size(text: str) -> int:
    """Bytes of an N: AWS documents "approximately 1 byte per two significant digits, plus 1 byte".

    Exactly, DynamoDB stores a number in base 100: an exponent byte, one byte per base-100 digit
    pair the significant digits span, and one more byte for a negative number; zero is 1 byte.
    This is dynalite's model, measured against DynamoDB, and the store's own (codec.item_size),
    so the writer's limit and this one agree to the byte.
    """
    number = Decimal(text)
    if number.is_zero():
        return 1
    first = number.adjusted()  # power of ten of the leading significant digit
    last = first - len(_significant_digits(number)) + 1
    return 1 + (first // 2 - last // 2 + 1) + (1 if number.is_signed() else 0)


def _significant_digits(number: Decimal) -> tuple[int, ...]:
    digits = number.as_tuple().digits
    end = len(digits)
    while end > 1 and digits[end - 1] == 0:
        end -= 1
    return tuple(digits[:end])


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _binary_len(text: str | bytes) -> int:
    return len(_binary(text))


def _binary(text: str | bytes) -> bytes:
    """A B's raw bytes: the wire carries base64 text (malformed base64 is AWS's SerializationException)."""
    if isinstance(text, bytes):
        return text
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        return text.encode("utf-8")


# -- attribute values ----------------------------------------------------------------------------

_TYPES = ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _check_value(value: Any, level: int = 1) -> Iterator[str]:
    """One attribute value, and anything nested in it: shape, numbers, sets and nesting depth.

    Empty strings and binaries are fine here: since 2020 only key attributes may not be empty.
    """
    if not isinstance(value, Mapping) or not value:
        yield "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        return
    if len(value) > 1:
        yield (
            "Supplied AttributeValue has more than one datatypes set, "
            "must contain exactly one of the supported datatypes"
        )
        return
    if level > MAX_NESTING_LEVELS:  # the attribute itself is level 1
        yield NESTING_TOO_DEEP
        return
    ((tag, payload),) = value.items()
    if tag not in _TYPES:  # botocore never sends one; AWS would answer with a SerializationException
        yield f"Supplied AttributeValue has an unknown datatype: {tag}"
    elif tag == "N":
        yield from _check_number(payload)
    elif tag in EMPTY_SETS:
        yield from _check_set(tag, payload)
    elif tag == "L":
        for element in payload:
            yield from _check_value(element, level + 1)
    elif tag == "M":
        for element in payload.values():
            yield from _check_value(element, level + 1)


def _check_number(text: Any) -> Iterator[str]:
    """An N within DynamoDB's range: 38 significant digits, magnitude 1E-130 to 9.99..9E+125, or zero."""
    if not isinstance(text, str) or not _NUMBER.fullmatch(text):
        yield f"The parameter cannot be converted to a numeric value: {text}"
        return
    number = Decimal(text)
    if number.is_zero():
        return
    if number.adjusted() > MAX_NUMBER_EXPONENT:
        yield "Number overflow. Attempting to store a number with magnitude larger than supported range"
    elif number.adjusted() < MIN_NUMBER_EXPONENT:
        yield "Number underflow. Attempting to store a number with magnitude smaller than supported range"
    elif len(_significant_digits(number)) > MAX_NUMBER_DIGITS:
        yield f"Attempting to store more than {MAX_NUMBER_DIGITS} significant digits in a Number"


def _check_set(tag: str, members: Sequence[Any]) -> Iterator[str]:
    """A set is never empty and never holds one member twice (numbers compare by value: 1 == 1.0)."""
    if not members:
        yield EMPTY_SETS[tag]
        return
    if tag == "NS":
        for member in members:
            yield from _check_number(member)
        identities: list[Any] = [Decimal(member) for member in members]
    elif tag == "BS":
        identities = [_binary(member) for member in members]
    else:
        identities = list(members)
    if len(set(identities)) == len(identities):
        return
    if tag == "NS":
        yield "Input collection contains duplicates"
    else:
        shown = ", ".join(str(member) for member in members)
        kind = "of type BS " if tag == "BS" else " "
        yield PARAMETER_INVALID + f"Input collection [{shown}]{kind}contains duplicates."


def _check_attribute_name(name: str, keys: Keys) -> Iterator[str]:
    """Attribute names are 1 byte to 64 KB; key attribute names at most 255 bytes. (Wording is ours.)"""
    limit = MAX_KEY_NAME_BYTES if name in keys else MAX_ATTRIBUTE_NAME_BYTES
    if not name:
        yield PARAMETER_INVALID + "An attribute name may not be empty"
    elif _utf8_len(name) > limit:
        yield PARAMETER_INVALID + f"Attribute name {name[:32]!r}... is longer than {limit} bytes"


# -- keys and items ------------------------------------------------------------------------------


def _check_key(key: Any, keys: Keys) -> Iterator[str]:
    """A Key (GetItem, UpdateItem, DeleteItem, batches, transactions): exactly the table's key attributes."""
    if not isinstance(key, Mapping) or set(key) != set(keys):
        yield SCHEMA_MISMATCH
        return
    for name in keys:
        yield from _check_value(key[name])
        if _tag(key[name]) != KEY_TYPE:
            yield SCHEMA_MISMATCH
        else:
            yield from _check_key_value(name, key[name], keys)


def _check_item(item: Any, keys: Keys) -> Iterator[str]:
    """An item to write (PutItem, Put in a transaction, PutRequest): its key, names, values and size."""
    if not isinstance(item, Mapping):
        yield PARAMETER_INVALID + "Missing the key " + keys[0] + " in the item"
        return
    for name, value in item.items():
        yield from _check_attribute_name(name, keys)
        yield from _check_value(value)
    for name in keys:
        if name not in item:
            yield PARAMETER_INVALID + f"Missing the key {name} in the item"
        elif _tag(item[name]) != KEY_TYPE:
            actual = _tag(item[name])
            yield PARAMETER_INVALID + f"Type mismatch for key {name} expected: {KEY_TYPE} actual: {actual}"
        else:
            yield from _check_key_value(name, item[name], keys)
    if item_size(item) > MAX_ITEM_BYTES:
        yield ITEM_TOO_LARGE


def _check_key_value(name: str, value: Mapping[str, Any], keys: Keys) -> Iterator[str]:
    """A key value is not empty, and at most 2048 bytes (partition key) or 1024 bytes (sort key)."""
    text = value[KEY_TYPE]
    if text == "":
        yield (
            "One or more parameter values are not valid. The AttributeValue for a key attribute "
            f"cannot contain an empty string value. Key: {name}"
        )
    elif name == keys[0] and _utf8_len(text) > MAX_PARTITION_KEY_BYTES:
        # sic: AWS has no space in "of2048"
        yield PARAMETER_INVALID + (
            f"Size of hashkey has exceeded the maximum size limit of{MAX_PARTITION_KEY_BYTES} bytes"
        )
    elif name != keys[0] and _utf8_len(text) > MAX_SORT_KEY_BYTES:
        yield PARAMETER_INVALID + (
            f"Aggregated size of all range keys has exceeded the size limit of {MAX_SORT_KEY_BYTES} bytes"
        )


def _tag(value: Mapping[str, Any]) -> str:
    return next(iter(value))


def _key_identity(attributes: Mapping[str, Any], keys: Keys) -> tuple[str, ...]:
    """What makes two requests target the same item: their key values."""
    return tuple(json.dumps(attributes.get(name), sort_keys=True) for name in keys)


# -- expressions: a small tokenizer --------------------------------------------------------------
#
# Just enough of DynamoDB's expression grammar to find placeholders, document paths (a.b[2].c),
# the clauses of an update expression and the comma-separated parts of a clause or projection.
# Anything it does not understand is left alone: syntax errors are moto's and dynalite's to find.

_TOKEN = re.compile(
    r"(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<number>[0-9]+)|(?P<symbol><>|<=|>=|\S)|\s+"
)
_NAME_PLACEHOLDER = re.compile(r"#[A-Za-z0-9_]+")
_VALUE_PLACEHOLDER = re.compile(r":[A-Za-z0-9_]+")
_UPDATE_CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class _Token:
    kind: str  # name (#x), value (:x), word, number or symbol
    text: str


@dataclass(frozen=True)
class _UpdateAction:
    clause: str  # SET, REMOVE, ADD or DELETE
    path: Path  # the attribute it changes, placeholders resolved
    operand: list[_Token]  # what follows the path (after "=" in a SET)


def _tokens(expression: str) -> list[_Token]:
    return [_Token(m.lastgroup, m.group()) for m in _TOKEN.finditer(expression) if m.lastgroup]


def _path(tokens: Sequence[_Token], start: int, names: Mapping[str, str]) -> tuple[Path, int]:
    """The document path at ``tokens[start]`` (placeholders resolved) and the index past it; () if none."""

    def element(i: int) -> str | None:
        if i < len(tokens) and tokens[i].kind in ("name", "word"):
            return names.get(tokens[i].text, tokens[i].text) if tokens[i].kind == "name" else tokens[i].text
        return None

    first = element(start)
    if first is None:
        return (), start
    parts: list[str | int] = [first]
    i = start + 1
    while i < len(tokens):
        nested = element(i + 1) if tokens[i].text == "." else None
        if nested is not None:
            parts.append(nested)
            i += 2
        elif [t.text if t.kind == "symbol" else t.kind for t in tokens[i : i + 3]] == ["[", "number", "]"]:
            parts.append(int(tokens[i + 1].text))
            i += 3
        else:
            break
    return tuple(parts), i


def _split(tokens: Iterable[_Token]) -> list[list[_Token]]:
    """Split at the commas outside parentheses: the actions of a clause, the paths of a projection."""
    parts: list[list[_Token]] = [[]]
    depth = 0
    for token in tokens:
        depth += {"(": 1, ")": -1}.get(token.text, 0)
        if token.text == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _update_clauses(tokens: Iterable[_Token]) -> list[tuple[str, list[_Token]]]:
    """The SET/REMOVE/ADD/DELETE clauses of an update expression, each with its tokens."""
    clauses: list[tuple[str, list[_Token]]] = []
    depth = 0
    for token in tokens:
        depth += {"(": 1, ")": -1}.get(token.text, 0)
        if token.kind == "word" and depth == 0 and token.text.upper() in _UPDATE_CLAUSES:
            clauses.append((token.text.upper(), []))
        elif clauses:
            clauses[-1][1].append(token)
    return clauses


def _update_actions(expression: str, names: Mapping[str, str]) -> list[_UpdateAction]:
    actions = []
    for clause, tokens in _update_clauses(_tokens(expression)):
        for part in _split(tokens):
            path, end = _path(part, 0, names)
            if clause == "SET" and end < len(part) and part[end].text == "=":
                end += 1
            actions.append(_UpdateAction(clause, path, part[end:]))
    return actions


def _show(path: Path) -> str:
    """A path as AWS prints it in messages: [a, b, [2]]."""
    return "[" + ", ".join(f"[{part}]" if isinstance(part, int) else part for part in path) + "]"


def _overlaps(paths: Sequence[Path]) -> Iterator[str]:
    """No path may be a prefix of another (a and a.b, or one path twice), nor use one attribute as
    both a map and a list (a.b and a[0]). Each clash names the earlier path first, as AWS does.

    One pass over the paths' prefixes rather than a comparison of every pair: a projection can
    name hundreds of attributes.
    """
    through: dict[Path, Path] = {}  # each prefix of an earlier path -> the first path through it
    steps: dict[Path, tuple[type, Path]] = {}  # each prefix -> the kind of element after it, and whose
    for path in paths:
        for end in range(1, len(path) + 1):
            prefix, parent, element = path[:end], path[: end - 1], path[end - 1]
            step = steps.get(parent)
            if step is not None and step[0] is not type(element):
                yield _clash("conflict", step[1], path)
            earlier = through.get(prefix)
            if earlier is not None and (earlier == prefix or end == len(path)):
                yield _clash("overlap", earlier, path)  # the earlier path ends here, or this one does
        for end in range(1, len(path) + 1):
            through.setdefault(path[:end], path)
            steps.setdefault(path[: end - 1], (type(path[end - 1]), path))


def _clash(kind: str, one: Path, two: Path) -> str:
    return (
        f"Two document paths {kind} with each other; must remove or rewrite one of these paths; "
        f"path one: {_show(one)}, path two: {_show(two)}"
    )


# -- expressions: the checks ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Action:
    """What one request (or one action of a batch or transaction) carries."""

    expressions: tuple[str, ...]  # in the order AWS lists them in its messages
    key: bool = False  # a Key naming one item
    item: bool = False  # an Item to write
    start_key: bool = False  # an optional ExclusiveStartKey


GET = _Action(("ProjectionExpression",), key=True)
PUT = _Action(("ConditionExpression",), item=True)
UPDATE = _Action(("UpdateExpression", "ConditionExpression"), key=True)
DELETE = _Action(("ConditionExpression",), key=True)
QUERY = _Action(("ProjectionExpression", "FilterExpression", "KeyConditionExpression"), start_key=True)
SCAN = _Action(("ProjectionExpression", "FilterExpression"), start_key=True)


def _check_action(spec: _Action, action: Mapping[str, Any], keys: Keys) -> Iterator[str]:
    """A single-item request, or one action of a batch or transaction, with its own placeholders."""
    if spec.key:
        yield from _check_key(action.get("Key"), keys)
    if spec.item:
        yield from _check_item(action.get("Item"), keys)
    if spec.start_key and action.get("ExclusiveStartKey") is not None and "IndexName" not in action:
        yield from _check_key(action["ExclusiveStartKey"], keys)
    yield from _check_expressions(spec.expressions, action, keys)
    if action.get("UpdateExpression"):
        yield from _check_update_size(action)


def _check_expressions(fields: tuple[str, ...], action: Mapping[str, Any], keys: Keys) -> Iterator[str]:
    """The expressions of one action and their placeholder maps: every placeholder defined and used."""
    names: Mapping[str, str] = action.get("ExpressionAttributeNames") or {}
    values: Mapping[str, Any] = action.get("ExpressionAttributeValues") or {}
    expressions = {field: action[field] for field in fields if action.get(field) is not None}
    yield from _check_name_map(action.get("ExpressionAttributeNames"), expressions)
    yield from _check_value_map(action.get("ExpressionAttributeValues"), expressions, fields)
    yield from _check_substitution_size(names, values)
    used: set[str] = set()
    for field, text in expressions.items():
        tokens = _tokens(text)
        yield from _check_expression(field, text, tokens, names, values, keys)
        used.update(token.text for token in tokens if token.kind in ("name", "value"))
    yield from _check_unused("ExpressionAttributeNames", names, used)
    yield from _check_unused("ExpressionAttributeValues", values, used)


def _check_name_map(names: Mapping[str, Any] | None, expressions: Mapping[str, str]) -> Iterator[str]:
    if names is None:
        return
    if not names:
        yield "ExpressionAttributeNames must not be empty"
    if not expressions:
        yield "ExpressionAttributeNames can only be specified when using expressions"
    for placeholder, name in names.items():
        yield from _check_placeholder("ExpressionAttributeNames", placeholder, _NAME_PLACEHOLDER)
        if not isinstance(name, str) or not name:  # wording ours
            yield (
                f"ExpressionAttributeNames contains invalid value: Empty attribute name for key {placeholder}"
            )
        elif _utf8_len(name) > MAX_ATTRIBUTE_NAME_BYTES:  # wording ours
            yield (
                f"ExpressionAttributeNames contains invalid value: attribute name longer than "
                f"{MAX_ATTRIBUTE_NAME_BYTES} bytes for key {placeholder}"
            )


def _check_value_map(
    values: Mapping[str, Any] | None, expressions: Mapping[str, str], fields: tuple[str, ...]
) -> Iterator[str]:
    if values is None:
        return
    if not values:
        yield "ExpressionAttributeValues must not be empty"
    value_fields = [field for field in fields if field != "ProjectionExpression"]
    if value_fields and not any(field in expressions for field in value_fields):
        verb = "is" if len(value_fields) == 1 else "are"
        yield (
            "ExpressionAttributeValues can only be specified when using expressions: "
            f"{' and '.join(value_fields)} {verb} null"
        )
    for placeholder, value in values.items():
        yield from _check_placeholder("ExpressionAttributeValues", placeholder, _VALUE_PLACEHOLDER)
        for problem in _check_value(value):
            if problem == NESTING_TOO_DEEP:  # AWS reports this one bare
                yield problem
            else:
                yield f"ExpressionAttributeValues contains invalid value: {problem} for key {placeholder}"


def _check_placeholder(where: str, placeholder: str, pattern: re.Pattern[str]) -> Iterator[str]:
    """A placeholder is "#" or ":" then [A-Za-z0-9_]+, at most 255 bytes in all."""
    if not pattern.fullmatch(placeholder):
        yield f'{where} contains invalid key: Syntax error; key: "{placeholder}"'
    elif _utf8_len(placeholder) > MAX_PLACEHOLDER_BYTES:  # wording ours
        yield f'{where} contains invalid key: longer than {MAX_PLACEHOLDER_BYTES} bytes; key: "{placeholder}"'


def _check_substitution_size(names: Mapping[str, Any], values: Mapping[str, Any]) -> Iterator[str]:
    """All placeholders and what they stand for together at most 2 MB. (Wording ours.)"""
    size = sum(_utf8_len(placeholder) + _utf8_len(str(name)) for placeholder, name in names.items())
    size += sum(_utf8_len(placeholder) + attribute_size(value) for placeholder, value in values.items())
    if size > MAX_SUBSTITUTION_BYTES:
        yield (
            "ExpressionAttributeNames and ExpressionAttributeValues exceed the maximum allowed size "
            f"of {MAX_SUBSTITUTION_BYTES} bytes; size: {size}"
        )


def _check_expression(
    field: str,
    text: str,
    tokens: Sequence[_Token],
    names: Mapping[str, str],
    values: Mapping[str, Any],
    keys: Keys,
) -> Iterator[str]:
    """One expression: not empty, at most 4 KB, its placeholders defined, its paths distinct."""
    if not text:
        yield f"Invalid {field}: The expression can not be empty;"
        return
    size = _utf8_len(text)
    if size > MAX_EXPRESSION_BYTES:
        yield (
            f"Invalid {field}: Expression size has exceeded the maximum allowed size; expression size: {size}"
        )
    for token in tokens:
        if token.kind == "name" and token.text not in names:
            yield (
                f"Invalid {field}: An expression attribute name used in the document path is not defined; "
                f"attribute name: {token.text}"
            )
        elif token.kind == "value" and token.text not in values:
            yield (
                f"Invalid {field}: An expression attribute value used in expression is not defined; "
                f"attribute value: {token.text}"
            )
    if field == "ProjectionExpression":
        paths = [_path(part, 0, names)[0] for part in _split(tokens)]
        yield from (f"Invalid ProjectionExpression: {message}" for message in _overlaps(paths))
    elif field == "UpdateExpression":
        yield from _check_update_expression(text, names, keys)


def _check_update_expression(text: str, names: Mapping[str, str], keys: Keys) -> Iterator[str]:
    """Each clause at most once, no key attribute changed, no attribute changed by two actions."""
    clauses = [clause for clause, _ in _update_clauses(_tokens(text))]
    for clause in _UPDATE_CLAUSES:
        if clauses.count(clause) > 1:
            yield (
                f'Invalid UpdateExpression: The "{clause}" section can only be used once '
                "in an update expression;"
            )
    actions = _update_actions(text, names)
    for action in actions:
        if action.path and action.path[0] in keys:
            yield PARAMETER_INVALID + (
                f"Cannot update attribute {action.path[0]}. This attribute is part of the key"
            )
    yield from (f"Invalid UpdateExpression: {message}" for message in _overlaps([a.path for a in actions]))


def _check_unused(where: str, placeholders: Mapping[str, Any], used: set[str]) -> Iterator[str]:
    unused = [placeholder for placeholder in placeholders if placeholder not in used]
    if unused:
        yield f"Value provided in {where} unused in expressions: keys: {{{', '.join(unused)}}}"


def _check_update_size(action: Mapping[str, Any]) -> Iterator[str]:
    if _update_size_at_least(action) > MAX_ITEM_BYTES:
        yield UPDATE_TOO_LARGE


def _update_size_at_least(action: Mapping[str, Any]) -> int:
    """A lower bound on the size of the item an UpdateItem leaves, knowing nothing of the stored item.

    The key, plus every ``SET path = :value``: that value will be in the item. Values used only in
    conditions, in if_not_exists or in arithmetic may not be, so they do not count.
    """
    names: Mapping[str, str] = action.get("ExpressionAttributeNames") or {}
    values: Mapping[str, Any] = action.get("ExpressionAttributeValues") or {}
    size = item_size(action.get("Key") or {})
    for update in _update_actions(action.get("UpdateExpression") or "", names):
        operand = update.operand
        if update.clause == "SET" and len(operand) == 1 and operand[0].text in values:
            name = update.path[0] if len(update.path) == 1 else ""
            size += _utf8_len(str(name)) + attribute_size(values[operand[0].text])
    return size


# -- batches and transactions --------------------------------------------------------------------


def _check_batch_get(payload: Mapping[str, Any], keys: Keys) -> Iterator[str]:
    """BatchGetItem: 1 to 100 keys in all, no key twice in a table; each table its own projection."""
    tables: Mapping[str, Any] = payload.get("RequestItems") or {}
    if not tables:
        yield _too_short("{}", "requestItems")
    for table, request in tables.items():
        if not request.get("Keys"):
            yield _too_short("[]", f"requestItems.{table}.member.keys")
    if sum(len(request["Keys"]) for request in tables.values()) > MAX_BATCH_GET_KEYS:
        yield "Too many items requested for the BatchGetItem call"
    for request in tables.values():
        for key in request["Keys"]:
            yield from _check_key(key, keys)
        if _has_duplicates(_key_identity(key, keys) for key in request["Keys"]):
            yield "Provided list of item keys contains duplicates"
        yield from _check_expressions(GET.expressions, request, keys)


def _check_batch_write(payload: Mapping[str, Any], keys: Keys) -> Iterator[str]:
    """BatchWriteItem: 1 to 25 requests a table and 25 in all, no item twice, each Put a valid item."""
    tables: Mapping[str, Sequence[Mapping[str, Any]]] = payload.get("RequestItems") or {}
    if not tables:
        yield _too_short("{}", "requestItems")
    for requests in tables.values():
        if not 1 <= len(requests) <= MAX_BATCH_WRITE_REQUESTS:
            yield (
                "1 validation error detected: Value '{...}' at 'requestItems' failed to satisfy constraint: "
                "Map value must satisfy constraint: [Member must have length less than or equal to "
                f"{MAX_BATCH_WRITE_REQUESTS}, Member must have length greater than or equal to 1]"
            )
    if sum(map(len, tables.values())) > MAX_BATCH_WRITE_REQUESTS:
        yield "Too many items requested for the BatchWriteItem call"
    for requests in tables.values():
        targets = []
        for request in requests:
            if "PutRequest" in request:
                item = request["PutRequest"].get("Item")
                yield from _check_item(item, keys)
                targets.append(_key_identity(item, keys))
            else:
                key = (request.get("DeleteRequest") or {}).get("Key") or {}
                yield from _check_key(key, keys)
                targets.append(_key_identity(key, keys))
        if _has_duplicates(targets):
            yield "Provided list of item keys contains duplicates"


_TRANSACT_WRITES = {"Put": PUT, "Update": UPDATE, "Delete": DELETE, "ConditionCheck": DELETE}


def _check_transact_write(payload: Mapping[str, Any], keys: Keys) -> Iterator[str]:
    """TransactWriteItems: 1 to 100 actions on distinct items, together at most 4 MB."""
    entries: Sequence[Mapping[str, Any]] = payload.get("TransactItems") or []
    yield from _check_transact_count(entries)
    targets = []
    size = 0
    for entry in entries:
        kinds = [kind for kind in entry if kind in _TRANSACT_WRITES]
        if len(kinds) != 1:
            yield "TransactItems can only contain one of Check, Put, Update or Delete"
            return
        action = entry[kinds[0]]
        yield from _check_action(_TRANSACT_WRITES[kinds[0]], action, keys)
        target = action["Item"] if kinds[0] == "Put" else action["Key"]
        targets.append((action.get("TableName"), _key_identity(target, keys)))
        size += _update_size_at_least(action) if kinds[0] == "Update" else item_size(target)
    if _has_duplicates(targets):
        yield "Transaction request cannot include multiple operations on one item"
    if size > MAX_TRANSACTION_BYTES:  # wording ours; Update actions count their lower bound
        yield (
            f"Transaction size has exceeded the maximum allowed size of {MAX_TRANSACTION_BYTES} bytes; "
            f"size: {size}"
        )


def _check_transact_get(payload: Mapping[str, Any], keys: Keys) -> Iterator[str]:
    """TransactGetItems: 1 to 100 Gets, each a valid key and projection."""
    entries: Sequence[Mapping[str, Any]] = payload.get("TransactItems") or []
    yield from _check_transact_count(entries)
    for entry in entries:
        yield from _check_action(GET, entry.get("Get") or {}, keys)


def _check_transact_count(entries: Sequence[Any]) -> Iterator[str]:
    if not entries:
        yield _too_short("[]", "transactItems")
    elif len(entries) > MAX_TRANSACT_ITEMS:
        # AWS puts the whole list, printed by Java, where this has "[...]".
        yield (
            "1 validation error detected: Value '[...]' at 'transactItems' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_TRANSACT_ITEMS}"
        )


def _too_short(shown: str, where: str) -> str:
    return (
        f"1 validation error detected: Value '{shown}' at '{where}' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def _has_duplicates(identities: Iterable[Any]) -> bool:
    listed = list(identities)
    return len(set(listed)) < len(listed)


_OPERATIONS: dict[str, Callable[[Mapping[str, Any], Keys], Iterator[str]]] = {
    "GetItem": functools.partial(_check_action, GET),
    "PutItem": functools.partial(_check_action, PUT),
    "UpdateItem": functools.partial(_check_action, UPDATE),
    "DeleteItem": functools.partial(_check_action, DELETE),
    "Query": functools.partial(_check_action, QUERY),
    "Scan": functools.partial(_check_action, SCAN),
    "BatchGetItem": _check_batch_get,
    "BatchWriteItem": _check_batch_write,
    "TransactGetItems": _check_transact_get,
    "TransactWriteItems": _check_transact_write,
}
