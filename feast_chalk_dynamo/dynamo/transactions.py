"""TransactWriteItems as DynamoDB defines it: its limits, and what a cancellation says of each action.

Pure logic, so the limits and the reading of ``CancellationReasons`` are
tested without a server; the write path and windowed views' pages share it.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

# DynamoDB's limits: "up to 100 actions", "aggregate size of the items in the
# transaction cannot exceed 4 MB". Only this row's bytes are known here (an
# update is measured on the whole item), so the byte budget keeps half the
# limit back for the rest of the items.
MAX_TRANSACT_ITEMS = 100
MAX_TRANSACTION_ROW_BYTES = 2 * 1024 * 1024

STALE = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"
THROTTLED = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})


@dataclass(frozen=True)
class Cancellation:
    """A cancelled transaction's actions sorted by what to do next.

    ``stale``: their guard failed (the stored row is newer); final, drop them.
    ``conflicted``/``throttled``: retry after a backoff. ``invalid``: the
    action itself was refused (an item grown too large); with its message.
    Actions cancelled for no reason of their own ("None") are in none of
    these: they are simply sent again.
    """

    stale: list[int]
    conflicted: bool
    throttled: bool
    invalid: list[tuple[int, str]]


def cancellation(error: ClientError, actions: int) -> Cancellation | None:
    """What a TransactionCanceledException says of each of ``actions`` actions, or None if it does not.

    A TransactionConflictException (a conflict reported for the whole
    request) is a conflict on every action.
    """
    code = error.response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":
        return Cancellation(stale=[], conflicted=True, throttled=False, invalid=[])
    reasons = error.response.get("CancellationReasons")
    if code != "TransactionCanceledException" or not isinstance(reasons, list) or len(reasons) != actions:
        return None
    codes = [str((reason or {}).get("Code") or "None") for reason in reasons]
    return Cancellation(
        stale=[i for i, c in enumerate(codes) if c == STALE],
        conflicted=CONFLICT in codes,
        throttled=any(c in THROTTLED for c in codes),
        invalid=[
            (i, str(reasons[i].get("Message") or c))
            for i, c in enumerate(codes)
            if c not in (STALE, CONFLICT, "None") and c not in THROTTLED
        ],
    )
