"""Sending rows: per row, in guarded transactions, or unguarded, always in parallel.

A call with fewer than ``bulk_write_min_rows`` distinct entities (a push)
sends one UpdateItem per row, guarded when ``only_write_newer_values``. A
larger call (materialization) is a bulk write: with
``check_ts_for_bulk_writes`` the rows go in TransactWriteItems of up to 100
guarded updates (2x the write units, a round trip per 100 rows); without it,
as unguarded UpdateItems. Never a PutItem or BatchWriteItem put: a put
replaces the whole item and would erase the other views sharing it.

Up to ``num_client_threads`` requests are in flight; each retries throttling,
5xx and dropped connections by the read path's policy (``Caller``). A row
whose guard fails is stale: counted, not raised. When a request runs out of
retries, nothing more is sent and the error says which rows landed and which
did not (``WriteIncomplete``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from feast_chalk_dynamo.dynamo.caller import Caller
from feast_chalk_dynamo.dynamo.client import ConflictBackoff
from feast_chalk_dynamo.dynamo.metrics import WRITES, MetricLabels, ViewCounters
from feast_chalk_dynamo.dynamo.transactions import cancellation
from feast_chalk_dynamo.errors import ItemTooLarge, TransactionConflicts, WriteIncomplete
from feast_chalk_dynamo.items.codec import item_size
from feast_chalk_dynamo.items.layout import ENTITY_SK, MAX_ITEM_BYTES, PK, SK, TS_PREFIX, describe_entity
from feast_chalk_dynamo.settings import DynamoSettings
from feast_chalk_dynamo.writes.rows import EntityRow, RowEncoder, RowUpdate, WriteLayout, newest_per_key
from feast_chalk_dynamo.writes.transactions import transaction_chunks, transaction_request

log = logging.getLogger(__name__)

# Unwritten entities an error spells out; the rest are counted (all are on the error).
SHOWN_KEYS = 10
# Rows encoded per job on the serde pool: a transaction's worth, so the first
# request leaves while the rest are still being encoded.
ENCODE_SLICE = 100


@dataclass
class WriteStats:
    """What writes did: one call's (``Writer.write`` returns it), or every call's since the engine
    started (``Writer.stats``: the books the Prometheus counters of the same names, ``metrics.WRITES``,
    take each increment of, by view, when ``exported``).

    A caller wanting what its own call did reads the call's, never a
    difference of the engine's: calls running at once (migrate's pages) add
    to those together.
    """

    written: int = 0
    stale_skipped: int = 0
    conflict_retries: int = 0
    exported: ViewCounters | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, view: str, written: int = 0, stale_skipped: int = 0, conflict_retries: int = 0) -> None:
        with self._lock:
            self.written += written
            self.stale_skipped += stale_skipped
            self.conflict_retries += conflict_retries
        if self.exported is not None:
            increments = {
                "written": written,
                "stale_skipped": stale_skipped,
                "conflict_retries": conflict_retries,
            }
            self.exported.add(view, increments)


class _NoTransactions(Exception):
    """The endpoint has no TransactWriteItems (dynalite, some emulators)."""


class _ConflictsPersisted(Exception):
    """Conflicts outlasted ``transaction_write_conflict_max_retries``."""


class _Run:
    """One write call's accounting: what landed (``stats``), what did not, and the first failure."""

    def __init__(
        self, view: str, rows: int, totals: WriteStats, progress: Callable[[int], Any] | None
    ) -> None:
        self.view = view
        self.rows = rows
        self.stats = WriteStats()
        self.unwritten: list[str] = []
        self.error: BaseException | None = None
        self._totals = totals
        self._progress = progress

    def landed(self, written: int = 0, stale: int = 0) -> None:
        self.stats.add(self.view, written=written, stale_skipped=stale)
        self._totals.add(self.view, written=written, stale_skipped=stale)
        if self._progress:
            self._progress(written + stale)

    def conflicted(self) -> None:
        """A transaction is retried after conflicting with another writer."""
        self.stats.add(self.view, conflict_retries=1)
        self._totals.add(self.view, conflict_retries=1)

    def failed(self, keys: Iterable[str], error: BaseException | None = None) -> None:
        """The rows of ``keys`` were not written; ``error`` (the first kept) is why, None if never sent."""
        self.unwritten.extend(keys)
        if error is not None and self.error is None:
            self.error = error

    def raise_if_failed(self) -> None:
        error = self.error
        if error is None:
            return
        written, stale = self.stats.written, self.stats.stale_skipped
        shown = [describe_entity(key) for key in self.unwritten[:SHOWN_KEYS]]
        details = (self.view, self.rows, written, stale, self.unwritten, shown)
        if isinstance(error, _ConflictsPersisted):
            raise TransactionConflicts(*details, error) from error
        if written + stale == 0:
            # Nothing landed: the failure is the whole story, and its type (a
            # missing table, a full item) is what the caller acts on. So any
            # error but WriteIncomplete means no row of the call was written.
            raise error
        raise WriteIncomplete(*details, error) from error


Send = Callable[[WriteLayout, list[RowUpdate], _Run], Awaitable[None]]


class Writer:
    def __init__(
        self,
        caller: Caller,
        settings: DynamoSettings,
        serde_pool: ThreadPoolExecutor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._caller = caller
        self._settings = settings
        self._serde_pool = serde_pool
        self._clock = clock
        self._conflicts = ConflictBackoff.from_settings(settings)
        # Whether the endpoint takes TransactWriteItems: None until a bulk write finds out.
        self.transactions: bool | None = None
        labels = MetricLabels(settings.table_name, settings.region_endpoints[0].region)
        self.stats = WriteStats(exported=ViewCounters(WRITES, labels))

    async def write(
        self,
        layout: WriteLayout,
        rows: Sequence[EntityRow],
        progress: Callable[[int], Any] | None = None,
    ) -> WriteStats:
        """Write rows, reporting progress as each lands; what this call did, or raise if a row did not
        land.

        Rows are encoded on the serde pool; for transactions a slice at a time
        while earlier slices are in flight, so encoding overlaps the network.
        A row that cannot be stored stops the write: nothing after it is sent.
        """
        settings = self._settings
        newest = newest_per_key(rows)
        if progress and len(newest) < len(rows):
            progress(len(rows) - len(newest))  # superseded rows are done already
        bulk = len(newest) >= settings.bulk_write_min_rows
        guarded = settings.check_ts_for_bulk_writes if bulk else settings.only_write_newer_values
        encode = RowEncoder(layout, settings.table_name, guarded, self._clock())
        run = _Run(layout.view, len(newest), self.stats, progress)
        transactional = bulk and settings.check_ts_for_bulk_writes and self.transactions is not False
        # Rows sent one per request are encoded first instead: encoding beside them holds
        # the GIL against the many threads sending them (on dynalite, 830 rows/s against 1,100).
        size = ENCODE_SLICE if transactional else max(1, len(newest))
        slices = [newest[i : i + size] for i in range(0, len(newest), size)]
        first: list[RowUpdate] = []
        if transactional and self.transactions is None and slices:
            first = await self._probe(layout, await self._encoded(encode, slices.pop(0), run), run)
            transactional = self.transactions is not False
        workers = settings.client_threads
        units: asyncio.Queue[list[RowUpdate] | None] = asyncio.Queue(maxsize=2 * workers)
        producer = self._produce(encode, first, slices, transactional, units, run, workers)
        send = self._transact if transactional else self._update
        await asyncio.gather(producer, *(self._work(layout, units, send, run) for _ in range(workers)))
        run.raise_if_failed()
        return run.stats

    async def _encoded(self, encode: RowEncoder, rows: Sequence[EntityRow], run: _Run) -> list[RowUpdate]:
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._serde_pool, lambda: [encode(row) for row in rows]
            )
        except Exception as error:  # a row that cannot be stored: it and the rest stay unwritten
            run.failed([row.key for row in rows], error)
            return []

    async def _probe(self, layout: WriteLayout, updates: list[RowUpdate], run: _Run) -> list[RowUpdate]:
        """Send the first transaction alone, to find out whether the endpoint has any; the rest back."""
        if not updates:
            return updates
        probe = next(transaction_chunks(updates))
        try:
            await self._transact(layout, probe, run)
        except _NoTransactions:
            self._fall_back()
            return updates
        self.transactions = True
        return updates[len(probe) :]

    async def _produce(
        self, encode: RowEncoder, first: list[RowUpdate], slices: Sequence[Sequence[EntityRow]],
        transactional: bool, units: asyncio.Queue[list[RowUpdate] | None], run: _Run, workers: int,
    ) -> None:  # fmt: skip
        """Encode slice after slice into units to send (transactions, or single rows) for the workers."""

        async def put(updates: list[RowUpdate]) -> None:
            for unit in transaction_chunks(updates) if transactional else ([u] for u in updates):
                await units.put(unit)

        try:
            await put(first)
            for rows in slices:
                if run.error is not None:
                    run.failed([row.key for row in rows])
                else:
                    await put(await self._encoded(encode, rows, run))
        finally:
            for _ in range(workers):
                await units.put(None)

    async def _work(
        self, layout: WriteLayout, units: asyncio.Queue[list[RowUpdate] | None], send: Send, run: _Run
    ) -> None:
        """Send units until the producer is done; after a failure, only count them as not written."""
        while (unit := await units.get()) is not None:
            if run.error is not None:
                run.failed([update.key for update in unit])
            else:
                await send(layout, unit, run)

    def _fall_back(self) -> None:
        if self.transactions is not False:
            self.transactions = False
            log.warning(
                "DynamoDB endpoint %s has no TransactWriteItems: bulk writes go as one guarded UpdateItem "
                "per row instead (as safe, slower). Set check_ts_for_bulk_writes: false "
                "(DYNAMODB_CHECK_TS_FOR_BULK_WRITES=false) to send them unguarded, if your pipeline's "
                "timestamps only ever increase.",
                self._settings.endpoint_url or "of AWS",
            )

    async def _update(self, layout: WriteLayout, unit: list[RowUpdate], run: _Run) -> None:
        """One row's UpdateItem, retried when it conflicts with a transaction on the same item."""
        (update,) = unit
        conflict_delays = self._conflicts.delays()
        try:
            while True:
                try:
                    # Guarded, it may go on to the next region: the guard keeps a newer row there.
                    # Unguarded, nothing would stop it overwriting a newer row in the other region,
                    # and last-writer-wins replication would carry that older row everywhere.
                    guarded = "ConditionExpression" in update.request
                    await self._caller.call("UpdateItem", update.request, failover=guarded)
                except ClientError as error:
                    code = error.response.get("Error", {}).get("Code")
                    if code == "ConditionalCheckFailedException":
                        run.landed(stale=1)
                        return
                    if code == "TransactionConflictException":
                        await self._after_conflict(conflict_delays, error, run)
                        continue
                    if code == "ValidationException" and "size" in str(error).lower():
                        raise await self._too_large(layout, update.key, str(error)) from error
                    raise
                run.landed(written=1)
                return
        except Exception as error:
            run.failed([update.key for update in unit], error)

    async def _transact(self, layout: WriteLayout, unit: list[RowUpdate], run: _Run) -> None:
        """One transaction; stale rows dropped from it, conflicts and throttling retried."""
        pending = unit
        conflict_delays = self._conflicts.delays()
        throttle_delays = self._caller.retry.delays()
        try:
            while pending:
                try:
                    await self._caller.call("TransactWriteItems", transaction_request(pending))
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") == "UnknownOperationException":
                        raise _NoTransactions from error
                    cancelled = cancellation(error, len(pending))
                    if cancelled is None:
                        raise
                    if cancelled.invalid:
                        index, reason = cancelled.invalid[0]
                        if "size" in reason.lower():
                            raise await self._too_large(layout, pending[index].key, reason) from error
                        raise
                    if cancelled.stale:  # final for those rows; the rest go again at once
                        run.landed(stale=len(cancelled.stale))
                        stale = set(cancelled.stale)
                        pending = [update for i, update in enumerate(pending) if i not in stale]
                    elif cancelled.conflicted:
                        await self._after_conflict(conflict_delays, error, run)
                    else:  # throttled, or cancelled for no reason given: back off as for throttling
                        if cancelled.throttled:
                            self._caller.throttled("TransactWriteItems")
                        await self._caller.back_off(throttle_delays, "throttled", "TransactWriteItems", error)
                    continue
                run.landed(written=len(pending))
                return
        except _NoTransactions:
            raise
        except Exception as error:
            run.failed([update.key for update in pending], error)

    async def _after_conflict(self, delays: Iterator[float], error: ClientError, run: _Run) -> None:
        delay = next(delays, None)
        if delay is None:
            raise _ConflictsPersisted(
                f"conflicted with other writers {self._conflicts.max_retries + 1} times "
                f"(transaction_write_conflict_max_retries={self._conflicts.max_retries}): {error}"
            ) from error
        run.conflicted()
        await self._caller.sleep(delay)

    async def _too_large(self, layout: WriteLayout, key: str, reason: str) -> ItemTooLarge:
        """Explain which views fill an item that DynamoDB refused as too large."""
        response = await self._caller.call(
            "GetItem", {"TableName": self._settings.table_name, "Key": {PK: {"S": key}, SK: {"S": ENTITY_SK}}}
        )
        item = response.get("Item", {})
        views = sorted(
            layout.view_names.get(name, f"a removed view ({name})")
            for name in item
            if name.startswith(TS_PREFIX)
        )
        return ItemTooLarge(
            f"writing view {layout.view!r} would push the item of entity {describe_entity(key)} past "
            f"DynamoDB's {MAX_ITEM_BYTES}-byte limit; it already holds {item_size(item)} bytes "
            f"from views {views}; nothing was written ({reason})"
        )
