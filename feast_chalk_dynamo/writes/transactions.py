"""TransactWriteItems of rows: how rows are cut into transactions (pure logic, tested without a server)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from feast_chalk_dynamo.dynamo.transactions import MAX_TRANSACT_ITEMS, MAX_TRANSACTION_ROW_BYTES
from feast_chalk_dynamo.writes.rows import RowUpdate


def transaction_chunks(updates: Sequence[RowUpdate]) -> Iterator[list[RowUpdate]]:
    """Consecutive runs of updates, each at most 100 actions and the byte budget."""
    chunk: list[RowUpdate] = []
    size = 0
    for update in updates:
        if chunk and (len(chunk) == MAX_TRANSACT_ITEMS or size + update.size > MAX_TRANSACTION_ROW_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(update)
        size += update.size
    if chunk:
        yield chunk


def transaction_request(updates: Sequence[RowUpdate]) -> dict[str, Any]:
    return {"TransactItems": [{"Update": update.request} for update in updates]}
