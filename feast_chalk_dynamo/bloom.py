"""Per-namespace Bloom filters of written entity keys, shared between processes through the table.

A key the filter has never seen is answered as absent without a read.
The filter must therefore never miss a key that was written, in any
process. Every write through the store publishes its keys *before* any of
its rows lands, so a key whose row a reader can find was published first;
a reader picks up what other processes published every
``bloom_filter_refresh_seconds``. So a key written before a reader's last
refresh is always in its filter (false positives are possible, as in any
Bloom filter; false negatives are not). Writers must have the view in
``bloom_filters`` too: only they know to publish.

Items, in the partition ``~bloom/<namespace id>`` of the same table:

- ``head``: the current snapshot's ``version``, its ``chunks`` and
  ``covered`` (ms): every published batch of keys whose log entry existed
  then is in the snapshot.
- ``snap/<version>/<i>``: the snapshot, pybloom-live's serialized filter,
  in chunks well under DynamoDB's 400 KB item limit.
- ``log/<ms>/<writer>/<n>``: one small entry per published batch, sorted by
  time, so a refresh reads only the recent ones; its keys are in
  ``keys/<writer>/<n>/<i>`` (string sets, chunked like the snapshot).

A process loads the snapshot, or, when there is none, builds the filter
with a parallel Scan of the table and saves it; then it applies the log
from ``covered`` minus ``CLOCK_MARGIN_MS``, the allowance for clocks and
requests in flight. A process that has applied many batches since its
snapshot saves a newer one, and old log entries are deleted.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from botocore.exceptions import ClientError
from pybloom_live import ScalableBloomFilter
from tqdm import tqdm

from feast_chalk_dynamo.client import RetryPolicy
from feast_chalk_dynamo.layout import PK, SK, TS_PREFIX
from feast_chalk_dynamo.names import unversioned_view_name
from feast_chalk_dynamo.settings import BloomNamespace, DynamoSettings
from feast_chalk_dynamo.tables import TableAdmin, delete_keys

log = logging.getLogger(__name__)

BLOOM_PK_PREFIX = "~bloom/"
HEAD_SK = "head"
# Snapshot and key chunks stay under DynamoDB's 400 KB item limit (keys and names included).
# AWS counts a binary's raw bytes; moto counts its base64 text (4/3 as long) and refuses
# binaries over about 307 KB, so a chunk of 300 KB is stored by every server.
CHUNK_BYTES = 300_000
# How far a published batch's time may lag the moment its log entry became
# readable (clock skew between hosts, a slow put): log entries this much
# older than a refresh's start are read again by the next refresh.
CLOCK_MARGIN_MS = 60_000
# A process that applied this many published batches since its snapshot saves a new one.
COMPACT_AFTER_BATCHES = 200


# Each stage of a grown filter gets this share of the previous stage's error rate.
ERROR_RATIO = 0.5


def bloom_pk(namespace_id: str) -> str:
    return BLOOM_PK_PREFIX + namespace_id


def now_ms() -> int:
    return int(time.time() * 1000)


class KeyFilter:
    """A thread-safe scalable Bloom filter of partition keys."""

    def __init__(self, bloom: ScalableBloomFilter) -> None:
        self._bloom = bloom
        self._lock = threading.Lock()

    @classmethod
    def empty(cls, config: BloomNamespace) -> KeyFilter:
        """A filter that stays within ``error_rate`` however far past ``expected_keys`` it grows.

        pybloom-live gives stage k the error ``error_rate * 0.9 ** (k + 1)``,
        which sums to up to 9 times ``error_rate`` once the filter has grown
        (measured: 2.5 times at 10 times the expected keys). With the ratio
        at 0.5 the stages sum to at most ``error_rate``, for 1.4 more bits a
        key; the ratio is kept in the serialized filter.
        """
        mode = ScalableBloomFilter.LARGE_SET_GROWTH
        bloom = ScalableBloomFilter(config.expected_keys, config.error_rate, mode)
        bloom._setup(mode, ERROR_RATIO, config.expected_keys, config.error_rate)
        return cls(bloom)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyFilter:
        return cls(ScalableBloomFilter.fromfile(io.BytesIO(data)))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with self._lock:
            self._bloom.tofile(buffer)
        return buffer.getvalue()

    def may_contain(self, keys: Iterable[str]) -> list[bool]:
        with self._lock:
            bloom = self._bloom
            return [key in bloom for key in keys]

    def add(self, keys: Iterable[str]) -> None:
        with self._lock:
            add = self._bloom.add
            for key in keys:
                add(key)


def chunked_strings(keys: Sequence[str]) -> list[list[str]]:
    """Keys in groups whose UTF-8 size stays under ``CHUNK_BYTES``, for string-set items."""
    chunks: list[list[str]] = [[]]
    size = 0
    for key in dict.fromkeys(keys):  # a string set holds each key once
        length = len(key.encode("utf-8"))
        if size + length > CHUNK_BYTES and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(key)
        size += length
    return [chunk for chunk in chunks if chunk]


@dataclass
class _Namespace:
    """One filtered view's filter and where it stands against the table."""

    config: BloomNamespace
    namespace_id: str
    filter: KeyFilter | None = None
    version: int = 0
    since_ms: int = 0  # the next refresh reads log entries from here
    next_refresh: float = 0.0
    batches_since_snapshot: int = 0
    applied: dict[str, int] = field(default_factory=dict)  # log entry -> its ms, within the margin
    loaded: threading.Event = field(default_factory=threading.Event)  # in use (and, if built, saved)
    # Keys this process wrote while no filter was in place (loading): added when one is.
    pending: list[str] = field(default_factory=list)
    swap: threading.Lock = field(default_factory=threading.Lock)
    last_read_from: float = float("-inf")  # when (clock) the last finished load or refresh began
    error: BaseException | None = None


class BloomFilters:
    """The engine's Bloom filters: loaded or built in the background, refreshed, published to.

    Until a namespace's filter is loaded, its reads go to DynamoDB as if it
    had none: slower, never wrong.
    """

    def __init__(
        self,
        client: Any,
        admin: TableAdmin,
        settings: DynamoSettings,
        retry: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.debug = settings.bloom_filter_debug_mode
        self._client = client
        self._admin = admin
        self._table = settings.table_name
        self._retry = retry
        self._refresh_seconds = settings.bloom_filter_refresh_seconds
        self._clock = clock
        self._configs = {entry.namespace: entry for entry in settings.bloom_filters or ()}
        self._namespaces: dict[str, _Namespace] = {}
        self._lock = threading.Lock()
        self._writer = uuid.uuid4().hex[:12]
        self._batch_numbers = count()
        self._wake = threading.Event()
        # Set after every pass of the worker: lets tests wait for a refresh without sleeping.
        self.refreshed = threading.Event()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None

    # -- the read and write paths ------------------------------------------

    def filter_for(self, view: str, ts_attr: str) -> KeyFilter | None:
        state = self._namespace(view, ts_attr)
        return state.filter if state is not None else None

    def written(self, view: str, ts_attr: str, keys: Sequence[str]) -> None:
        """Publish keys about to be written (raises if it cannot: the write must not go ahead)."""
        state = self._namespace(view, ts_attr)
        if state is None or not keys:
            return
        self._publish(state.namespace_id, keys)
        with state.swap:
            if state.filter is not None:
                state.filter.add(keys)
            else:
                state.pending.extend(keys)

    def wait_loaded(self, timeout: float) -> bool:
        """Block until every filter this engine started on is loaded (tests, warm-up); False on timeout."""
        deadline = self._clock() + timeout
        with self._lock:
            states = list(self._namespaces.values())
        return all(state.loaded.wait(max(0.0, deadline - self._clock())) for state in states)

    def refreshed_since(self, moment: float) -> bool:
        """True once every filter has been loaded or refreshed by a pass that began after ``moment``."""
        with self._lock:
            return all(state.last_read_from > moment for state in self._namespaces.values())

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=30)

    def _namespace(self, view: str, ts_attr: str) -> _Namespace | None:
        config = self._configs.get(unversioned_view_name(view))  # every version has a filter of its own
        if config is None:
            return None
        namespace_id = ts_attr[len(TS_PREFIX) :]
        state = self._namespaces.get(namespace_id)
        if state is None:
            with self._lock:
                state = self._namespaces.get(namespace_id)
                if state is None:
                    state = self._namespaces[namespace_id] = _Namespace(config, namespace_id)
                    if self._worker is None:
                        self._worker = threading.Thread(target=self._work, name="dynamodb-bloom", daemon=True)
                        self._worker.start()
                    self._wake.set()
        return state

    # -- the background worker -----------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                states = list(self._namespaces.values())
            for state in states:
                if self._stopping.is_set():
                    return
                if self._clock() < state.next_refresh:
                    continue
                began = self._clock()
                try:
                    if state.filter is None:
                        self._load(state)
                    else:
                        self._refresh(state)
                    state.error = None
                    state.last_read_from = began
                except Exception as error:  # noqa: BLE001 - logged; the namespace reads DynamoDB meanwhile
                    state.error = error
                    log.warning("Bloom filter of namespace %s: %s; retrying", state.namespace_id, error)
                state.next_refresh = self._clock() + self._refresh_seconds
            self.refreshed.set()
            due = min((s.next_refresh for s in states), default=self._clock() + self._refresh_seconds)
            self._wake.wait(max(0.0, due - self._clock()))
            self._wake.clear()

    def _load(self, state: _Namespace) -> None:
        head = self._head(state.namespace_id)
        started = now_ms()
        if head is None:
            bloom = self._build(state)
            self._apply_log(state, bloom, 0)
            self._put_in_place(state, bloom, started)
            try:
                self._save(state, covered=started, expected_version=None)
            finally:  # in use either way; saved, for other processes, if it could be
                state.loaded.set()
        else:
            state.version = int(head["version"]["N"])
            bloom = KeyFilter.from_bytes(
                self._snapshot(state.namespace_id, state.version, int(head["chunks"]["N"]))
            )
            self._apply_log(state, bloom, int(head["covered"]["N"]) - CLOCK_MARGIN_MS)
            self._put_in_place(state, bloom, started)
            state.loaded.set()

    def _put_in_place(self, state: _Namespace, bloom: KeyFilter, started: int) -> None:
        """Serve reads from ``bloom``, with what this process wrote while it loaded."""
        with state.swap:
            bloom.add(state.pending)
            state.pending.clear()
            state.filter = bloom
        state.since_ms = started - CLOCK_MARGIN_MS

    def _refresh(self, state: _Namespace) -> None:
        assert state.filter is not None
        started = now_ms()
        head = self._head(state.namespace_id)
        if head is not None and int(head["version"]["N"]) != state.version:
            # Another process saved a snapshot and may have deleted log entries this
            # process has not read yet: start again from that snapshot.
            if state.since_ms < int(head["covered"]["N"]) - 2 * CLOCK_MARGIN_MS:
                with state.swap:
                    state.filter = None
                state.applied.clear()
                self._load(state)
                return
            state.version = int(head["version"]["N"])
            state.batches_since_snapshot = 0
        self._apply_log(state, state.filter, state.since_ms)
        state.since_ms = started - CLOCK_MARGIN_MS
        state.applied = {entry: ms for entry, ms in state.applied.items() if ms >= state.since_ms}
        if state.batches_since_snapshot >= COMPACT_AFTER_BATCHES:
            self._save(state, covered=started, expected_version=state.version)

    def _build(self, state: _Namespace) -> KeyFilter:
        """A filter of every key that has the view's row, from a parallel Scan (with a progress bar)."""
        bloom = KeyFilter.empty(state.config)
        # Shown on a terminal only (disable=None), and cleared when done.
        with tqdm(
            desc=f"Bloom filter {state.config.namespace}",
            unit=" keys",
            mininterval=1,
            leave=False,
            disable=None,
        ) as bar:

            def found(key: str) -> None:
                bloom.add((key,))
                bar.update()

            self._admin.keys_with(TS_PREFIX + state.namespace_id, found)
        return bloom

    # -- the items in the table ---------------------------------------------

    def _head(self, namespace_id: str) -> dict[str, Any] | None:
        key = {PK: {"S": bloom_pk(namespace_id)}, SK: {"S": HEAD_SK}}
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table, Key=key, ConsistentRead=True
        ).get("Item")
        return item

    def _query(self, namespace_id: str, low: str, high: str) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            ConsistentRead=True,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :low AND :high",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues={
                ":pk": {"S": bloom_pk(namespace_id)},
                ":low": {"S": low},
                ":high": {"S": high},
            },
        ):
            yield from page["Items"]

    def _snapshot(self, namespace_id: str, version: int, chunks: int) -> bytes:
        prefix = f"snap/{version:012d}/"
        parts = [item["data"]["B"] for item in self._query(namespace_id, prefix, prefix + "~")]
        if len(parts) != chunks:
            raise RuntimeError(
                f"snapshot {version} has {len(parts)} of its {chunks} chunks (replaced meanwhile?)"
            )
        return b"".join(parts)

    def _apply_log(self, state: _Namespace, bloom: KeyFilter, since_ms: int) -> None:
        """Add the keys of every batch published since ``since_ms`` that this process has not applied."""
        for entry in self._query(state.namespace_id, f"log/{since_ms:013d}", "log/~"):
            name = entry[SK]["S"]
            if name in state.applied:
                continue
            _, ms, writer, number = name.split("/")
            prefix = f"keys/{writer}/{number}/"
            for chunk in self._query(state.namespace_id, prefix, prefix + "~"):
                bloom.add(chunk["keys"]["SS"])
            state.applied[name] = int(ms)
            state.batches_since_snapshot += 1

    def _publish(self, namespace_id: str, keys: Sequence[str]) -> None:
        """Keys first, then the log entry that points at them: a reader never follows an empty pointer."""
        pk = {"S": bloom_pk(namespace_id)}
        number = next(self._batch_numbers)
        chunks = chunked_strings(keys)
        for index, chunk in enumerate(chunks):
            sk = f"keys/{self._writer}/{number}/{index:06d}"
            self._client.put_item(TableName=self._table, Item={PK: pk, SK: {"S": sk}, "keys": {"SS": chunk}})
        sk = f"log/{now_ms():013d}/{self._writer}/{number}"
        self._client.put_item(
            TableName=self._table, Item={PK: pk, SK: {"S": sk}, "chunks": {"N": str(len(chunks))}}
        )

    def _save(self, state: _Namespace, covered: int, expected_version: int | None) -> None:
        """Save this process's filter as the next snapshot; the first saver of a version wins."""
        assert state.filter is not None
        data = state.filter.to_bytes()
        version = (expected_version or 0) + 1
        pk = {"S": bloom_pk(state.namespace_id)}
        parts = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
        for index, part in enumerate(parts):
            sk = f"snap/{version:012d}/{index:06d}"
            self._client.put_item(TableName=self._table, Item={PK: pk, SK: {"S": sk}, "data": {"B": part}})
        head = {
            PK: pk,
            SK: {"S": HEAD_SK},
            "version": {"N": str(version)},
            "chunks": {"N": str(len(parts))},
            "covered": {"N": str(covered)},
        }
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": PK}}
            if expected_version is None
            else {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        )
        try:
            self._client.put_item(TableName=self._table, Item=head, **condition)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            self._delete_prefix(state.namespace_id, f"snap/{version:012d}/")  # another process won
            return
        state.version = version
        state.batches_since_snapshot = 0
        if expected_version is not None:
            self._delete_prefix(state.namespace_id, f"snap/{expected_version:012d}/")
            self._delete_log_before(state.namespace_id, covered - 2 * CLOCK_MARGIN_MS)

    def _delete_prefix(self, namespace_id: str, prefix: str) -> None:
        keys = [{PK: i[PK], SK: i[SK]} for i in self._query(namespace_id, prefix, prefix + "~")]
        delete_keys(self._client, self._table, keys, self._retry)

    def _delete_log_before(self, namespace_id: str, before_ms: int) -> None:
        """Drop log entries every snapshot from now on covers, and their keys."""
        doomed = []
        for entry in self._query(namespace_id, "log/", f"log/{before_ms:013d}"):
            _, _, writer, number = entry[SK]["S"].split("/")
            doomed.append({PK: entry[PK], SK: entry[SK]})
            prefix = f"keys/{writer}/{number}/"
            doomed.extend({PK: i[PK], SK: i[SK]} for i in self._query(namespace_id, prefix, prefix + "~"))
        delete_keys(self._client, self._table, doomed, self._retry)
