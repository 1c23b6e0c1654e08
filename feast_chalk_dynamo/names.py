"""Short stable ids for projects, feature views and features, kept in the table.

Items stay small because every attribute is named by a short id instead of
its fully-qualified name. An id is allocated once and never reused: a
counter hands out numbers, and a conditional put of the mapping item decides
races; the loser reads the winner's id. The mapping lives in the table itself
(partition ``~meta``), so every process that reads the table agrees on it.

Mapping items (``sk`` of partition ``~meta``), each name component escaped
by :func:`name_component`:

- ``proj/<project>`` -> project id
- ``ns/<project>/<view>`` -> namespace id, plus ``ttl`` (s, 0 = none),
  ``keys`` (the view's join keys) and ``name`` (the view's name)
- ``fqn/<project>/<view>/<feature>/<dtype>`` -> feature id
- ``~counter`` -> the last counter value handed out
- ``~generation`` -> bumped by every ``feast apply`` and ``feast teardown``

A mapping that leaves the schema (a feature dropped or retyped, a view
removed) is deleted, never kept for later: a feature that comes back, or a
dtype that is set back, gets a fresh id, so bytes written before it left can
never be served under a newer row's timestamp.

Processes cache the mapping and look at ``~generation`` at most every
``mapping_refresh_seconds``; when it moved they load the mapping again. So
a process sees another's apply or teardown within that many seconds.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from feast_chalk_dynamo.client import RetryPolicy
from feast_chalk_dynamo.layout import META_PK, PK, SK, id_for_counter, is_reserved_attribute
from feast_chalk_dynamo.tables import delete_keys

COUNTER_SK = "~counter"
GENERATION_SK = "~generation"
# A component longer than this is replaced by its hash, so that the longest
# name (three components and a dtype) stays under DynamoDB's 1024-byte sort key.
MAX_COMPONENT_BYTES = 300


def name_component(text: str) -> str:
    """One component of a mapping name: never holds ``/``, distinct for distinct texts.

    Feast accepts any string as a view or feature name, ``/`` included, so
    ``%`` and ``/`` are percent-escaped; ordinary names read as themselves.
    A long (or not UTF-8-encodable) component becomes ``%H`` + its SHA-256,
    which no escaped text can look like (an escaped ``%`` is always ``%25``
    or ``%2F``).
    """
    escaped = text.replace("%", "%25").replace("/", "%2F")
    try:
        size = len(escaped.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: DynamoDB strings must be UTF-8
        size = MAX_COMPONENT_BYTES + 1
    if size <= MAX_COMPONENT_BYTES:
        return escaped
    return "%H" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def project_name(project: str) -> str:
    return f"proj/{name_component(project)}"


def namespace_prefix(project: str) -> str:
    return f"ns/{name_component(project)}/"


def namespace_name(project: str, view: str) -> str:
    return namespace_prefix(project) + name_component(view)


def project_features_prefix(project: str) -> str:
    return f"fqn/{name_component(project)}/"


def view_features_prefix(project: str, view: str) -> str:
    return f"{project_features_prefix(project)}{name_component(view)}/"


def feature_name(project: str, view: str, feature: str, dtype: str) -> str:
    return f"{view_features_prefix(project, view)}{name_component(feature)}/{name_component(dtype)}"


_VERSION_SUFFIX = re.compile(r"@v[0-9]+$")


def versioned_view_name(view: Any, versioning: bool) -> str:
    """The namespace a view's rows live in: its name, or ``<name>@v<N>`` for version N > 0.

    The version is chosen as Feast's ``compute_versioned_name`` chooses it
    (the pinned ``projection.version_tag``, else ``current_version_number``;
    version 0 and versioning off keep the bare name, so data written before
    versioning was turned on stays readable). Feast's ``<name>_v<N>`` is not
    used: a view may be called ``x_v2``. Feast forbids ``@`` in view names,
    so ``@v<N>`` cannot collide with another view's name; the store holds
    every view to that rule itself (it may be handed views no registry
    checked).
    """
    name: str = view.name
    if "@" in name:
        raise ValueError(
            f"feature view name {name!r} contains '@', which Feast reserves for versions (view@v2)"
        )
    if not versioning:
        return name
    version = getattr(view.projection, "version_tag", None)
    if version is None:
        version = getattr(view, "current_version_number", None)
    return f"{name}@v{version}" if version else name


def unversioned_view_name(namespace: str) -> str:
    """The view a namespace of :func:`versioned_view_name` belongs to."""
    return _VERSION_SUFFIX.sub("", namespace)


@dataclass(frozen=True)
class NamespaceInfo:
    """What writers need to know of a live view to set its items' expiry."""

    id: str
    ttl_seconds: int
    join_keys: tuple[str, ...]


Item = dict[str, Any]


def _usable_id(item: Item | None) -> str | None:
    """The id of a mapping item, unless absent or reserved (allocated by a version that allowed it)."""
    if item is None or "id" not in item:
        return None
    found: str = item["id"]["S"]
    return None if is_reserved_attribute(found) else found


class NameRegistry:
    """Thread-safe cache of the mapping items, filled by warm-up or on first use, refreshed by generation."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        warm: bool = True,
        refresh_seconds: float = 5.0,
        retry: RetryPolicy | None = None,
        pool: ThreadPoolExecutor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._table = table
        self._warm = warm
        self._refresh_seconds = refresh_seconds
        self._retry = retry or RetryPolicy(max_retries=12, scale_ms=10)
        self._pool = pool
        self._clock = clock
        self._items: dict[str, Item] = {}
        self._lock = threading.Lock()
        # Projects whose namespaces are all in _items; None: every project (warmed up).
        self._namespaces_loaded: set[str] | None = set()
        # Guards _checking; never held across a request. The one thread checking sets _generation
        # and _checked_at; bump_generation waits for it before setting them too.
        self._refresh_lock = threading.Condition()
        self._checking = False  # a thread is reading the generation (and maybe the mapping) now
        self._generation: int | None = None  # as last loaded
        self._checked_at: float | None = None

    # -- loading and freshness ----------------------------------------------

    @property
    def generation(self) -> int | None:
        """The generation of the mapping as loaded: what was resolved from it holds while this does."""
        return self._generation

    def ensure_fresh(self) -> None:
        """Load the mapping on first use, and again whenever the generation moved (checked when due).

        Cheap on the read path: a clock read, and every ``refresh_seconds``
        one GetItem of the generation. One thread checks at a time and holds
        no lock meanwhile (the GetItem may be a probe of a failing region): the
        others read with the mapping they have; only while none is loaded yet
        do they wait, for the first load.
        """
        if not self._check_due():
            return
        with self._refresh_lock:
            while self._checking and self._generation is None:
                self._refresh_lock.wait()
            if self._checking or not self._check_due():
                return
            self._checking = True
        try:
            generation = self._read_generation()
            if generation != self._generation:
                self._reload(generation)
            self._checked_at = self._clock()
        finally:
            with self._refresh_lock:
                self._checking = False
                self._refresh_lock.notify_all()

    def _check_due(self) -> bool:
        return self._checked_at is None or self._clock() - self._checked_at >= self._refresh_seconds

    def _read_generation(self) -> int:
        item = self._client.get_item(
            TableName=self._table, Key=_meta_key(GENERATION_SK), ConsistentRead=True
        ).get("Item")
        return int(item["n"]["N"]) if item else 0

    def _reload(self, generation: int) -> None:
        """Swap in a fresh mapping (the whole of it, with warm-up; else an empty cache to fill lazily).

        Loaded before the swap, so concurrent reads keep the old mapping until
        then instead of looking every name up one by one meanwhile.
        """
        items = self._fetch("") if self._warm else {}
        with self._lock:
            self._items = items
            self._namespaces_loaded = None if self._warm else set()
        self._generation = generation

    def bump_generation(self) -> None:
        """Tell every process that the mapping changed (after an apply or a teardown)."""
        response = self._client.update_item(
            TableName=self._table,
            Key=_meta_key(GENERATION_SK),
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        bumped = int(response["Attributes"]["n"]["N"])
        with self._refresh_lock:
            while self._checking:  # a check in flight would set the generation after this decides it
                self._refresh_lock.wait()
            if self._generation is not None and bumped == self._generation + 1:
                self._generation = bumped  # ours was the only change: our cache is current
            else:
                self._checked_at = None  # another process changed it too: look again next time

    def _query(self, prefix: str) -> dict[str, Item]:
        """Every mapping item whose name starts with ``prefix`` (all of them for ""), now cached."""
        found = self._fetch(prefix)
        with self._lock:
            self._items.update(found)
        return found

    def _fetch(self, prefix: str) -> dict[str, Item]:
        """Every mapping item whose name starts with ``prefix``, by one paginated Query."""
        condition = "#pk = :pk AND begins_with(#sk, :prefix)" if prefix else "#pk = :pk"
        prefix_value = {":prefix": {"S": prefix}} if prefix else {}
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            ConsistentRead=True,
            KeyConditionExpression=condition,
            ExpressionAttributeNames={"#pk": PK, **({"#sk": SK} if prefix else {})},
            ExpressionAttributeValues={":pk": {"S": META_PK}, **prefix_value},
        )
        return {item[SK]["S"]: item for page in pages for item in page["Items"]}

    def _get(self, name: str, cached: bool = True) -> Item | None:
        if cached:
            with self._lock:
                item = self._items.get(name)
            if item is not None:
                return item
        response = self._client.get_item(TableName=self._table, Key=_meta_key(name), ConsistentRead=True)
        item = response.get("Item")
        with self._lock:
            if item is not None:
                self._items[name] = item
            else:
                self._items.pop(name, None)
        return item

    # -- allocation ---------------------------------------------------------

    def lookup(self, name: str) -> str | None:
        """The id of a name, or None if it has none (no write, no allocation)."""
        return _usable_id(self._get(name))

    def allocate(self, name: str) -> str:
        """The id of a name, allocating one if needed; safe against concurrent allocators."""
        return self.allocate_many([name])[name]

    def allocate_many(self, names: Iterable[str]) -> dict[str, str]:
        """Ids of many names: one counter update for all the new ones, their claims in parallel."""
        ids: dict[str, str] = {}
        missing: list[tuple[str, Item | None]] = []
        for name in dict.fromkeys(names):
            item = self._get(name)
            found = _usable_id(item)
            if found is not None:
                ids[name] = found
            else:
                missing.append((name, item))
        if not missing:
            return ids
        candidates = self._take_ids(len(missing))

        def claim(pair: tuple[tuple[str, Item | None], str]) -> tuple[str, str]:
            (name, stale), candidate = pair
            return name, self._claim(name, candidate, stale)

        pairs = list(zip(missing, candidates, strict=True))
        if self._pool is not None and len(pairs) > 1:  # a new view's features: one claim per thread
            ids.update(self._pool.map(claim, pairs))
        else:
            ids.update(map(claim, pairs))
        return ids

    def _take_ids(self, count: int) -> list[str]:
        """``count`` fresh ids from the counter, skipping counter values whose text is reserved."""
        ids: list[str] = []
        while len(ids) < count:
            wanted = count - len(ids)
            counter = self._client.update_item(
                TableName=self._table,
                Key=_meta_key(COUNTER_SK),
                UpdateExpression="ADD #n :k",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={":k": {"N": str(wanted)}},
                ReturnValues="UPDATED_NEW",
            )
            top = int(counter["Attributes"]["n"]["N"])
            ids += [i for n in range(top - wanted + 1, top + 1) if (i := id_for_counter(n)) is not None]
        return ids

    def _claim(self, name: str, candidate: str, stale: Item | None) -> str:
        """Put ``name -> candidate`` unless another allocator got there first; the winner's id either way.

        ``stale`` is a mapping whose id is reserved (from a version that
        allowed it): it is replaced, on condition that it is still the same.
        """
        item = {**_meta_key(name), "id": {"S": candidate}}
        if stale is None:
            condition: dict[str, Any] = {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": PK},
            }
        else:
            condition = {
                "ConditionExpression": "#id = :stale",
                "ExpressionAttributeNames": {"#id": "id"},
                "ExpressionAttributeValues": {":stale": stale["id"]},
            }
        try:
            self._client.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # Another process won the race: its id is the one everybody uses.
            # The counter value we took is simply never used.
            winner = _usable_id(self._get(name, cached=False))
            if winner is None:
                return self.allocate(name)  # the winner's was reserved too, or it was deleted again
            return winner
        with self._lock:
            self._items[name] = item
        return candidate

    # -- views --------------------------------------------------------------

    def register_view(
        self,
        project: str,
        view: str,
        ttl_seconds: int,
        join_keys: Sequence[str],
        features: Sequence[tuple[str, str]],
        retire_others: bool = True,
    ) -> str:
        """Allocate (or keep) the ids of a view and its ``(feature, dtype)`` pairs; retire the rest.

        A mapping of this view that is not in ``features`` (a dropped
        feature, or an old dtype) is deleted, so that it can never be used
        again: see the module docstring. ``retire_others=False`` keeps them
        (a versioned namespace, which only ever gains features).
        """
        name = namespace_name(project, view)
        namespace_id = self.allocate(name)
        response = self._client.update_item(
            TableName=self._table,
            Key=_meta_key(name),
            UpdateExpression="SET #ttl = :ttl, #keys = :keys, #name = :name",
            ExpressionAttributeNames={"#ttl": "ttl", "#keys": "keys", "#name": "name"},
            ExpressionAttributeValues={
                ":ttl": {"N": str(ttl_seconds)},
                ":keys": {"L": [{"S": key} for key in sorted(join_keys)]},
                ":name": {"S": view},
            },
            ReturnValues="ALL_NEW",
        )
        with self._lock:
            self._items[name] = response["Attributes"]
        existing = self._query(view_features_prefix(project, view))
        wanted = [feature_name(project, view, feature, dtype) for feature, dtype in features]
        self.allocate_many(wanted)
        if retire_others:
            self.forget(sorted(set(existing) - set(wanted)))
        return namespace_id

    def retire_view(self, project: str, view: str) -> None:
        """Delete a removed view's names; a view of the same name later starts afresh."""
        prefix = view_features_prefix(project, view)
        self.forget([*self._query(prefix), namespace_name(project, view)])

    def live_namespaces(self, project: str) -> dict[str, NamespaceInfo]:
        """Every live view of a project by name, loading them once if warm-up did not."""
        prefix = namespace_prefix(project)
        loaded = self._namespaces_loaded
        if loaded is not None and project not in loaded:
            self._query(prefix)
            with self._lock:
                loaded.add(project)
        with self._lock:
            snapshot = [item for name, item in self._items.items() if name.startswith(prefix)]
        return {
            item["name"]["S"]: NamespaceInfo(
                id=item["id"]["S"],
                ttl_seconds=int(item["ttl"]["N"]),
                join_keys=tuple(key["S"] for key in item["keys"]["L"]),
            )
            for item in snapshot
            if "keys" in item and "name" in item and _usable_id(item) is not None
        }

    def names_with_prefix(self, prefix: str) -> dict[str, str]:
        """Name -> id for every mapping item under a prefix, read fresh from the table."""
        return {name: item["id"]["S"] for name, item in self._query(prefix).items() if "id" in item}

    def forget(self, names: Sequence[str]) -> None:
        """Delete mapping items: their ids are never reused, and the names get fresh ones if they return."""
        delete_keys(self._client, self._table, [_meta_key(name) for name in names], self._retry)
        with self._lock:
            for name in names:
                self._items.pop(name, None)


def _meta_key(name: str) -> Item:
    return {PK: {"S": META_PK}, SK: {"S": name}}
