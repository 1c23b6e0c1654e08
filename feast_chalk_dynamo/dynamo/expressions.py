"""Expressions within DynamoDB's limits: short placeholders, and no expression past 4 KB.

Local servers accept any length; DynamoDB rejects an expression over 4 KB.
Callers ask here whether an expression fits and choose another request shape
when it does not (a whole-item read, a values map, several removals).
"""

from __future__ import annotations

from collections.abc import Sequence

# DynamoDB: "The maximum length of any expression string is 4 KB."
MAX_EXPRESSION_BYTES = 4096
# DynamoDB allows at most 300 operators or functions in an UpdateExpression
# without saying how "=" and "," count, and moto's parser recurses once per
# action and overflows Python's stack near 190 actions: 150 actions keep a
# margin under both.
MAX_UPDATE_ACTIONS = 150

_PLACEHOLDER_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def placeholder_suffix(index: int) -> str:
    """The shortest placeholder text for an index: two characters cover 3,844 names."""
    digits = ""
    while True:
        index, rest = divmod(index, len(_PLACEHOLDER_DIGITS))
        digits = _PLACEHOLDER_DIGITS[rest] + digits
        if index == 0:
            return digits


def fits(expression: str) -> bool:
    return len(expression.encode("utf-8")) <= MAX_EXPRESSION_BYTES


def update_fits(expression: str, names: dict[str, str]) -> bool:
    """True if an UpdateExpression acting once on each of ``names`` is within both limits."""
    return len(names) <= MAX_UPDATE_ACTIONS and fits(expression)


def projection(attributes: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    """A ProjectionExpression and its names for ``attributes``, or None if it would pass 4 KB.

    Reading the whole item instead costs the same read units (DynamoDB
    charges for the item, not the projection), only more bytes on the wire.
    """
    names = {f"#{placeholder_suffix(i)}": attr for i, attr in enumerate(dict.fromkeys(attributes))}
    expression = ",".join(names)
    return (expression, names) if fits(expression) else None
