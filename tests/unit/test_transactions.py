"""Cutting rows into transactions, and reading a cancelled transaction's reasons (no server)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.dynamo.transactions import MAX_TRANSACT_ITEMS, MAX_TRANSACTION_ROW_BYTES, cancellation
from feast_chalk_dynamo.writes.rows import RowUpdate
from feast_chalk_dynamo.writes.transactions import transaction_chunks, transaction_request


def update(i: int, size: int = 100) -> RowUpdate:
    return RowUpdate(key=f"1/k={i}", request={"Key": {"pk": {"S": f"1/k={i}"}}}, size=size)


@given(st.lists(st.integers(min_value=1, max_value=400 * 1024), max_size=400))
def test_chunks_keep_order_and_stay_within_both_limits(sizes: list[int]) -> None:
    updates = [update(i, size) for i, size in enumerate(sizes)]
    chunks = list(transaction_chunks(updates))
    assert [u for chunk in chunks for u in chunk] == updates
    for chunk in chunks:
        assert 1 <= len(chunk) <= MAX_TRANSACT_ITEMS
        assert len(chunk) == 1 or sum(u.size for u in chunk) <= MAX_TRANSACTION_ROW_BYTES


def test_small_rows_fill_transactions_of_a_hundred() -> None:
    assert [len(c) for c in transaction_chunks([update(i) for i in range(250)])] == [100, 100, 50]


def test_a_transaction_is_update_actions() -> None:
    request = transaction_request([update(1), update(2)])
    assert request == {"TransactItems": [{"Update": update(1).request}, {"Update": update(2).request}]}


def cancelled(*codes: str, message: str = "") -> ClientError:
    reasons: list[dict[str, Any]] = [
        {"Code": code, **({"Message": message} if message and code == "ValidationError" else {})}
        for code in codes
    ]
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": reasons,
        },
        "TransactWriteItems",
    )


def test_failed_guards_are_stale_rows_and_the_others_go_again() -> None:
    reading = cancellation(cancelled("None", "ConditionalCheckFailed", "None", "ConditionalCheckFailed"), 4)
    assert reading is not None
    assert reading.stale == [1, 3]
    assert not reading.conflicted and not reading.throttled and not reading.invalid


def test_conflicts_and_throttling_are_told_apart() -> None:
    conflict = cancellation(cancelled("None", "TransactionConflict"), 2)
    throttled = cancellation(cancelled("ThrottlingError", "None"), 2)
    provisioned = cancellation(cancelled("ProvisionedThroughputExceeded"), 1)
    assert conflict is not None and conflict.conflicted and not conflict.throttled
    assert throttled is not None and throttled.throttled and not throttled.conflicted
    assert provisioned is not None and provisioned.throttled


def test_a_refused_action_carries_its_message() -> None:
    reading = cancellation(cancelled("None", "ValidationError", message="Item size has exceeded"), 2)
    assert reading is not None and reading.invalid == [(1, "Item size has exceeded")]


def test_a_conflict_exception_is_a_conflict_on_every_action() -> None:
    error = ClientError({"Error": {"Code": "TransactionConflictException"}}, "TransactWriteItems")
    reading = cancellation(error, 3)
    assert reading is not None and reading.conflicted


def test_anything_else_is_not_a_cancellation() -> None:
    assert cancellation(ClientError({"Error": {"Code": "ValidationException"}}, "X"), 1) is None
    # Reasons that do not line up with the actions sent cannot be trusted.
    assert cancellation(cancelled("None", "ConditionalCheckFailed"), 3) is None
