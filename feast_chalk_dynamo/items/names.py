"""Short stable ids for projects, feature views and features, kept in the table.

Items stay small because every attribute is named by a short id instead of
its fully-qualified name. An id is allocated once and never reused: a
counter hands out numbers, and a conditional update of the mapping item
decides races; the loser reads the winner's id. The mapping lives in the
table itself (partition ``~meta``), so every process that reads the table
agrees on it.

Mapping items (``sk`` of partition ``~meta``), each name component escaped
by :func:`name_component`:

- ``proj/<project>`` -> project id
- ``ns/<project>/<view>`` -> namespace id, plus ``ttl`` (s, 0 = none),
  ``keys`` (the view's join keys) and ``name`` (the view's name)
- ``fqn/<project>/<view>/<feature>/<dtype>`` -> feature ``id``; once
  retired, no ``id`` but ``retired`` (the ids it had -> when, epoch s)
- ``~counter`` -> the last counter value handed out
- ``~generation`` -> ``n`` (changes so far), ``c`` (a random token of the
  last change: every ``feast apply`` and ``feast teardown``) and ``e`` (a
  random epoch written with the table's first change)

A feature that leaves a view's schema (dropped, or retyped) is retired,
never kept for later: a feature that comes back, or a dtype that is set
back, gets a fresh id, so bytes written before it left can never be served
under a newer row's timestamp. Writers keep removing a retired id from the
rows they write for ``RETIRED_IDS_KEPT_SECONDS``, so a process still
reading with a mapping from before the retirement finds nothing there
rather than an old value under a new row's time.

Processes cache the mapping and, at most every ``mapping_refresh_seconds``,
read its state: the epoch, the change token and the counter, in one Query.
Any difference loads the mapping again. Numbers alone cannot tell a new
table from the old one (a dropped and re-created table restarts its counter
and its changes; a restored backup turns them back), so the tokens are
random; and when the epoch changed or the counter went below an id this
process has used, its ids may name other things now: everything derived
from them (read layouts, cached rows, Bloom filters) is dropped too, through
``on_new_table``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from feast_chalk_dynamo.dynamo.client import RetryPolicy
from feast_chalk_dynamo.dynamo.tables import delete_keys
from feast_chalk_dynamo.items.layout import META_PK, PK, SK, id_for_counter, is_reserved_attribute

COUNTER_SK = "~counter"
GENERATION_SK = "~generation"
# Longer than any process reads with a mapping it has not checked (``mapping_refresh_seconds``,
# plus a check stalled by an outage), with room for clocks that disagree between hosts.
RETIRED_IDS_KEPT_SECONDS = 86_400
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


def dtype_name(field: Any) -> str:
    """A feature's dtype as its name mapping spells it (``migrate --dry-run`` sizes ids by it too)."""
    return str(field.dtype.to_value_type().name)


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
    """The id of a mapping item, unless absent, retired, or reserved (allocated by an older version)."""
    if item is None or "id" not in item:
        return None
    found: str = item["id"]["S"]
    return None if is_reserved_attribute(found) else found


def _retired(item: Item) -> dict[str, int]:
    """The ids a mapping item had before, each with when it was retired (epoch s)."""
    return {old: int(when["N"]) for old, when in item.get("retired", {}).get("M", {}).items()}


def attribute_ids(item: Item) -> list[str]:
    """Every attribute a mapping item's name may have left on entity items: its id and its retired ids."""
    return [*([item["id"]["S"]] if "id" in item else []), *_retired(item)]


def _counter_value(short: str) -> int:
    """The counter value a short id stands for (ids are its base-36 text)."""
    try:
        return int(short, 36)
    except ValueError:  # not an id the counter handed out
        return 0


@dataclass(frozen=True)
class MappingState:
    """What a process checks to know whether the mapping it holds is still the table's.

    ``epoch`` is random and written with a table's first change, so a new
    table (dropped and re-created) differs even when its numbers repeat;
    ``change`` is random per change; ``counter`` is the last id handed out.
    ``epoch`` and ``change`` are None before a table's first change.
    """

    epoch: str | None
    change: str | None
    counter: int

    @classmethod
    def from_items(cls, items: Iterable[Item]) -> MappingState:
        by_name = {item[SK]["S"]: item for item in items}
        generation = by_name.get(GENERATION_SK, {})
        counter = by_name.get(COUNTER_SK)
        # Tables changed only by earlier versions have a count and no token: the count stands in.
        change = generation.get("c", {}).get("S") or (
            f"n{generation['n']['N']}" if "n" in generation else None
        )
        return cls(
            epoch=generation.get("e", {}).get("S"),
            change=change,
            counter=int(counter["n"]["N"]) if counter else 0,
        )


class NameRegistry:
    """Thread-safe cache of the mapping items, filled by warm-up or on first use, refreshed on change."""

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
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table
        self._warm = warm
        self._refresh_seconds = refresh_seconds
        self._retry = retry or RetryPolicy(max_retries=12, scale_ms=10)
        self._pool = pool
        self._clock = clock
        self._wall_clock = wall_clock
        self._items: dict[str, Item] = {}
        self._lock = threading.Lock()
        # Projects whose namespaces are all in _items; None: every project (warmed up).
        self._namespaces_loaded: set[str] | None = set()
        # Guards _checking, never held across a request: the one thread checking reads the state.
        self._refresh_lock = threading.Condition()
        self._checking = False
        self._state: MappingState | None = None  # as last loaded; None: never loaded
        self._checked_at: float | None = None
        # The highest counter value of any id this process has used since its derived state was
        # last dropped: a counter below it means ids may have been handed out again.
        self._highest_id = 0
        # Called by the checking thread (no I/O, no blocking) when ids may name other things now.
        self.on_new_table: list[Callable[[], None]] = []

    # -- loading and freshness ----------------------------------------------

    @property
    def generation(self) -> MappingState | None:
        """The state of the mapping as loaded: what was resolved from it holds while this does."""
        return self._state

    def ensure_fresh(self, force: bool = False) -> None:
        """Load the mapping on first use, and again whenever its state moved (checked when due).

        Cheap on the read path: a clock read, and every ``refresh_seconds``
        one small Query. One thread checks at a time and holds no lock
        meanwhile (the Query may be a probe of a failing region): the others
        read with the mapping they have; only while none is loaded yet do they
        wait, for the first load. ``force`` checks now, whatever the interval,
        after any check in flight: an apply or a teardown changes the mapping,
        and must start from the table's, not from one a few seconds old.
        """
        if not force and not self._check_due():
            return
        with self._refresh_lock:
            while self._checking and (force or self._state is None):
                self._refresh_lock.wait()
            if self._checking or not (force or self._check_due()):
                return
            self._checking = True
        try:
            state = self._read_state()
            if state != self._state:
                self._reload(state)
            self._checked_at = self._clock()
        finally:
            with self._refresh_lock:
                self._checking = False
                self._refresh_lock.notify_all()

    def _check_due(self) -> bool:
        return self._checked_at is None or self._clock() - self._checked_at >= self._refresh_seconds

    def _read_state(self) -> MappingState:
        """The epoch, change token and counter, in one consistent Query (``~counter`` … ``~generation``)."""
        response = self._client.query(
            TableName=self._table,
            ConsistentRead=True,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :low AND :high",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues={
                ":pk": {"S": META_PK}, ":low": {"S": COUNTER_SK}, ":high": {"S": GENERATION_SK}
            },
        )  # fmt: skip
        return MappingState.from_items(response["Items"])

    def _reload(self, state: MappingState) -> None:
        """Swap in a fresh mapping (the whole of it, with warm-up; else an empty cache to fill lazily).

        Loaded before the swap, so concurrent reads keep the old mapping until
        then instead of looking every name up one by one meanwhile. When the
        table is another (a new epoch) or its counter went below an id used
        here, everything derived from the old ids is dropped first.
        """
        items = self._fetch("") if self._warm else {}
        previous = self._state
        # A table's first change gives it its epoch: from none to one is the same table (its
        # counter says whether ids were handed out again).
        new_table = previous is not None and (
            (previous.epoch is not None and state.epoch != previous.epoch) or state.counter < self._highest_id
        )
        with self._lock:
            self._items = items
            self._namespaces_loaded = None if self._warm else set()
            if new_table:
                self._highest_id = 0
            self._note_ids(items.values())
        self._state = state
        if new_table:
            for forget in self.on_new_table:
                forget()

    def _note_ids(self, items: Iterable[Item]) -> None:
        """Remember the highest id in ``items`` (call with ``_lock`` held)."""
        for item in items:
            for short in attribute_ids(item):
                self._highest_id = max(self._highest_id, _counter_value(short))

    def bump_generation(self) -> None:
        """Tell every process that the mapping changed (after an apply or a teardown).

        This process checks again on its next call too: what it holds may
        miss another process's change made at the same time.
        """
        self._client.update_item(
            TableName=self._table,
            Key=_meta_key(GENERATION_SK),
            UpdateExpression="SET #c = :c, #e = if_not_exists(#e, :e) ADD #n :one",
            ExpressionAttributeNames={"#c": "c", "#e": "e", "#n": "n"},
            ExpressionAttributeValues={
                ":c": {"S": secrets.token_hex(8)}, ":e": {"S": secrets.token_hex(8)}, ":one": {"N": "1"}
            },
        )  # fmt: skip
        with self._refresh_lock:
            while self._checking:  # a check in flight would mark the mapping checked after this
                self._refresh_lock.wait()
            self._checked_at = None

    def _query(self, prefix: str) -> dict[str, Item]:
        """Every mapping item whose name starts with ``prefix`` (all of them for ""), now cached."""
        found = self._fetch(prefix)
        with self._lock:
            self._items.update(found)
            self._note_ids(found.values())
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
        self._cache(name, item)
        return item

    def _cache(self, name: str, item: Item | None) -> None:
        with self._lock:
            if item is not None:
                self._items[name] = item
                self._note_ids((item,))
            else:
                self._items.pop(name, None)

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
        """Give ``name`` the id ``candidate`` unless another allocator was first; the winner's id either way.

        An update, not a put, so a retired name keeps the ids it had before
        (writers go on removing them). ``stale`` is a mapping whose id is
        reserved (from a version that allowed it): it is replaced, on
        condition that it is still the same.
        """
        names = {"#id": "id"}
        values: dict[str, Any] = {":id": {"S": candidate}}
        if stale is not None and "id" in stale:
            condition = "#id = :stale"
            values[":stale"] = stale["id"]
        else:
            condition = "attribute_not_exists(#id)"
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_meta_key(name),
                UpdateExpression="SET #id = :id",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # Another process won the race: its id is the one everybody uses.
            # The counter value we took is simply never used.
            winner = _usable_id(self._get(name, cached=False))
            if winner is None:
                return self.allocate(name)  # the winner's was reserved too, or it was retired again
            return winner
        self._cache(name, response["Attributes"])
        return candidate

    def _retire(self, items: dict[str, Item]) -> None:
        """Take the ids of these names out of use, kept as retired; a name that returns gets a fresh id."""
        now = int(self._wall_clock())
        for name, item in items.items():
            retired = {**self._recent(_retired(item), now), item["id"]["S"]: now}
            self._rewrite_retired(name, item, retired, drop_id=True)

    def _prune(self, items: dict[str, Item]) -> None:
        """Forget retired ids older than ``RETIRED_IDS_KEPT_SECONDS``; delete names left with nothing."""
        now = int(self._wall_clock())
        for name, item in items.items():
            retired = _retired(item)
            recent = self._recent(retired, now)
            if recent == retired:
                continue
            if recent or "id" in item:
                self._rewrite_retired(name, item, recent, drop_id=False)
            else:
                self.forget([name])

    @staticmethod
    def _recent(retired: dict[str, int], now: int) -> dict[str, int]:
        return {old: when for old, when in retired.items() if when >= now - RETIRED_IDS_KEPT_SECONDS}

    def _rewrite_retired(self, name: str, item: Item, retired: dict[str, int], drop_id: bool) -> None:
        """Set a name's retired ids (and drop its id), on condition that nobody changed the name meanwhile."""
        expression = "SET #r = :r" + (" REMOVE #id" if drop_id else "")
        condition, values = (
            ("#id = :id", {":id": item["id"]}) if "id" in item else ("attribute_not_exists(#id)", {})
        )
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_meta_key(name),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#r": "retired", "#id": "id"},
                ExpressionAttributeValues={
                    ":r": {"M": {old: {"N": str(when)} for old, when in retired.items()}},
                    **values,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            self._get(name, cached=False)  # another apply changed it: keep its version
            return
        self._cache(name, response["Attributes"])

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
        feature, or an old dtype) is retired, so that its id can never be
        used again: see the module docstring. ``retire_others=False`` keeps
        them (a versioned namespace, which only ever gains features; its
        writers remove the others' values from every row they write).
        """
        name = namespace_name(project, view)
        namespace_id = self._describe_namespace(name, view, ttl_seconds, join_keys)
        existing = self._query(view_features_prefix(project, view))
        wanted = [feature_name(project, view, feature, dtype) for feature, dtype in features]
        self.allocate_many(wanted)
        live_others = {name: item for name, item in existing.items() if name not in wanted and "id" in item}
        retiring = live_others if retire_others else {}
        self._retire(retiring)
        self._prune({name: item for name, item in existing.items() if name not in retiring})
        return namespace_id

    def _describe_namespace(self, name: str, view: str, ttl_seconds: int, join_keys: Sequence[str]) -> str:
        """The namespace's id, with its ttl, keys and view name set on its mapping item.

        On condition that the item still has that id: a namespace another
        process removed meanwhile gets a fresh id, never a description of its
        own without one (an id-less namespace reads as no view at all).
        """
        while True:
            namespace_id = self.allocate(name)
            try:
                response = self._client.update_item(
                    TableName=self._table,
                    Key=_meta_key(name),
                    UpdateExpression="SET #ttl = :ttl, #keys = :keys, #name = :name",
                    ConditionExpression="#id = :id",
                    ExpressionAttributeNames={"#ttl": "ttl", "#keys": "keys", "#name": "name", "#id": "id"},
                    ExpressionAttributeValues={
                        ":ttl": {"N": str(ttl_seconds)},
                        ":keys": {"L": [{"S": key} for key in sorted(join_keys)]},
                        ":name": {"S": view},
                        ":id": {"S": namespace_id},
                    },
                    ReturnValues="ALL_NEW",
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                self._get(name, cached=False)  # removed or re-claimed meanwhile: allocate again
                continue
            self._cache(name, response["Attributes"])
            return namespace_id

    def retire_view(self, project: str, view: str) -> None:
        """Delete a removed view's names; a view of the same name later starts afresh."""
        prefix = view_features_prefix(project, view)
        self.forget([*self._query(prefix), namespace_name(project, view)])

    def ids_to_clear(self, project: str, view: str, keep: Iterable[str]) -> list[str]:
        """What a row of ``view`` must remove besides writing ``keep``: every other id of its features.

        The view's other live ids (a versioned namespace keeps every dtype a
        feature had) and ids retired within ``RETIRED_IDS_KEPT_SECONDS``: a
        reader that resolves one of them must find nothing on a row written
        since, never an older value under the new row's time.
        """
        prefix = view_features_prefix(project, view)
        if self._warm:
            with self._lock:
                items = [item for name, item in self._items.items() if name.startswith(prefix)]
        else:
            items = list(self._query(prefix).values())
        kept = set(keep)
        now = int(self._wall_clock())
        found: set[str] = set()
        for item in items:
            live = _usable_id(item)
            if live is not None:
                found.add(live)
            found.update(self._recent(_retired(item), now))
        return sorted(found - kept)

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
        """Name -> id for every live mapping item under a prefix, read fresh from the table."""
        return {name: item["id"]["S"] for name, item in self._query(prefix).items() if "id" in item}

    def items_with_prefix(self, prefix: str) -> dict[str, Item]:
        """Every mapping item under a prefix, retired ones too, read fresh from the table."""
        return self._query(prefix)

    def forget(self, names: Sequence[str]) -> None:
        """Delete mapping items: their ids are never reused, and the names get fresh ones if they return."""
        delete_keys(self._client, self._table, [_meta_key(name) for name in names], self._retry)
        with self._lock:
            for name in names:
                self._items.pop(name, None)


def _meta_key(name: str) -> Item:
    return {PK: {"S": META_PK}, SK: {"S": name}}
