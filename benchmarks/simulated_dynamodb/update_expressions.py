"""DynamoDB's UpdateExpression, parsed as far as the stores under test use it on data items.

Only what changes an item's size matters to the simulator: which top-level attributes a write
sets (and to which value), sets only if absent, or removes. Anything else is refused loudly
(``SimulatorUnsupportedException``) rather than counted wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from benchmarks.simulated_dynamodb.errors import Rejected, unsupported

SET, SET_IF_ABSENT, REMOVE = 0, 1, 2
Action = tuple[int, str, str]  # (kind, path: "#name" or a literal name, operand ":value" or "")
_TOKEN = re.compile(r"\s*(?:(#[A-Za-z0-9_]+|:[A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[=,()\[\].+-]))")
_CLAUSES = frozenset({"SET", "REMOVE", "ADD", "DELETE"})


def _tokens(expression: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    end = len(expression.rstrip())
    while position < end:
        match = _TOKEN.match(expression, position)
        if match is None:
            raise Rejected("ValidationException", f"Invalid UpdateExpression: Syntax error near {position}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def parse_update_expression(expression: str) -> tuple[Action, ...]:
    """``SET #a = :x, b = :y REMOVE #c ADD #n :v`` as actions on top-level attributes, in order.

    ``SET p = if_not_exists(p, :v)`` sets only if absent; ``ADD p :v`` counts as a SET of ``:v``
    (right for a new attribute, about right for a number). Nested paths, arithmetic, other functions
    and DELETE raise ``SimulatorUnsupportedException``: the stores under test use none of them on
    data items.
    """
    clause: str | None = None
    actions: list[Action] = []
    current: list[str] = []
    depth = 0

    def finish() -> None:
        if not current:
            raise Rejected("ValidationException", "Invalid UpdateExpression: Syntax error; empty action")
        actions.append(_action(clause, current, expression))
        current.clear()

    for token in _tokens(expression):
        if depth == 0 and token.upper() in _CLAUSES:
            if clause is not None:
                finish()
            clause = token.upper()
        elif depth == 0 and token == ",":
            finish()
        else:
            depth += (token == "(") - (token == ")")
            current.append(token)
    if clause is None:
        raise Rejected("ValidationException", "Invalid UpdateExpression: no SET, REMOVE, ADD or DELETE")
    finish()
    return tuple(actions)


def _is_path(token: str) -> bool:
    return token[0] == "#" or token[0].isalpha() or token[0] == "_"


def _action(clause: str | None, tokens: Sequence[str], expression: str) -> Action:
    path = tokens[0]
    if not _is_path(path) or (len(tokens) > 1 and tokens[1] in (".", "[")):
        raise unsupported(f"nested or odd paths ({expression!r})")
    if clause == "REMOVE" and len(tokens) == 1:
        return (REMOVE, path, "")
    if clause == "ADD" and len(tokens) == 2 and tokens[1][0] == ":":
        return (SET, path, tokens[1])
    if clause == "SET" and len(tokens) >= 3 and tokens[1] == "=":
        operand = tokens[2:]
        if len(operand) == 1 and operand[0][0] == ":":
            return (SET, path, operand[0])
        if (
            len(operand) == 6
            and operand[0].lower() == "if_not_exists"
            and operand[1] == "("
            and operand[2] == path
            and operand[3] == ","
            and operand[4][0] == ":"
            and operand[5] == ")"
        ):
            return (SET_IF_ABSENT, path, operand[4])
    raise unsupported(f"this {clause} action: {' '.join(tokens)!r} in {expression!r}")
