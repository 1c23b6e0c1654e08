"""The Bloom filters' items in the table: the head, snapshots, and the log of published keys.

All of them sit in the partition ``~bloom/<namespace id>``:

- ``head``: the current snapshot's ``version``, its ``chunks``, the
  ``snapshot`` name its chunks are under, and ``covered`` (ms): every
  published batch whose log entry existed then is in the snapshot. Replaced
  only conditionally on the head its writer saw, so the first saver of a
  version wins.
- ``snap/<version>/<snapshot>/<i>``: a snapshot, pybloom-live's serialized
  filter, in chunks under DynamoDB's 400 KB item limit. ``snapshot`` is new
  for every save, so concurrent savers never write (or delete) each other's
  chunks; a loser deletes only its own, and only the head's winner is read.
- ``log/<ms>/<writer>/<n>``: one entry per published batch, sorted by time,
  so a refresh reads the recent ones with one Query. A batch's keys are in
  the entry (``keys``, a string set) when they are at most
  ``INLINE_KEY_BYTES``; else the entry says how many ``chunks`` of them are
  in ``keys/<writer>/<n>/<i>`` (string sets, fetched by BatchGetItem in
  parallel). ``writer`` is unique to a process's engine, ``n`` counts its
  batches.

Every name above but ``head`` is written by one process only. A head of an
earlier release (no ``snapshot``) named chunks that concurrent savers shared
and overwrote, so its snapshot may mix two filters: it is never read (the
filter is rebuilt by a Scan). Its log entries (``chunks`` and ``keys/`` items)
are the layout kept here for large batches, so they stay readable.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Container, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from itertools import count
from typing import Any

from botocore.exceptions import ClientError

from feast_chalk_dynamo.dynamo.client import RetryPolicy
from feast_chalk_dynamo.dynamo.tables import delete_keys
from feast_chalk_dynamo.errors import ThroughputExceeded
from feast_chalk_dynamo.items.layout import PK, SK

BLOOM_PK_PREFIX = "~bloom/"
HEAD_SK = "head"
# Snapshot and key chunks stay under DynamoDB's 400 KB item limit (keys and names included).
# AWS counts a binary's raw bytes; moto counts its base64 text (4/3 as long) and refuses
# binaries over about 307 KB, so a chunk of 300 KB is stored by every server.
CHUNK_BYTES = 300_000
# A batch's keys go in its log entry up to this size. Every refresh reads the
# log entries of the last refresh interval plus the clock margin again, so an
# inline key is read some ten times where a chunk item is read once (rounded
# up to 4 KB): a kilobyte keeps a push's keys (fewer than bulk_write_min_rows)
# in one item at about the cost of a chunk, and a bulk write's go in chunks.
INLINE_KEY_BYTES = 1024
# DynamoDB's limit on the keys of one BatchGetItem.
MAX_BATCH_GET = 100


def bloom_pk(namespace_id: str) -> str:
    return BLOOM_PK_PREFIX + namespace_id


def now_ms() -> int:
    return int(time.time() * 1000)


class UnreadableSnapshot(Exception):
    """The head's snapshot cannot be read whole: chunks are gone, or an earlier release wrote it."""


class LogCut(Exception):
    """A log entry's key chunks were gone: a compaction deleted them while this process read them."""


@dataclass(frozen=True)
class Head:
    """What the ``head`` item says; ``snapshot`` is None for a head of an earlier release."""

    version: int
    chunks: int
    covered: int
    snapshot: str | None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Head:
        return cls(
            version=int(item["version"]["N"]),
            chunks=int(item["chunks"]["N"]),
            covered=int(item["covered"]["N"]),
            snapshot=item["snapshot"]["S"] if "snapshot" in item else None,
        )

    def chunk_names(self) -> list[str]:
        prefix = snapshot_prefix(self.version, self.snapshot)
        return [f"{prefix}{index:06d}" for index in range(self.chunks)]


def snapshot_prefix(version: int, snapshot: str | None) -> str:
    return f"snap/{version:012d}/" + (f"{snapshot}/" if snapshot is not None else "")


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


def fits_inline(keys: Sequence[str]) -> bool:
    """True if a batch's keys go in its log entry (a string set counts each string's UTF-8 bytes)."""
    size = 0
    for key in keys:
        size += len(key.encode("utf-8"))
        if size > INLINE_KEY_BYTES:
            return False
    return True


@dataclass(frozen=True)
class LogEntry:
    """A published batch as a refresh applies it."""

    name: str  # the entry's sort key
    ms: int
    keys: list[str]


class BloomTable:
    """Reads and writes one table's Bloom filter items (see the module's docstring)."""

    def __init__(self, client: Any, table: str, retry: RetryPolicy, pool: Executor) -> None:
        self._client = client
        self._table = table
        self._retry = retry
        self._pool = pool
        self._writer = uuid.uuid4().hex[:12]
        self._batch_numbers = count()

    # -- the head and snapshots ---------------------------------------------

    def head(self, namespace_id: str) -> Head | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(namespace_id, HEAD_SK), ConsistentRead=True
        ).get("Item")
        return Head.from_item(item) if item is not None else None

    def read_snapshot(self, namespace_id: str, head: Head) -> bytes:
        """The head's serialized filter; ``UnreadableSnapshot`` if it is not there whole."""
        if head.snapshot is None:
            raise UnreadableSnapshot(f"snapshot {head.version} was saved by an earlier release")
        prefix = snapshot_prefix(head.version, head.snapshot)
        items = list(self._query(namespace_id, prefix, prefix + "~"))
        if [item[SK]["S"] for item in items] != head.chunk_names():
            raise UnreadableSnapshot(
                f"snapshot {head.version} has {len(items)} of its {head.chunks} chunks (deleted meanwhile?)"
            )
        return b"".join(item["data"]["B"] for item in items)

    def save_snapshot(
        self, namespace_id: str, data: bytes, covered: int, replacing: Head | None
    ) -> Head | None:
        """Save ``data`` as the snapshot after ``replacing`` (None: the first); None if another saver won.

        The chunks go under a name of this save's own, then the head is put on
        condition that it is still ``replacing``. A loser deletes its chunks;
        after an error that leaves unknown whether the head was written, they
        are left in place, as the head may name them.
        """
        version = replacing.version + 1 if replacing is not None else 1
        parts = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
        head = Head(version, len(parts), covered, uuid.uuid4().hex[:12])
        for name, part in zip(head.chunk_names(), parts, strict=True):
            self._put(namespace_id, name, {"data": {"B": part}})
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key(namespace_id, HEAD_SK),
                    "version": {"N": str(head.version)},
                    "chunks": {"N": str(head.chunks)},
                    "covered": {"N": str(head.covered)},
                    "snapshot": {"S": str(head.snapshot)},
                },
                **_replacing(replacing),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            self.delete_snapshot(namespace_id, head)
            return None
        return head

    def delete_snapshot(self, namespace_id: str, head: Head) -> None:
        """Delete the chunks ``head`` names, by key: no read of 300 KB items to find them."""
        self._delete(namespace_id, head.chunk_names())

    # -- the log ------------------------------------------------------------

    def publish(self, namespace_id: str, keys: Sequence[str]) -> None:
        """Keys first, then the log entry that points at them: a reader never follows an empty pointer."""
        number = next(self._batch_numbers)
        entry: dict[str, Any]
        if fits_inline(keys):
            entry = {"keys": {"SS": list(dict.fromkeys(keys))}}
        else:
            chunks = chunked_strings(keys)
            for index, chunk in enumerate(chunks):
                name = f"keys/{self._writer}/{number}/{index:06d}"
                self._put(namespace_id, name, {"keys": {"SS": chunk}})
            entry = {"chunks": {"N": str(len(chunks))}}
        name = f"log/{now_ms():013d}/{self._writer}/{number}"
        self._put(namespace_id, name, entry)

    def read_log(self, namespace_id: str, since_ms: int, skip: Container[str]) -> list[LogEntry]:
        """The batches published since ``since_ms`` but those named in ``skip``, oldest first.

        One Query (in 1 MB pages) reads the entries; the keys of entries that
        keep them in chunks come in BatchGetItems of 100 chunks, in parallel.
        """
        found: list[tuple[str, int, list[str] | int]] = []
        for item in self._query(namespace_id, f"log/{max(since_ms, 0):013d}", "log/~"):
            name = item[SK]["S"]
            if name not in skip:
                held = item["keys"]["SS"] if "keys" in item else int(item["chunks"]["N"])
                found.append((name, int(name.split("/")[1]), held))
        chunks = self._get_all(
            namespace_id,
            [chunk for name, _, held in found if isinstance(held, int) for chunk in _key_chunks(name, held)],
        )
        entries = []
        for name, ms, held in found:
            if isinstance(held, int):
                parts = [chunks.get(chunk) for chunk in _key_chunks(name, held)]
                if any(part is None for part in parts):
                    raise LogCut(f"log entry {name} lost key chunks while read")
                held = [key for part in parts if part is not None for key in part]
            entries.append(LogEntry(name, ms, held))
        return entries

    def delete_log_before(self, namespace_id: str, before_ms: int) -> None:
        """Drop log entries every snapshot from now on covers, and their key chunks."""
        doomed = []
        old = self._query(namespace_id, "log/", f"log/{max(before_ms, 0):013d}", "#pk, #sk, chunks")
        for item in old:
            name = item[SK]["S"]
            doomed.append(name)
            # Entries of an earlier release have chunks too; an inline one has none.
            doomed.extend(_key_chunks(name, int(item["chunks"]["N"])) if "chunks" in item else ())
        self._delete(namespace_id, doomed)

    # -- requests -----------------------------------------------------------

    def _key(self, namespace_id: str, name: str) -> dict[str, Any]:
        return {PK: {"S": bloom_pk(namespace_id)}, SK: {"S": name}}

    def _query(
        self, namespace_id: str, low: str, high: str, projection: str | None = None
    ) -> Iterator[dict[str, Any]]:
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
            **({"ProjectionExpression": projection} if projection is not None else {}),
        ):
            yield from page["Items"]

    def _get_all(self, namespace_id: str, names: Sequence[str]) -> dict[str, list[str]]:
        """The ``keys`` of the named items that exist, in BatchGetItems of 100 run in parallel."""
        groups = [names[i : i + MAX_BATCH_GET] for i in range(0, len(names), MAX_BATCH_GET)]
        found: dict[str, list[str]] = {}
        for items in self._pool.map(lambda group: self._get_group(namespace_id, group), groups):
            found.update((item[SK]["S"], item["keys"]["SS"]) for item in items)
        return found

    def _get_group(self, namespace_id: str, names: Sequence[str]) -> list[dict[str, Any]]:
        """One BatchGetItem's items, resending what DynamoDB leaves unprocessed on the retry schedule."""
        request = {"Keys": [self._key(namespace_id, name) for name in names], "ConsistentRead": True}
        items: list[dict[str, Any]] = []
        delays = self._retry.delays()
        while request.get("Keys"):
            response = self._client.batch_get_item(RequestItems={self._table: request})
            items.extend(response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys", {}).get(self._table, {})
            if request.get("Keys"):
                delay = next(delays, None)
                if delay is None:
                    cause = f"{len(request['Keys'])} keys still unprocessed"
                    raise ThroughputExceeded(self._table, "BatchGetItem", cause)
                time.sleep(delay)
        return items

    def _put(self, namespace_id: str, name: str, attributes: dict[str, Any]) -> None:
        self._client.put_item(TableName=self._table, Item={**self._key(namespace_id, name), **attributes})

    def _delete(self, namespace_id: str, names: Sequence[str]) -> None:
        delete_keys(self._client, self._table, [self._key(namespace_id, name) for name in names], self._retry)


def _key_chunks(entry_name: str, chunks: int) -> list[str]:
    _, _, writer, number = entry_name.split("/")
    return [f"keys/{writer}/{number}/{index:06d}" for index in range(chunks)]


def _replacing(head: Head | None) -> dict[str, Any]:
    """The head put's condition: the head is still the one its writer saw (or there was none)."""
    if head is None:
        return {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": PK}}
    names = {"#s": "snapshot"}  # a reserved word
    if head.snapshot is None:
        return {
            "ConditionExpression": "version = :v AND attribute_not_exists(#s)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":v": {"N": str(head.version)}},
        }
    return {
        "ConditionExpression": "#s = :s",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":s": {"S": head.snapshot}},
    }
