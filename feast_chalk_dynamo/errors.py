"""One flat hierarchy, so callers can catch the store's failures by kind."""

from __future__ import annotations


class ChalkDynamoError(Exception):
    """Base of every error this store raises on purpose."""


class TableNotFound(ChalkDynamoError):
    """The table is missing and the store was not asked to create it."""


class TableSchemaMismatch(ChalkDynamoError):
    """The table exists but is not keyed the way the layout needs."""


class EntityKeyTooLarge(ChalkDynamoError, ValueError):
    """An encoded entity key would pass DynamoDB's 2048-byte partition key limit."""


class UnsupportedEntityType(ChalkDynamoError, ValueError):
    """A join key value of a type that has no stable key encoding."""


class ItemTooLarge(ChalkDynamoError, ValueError):
    """A write would push an entity item past DynamoDB's 400 KB item limit."""


class RetriesExhausted(ChalkDynamoError):
    """DynamoDB kept refusing part of a request after every retry.

    Raised instead of returning partial results, so that a throttled key is
    never mistaken for an absent one.
    """

    def __init__(self, table: str, operation: str, cause: str, endpoint: str | None = None) -> None:
        """``endpoint``: where the request went (a URL), so that an operator knows which one failed."""
        at = f" at {endpoint}" if endpoint else ""
        super().__init__(f"{operation} on table {table!r}{at} gave up after retries: {cause}")
        self.table = table
        self.operation = operation
        self.cause = cause
        self.endpoint = endpoint


class ThroughputExceeded(RetriesExhausted):
    """DynamoDB kept throttling (provisioned throughput, request limits, or unprocessed keys)."""


class ServerErrors(RetriesExhausted):
    """DynamoDB kept answering with 5xx errors."""


class ConnectionFailed(RetriesExhausted):
    """The endpoint kept dropping connections or not answering within the request timeout."""


_BY_CAUSE: dict[str, type[RetriesExhausted]] = {
    "throttled": ThroughputExceeded,
    "server error": ServerErrors,
    "connection": ConnectionFailed,
}


def gave_up(
    cause: str, table: str, operation: str, retries: int, error: BaseException, endpoint: str | None
) -> RetriesExhausted:
    """The error of a request still failing for ``cause`` (``client.retry_cause``) after its retries."""
    return _BY_CAUSE[cause](table, operation, f"{cause} after {retries} retries: {error}", endpoint)


class WriteIncomplete(ChalkDynamoError):
    """A write stopped part-way: some rows landed, the rest did not.

    Rows that landed stay (guarded writes never let an older row replace
    them), so running the same write again finishes the job. ``unwritten``
    holds the partition keys of every row not written, ``cause`` the first
    failure.
    """

    def __init__(
        self, view: str, rows: int, written: int, stale: int, unwritten: list[str], first_shown: list[str],
        cause: BaseException,
    ) -> None:  # fmt: skip
        """``first_shown``: the first few unwritten entities as their user wrote them."""
        more = len(unwritten) - len(first_shown)
        shown = ", ".join(first_shown) + (f" and {more} more" if more > 0 else "")
        super().__init__(
            f"write of view {view!r} stopped part-way: {written} of {rows} rows written, {stale} skipped as "
            f"older than the stored row, {len(unwritten)} not written ({shown}); running the same write "
            f"again finishes it. Cause: {type(cause).__name__}: {cause}"
        )
        self.view = view
        self.written = written
        self.stale = stale
        self.unwritten = unwritten
        self.cause = cause


class TransactionConflicts(WriteIncomplete):
    """Transactions kept conflicting with other writers past ``transaction_write_conflict_max_retries``."""


class UnknownNamespace(ChalkDynamoError, ValueError):
    """A namespace cache or Bloom filter is configured for a feature view the project does not have."""


class PrecomputedVectorsNotStored(ChalkDynamoError, NotImplementedError):
    """A precomputed vector was to be written: this store answers those services by its ordinary read."""


class InvalidWindowedView(ChalkDynamoError, ValueError):
    """A stream feature view's aggregations cannot be kept as buckets (refused at ``feast apply``)."""


class AggregateConflicts(ChalkDynamoError):
    """Other writers kept merging into the same bucket page first, past the conflict retries."""
