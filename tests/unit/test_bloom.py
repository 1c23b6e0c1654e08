"""The Bloom filter's pure parts (serialization, key chunks within the item limit, its error rate),
and forgetting every filter while a worker waits on a request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.dynamo.client import RetryPolicy
from feast_chalk_dynamo.local.bloom import BloomFilters, KeyFilter
from feast_chalk_dynamo.local.bloom_table import CHUNK_BYTES, chunked_strings
from feast_chalk_dynamo.settings import BloomNamespace, DynamoSettings


def test_a_filter_survives_serialization() -> None:
    bloom = KeyFilter.empty(BloomNamespace(namespace="v", expected_keys=100, error_rate=0.01))
    keys = [f"k{i}" for i in range(1000)]  # past expected_keys: the filter scales
    bloom.add(keys)
    copy = KeyFilter.from_bytes(bloom.to_bytes())
    assert all(copy.may_contain(keys))
    assert copy.may_contain(["absent-1", "absent-2"]) == bloom.may_contain(["absent-1", "absent-2"])


def test_the_false_positive_rate_stays_within_the_configured_error() -> None:
    error_rate = 0.01
    bloom = KeyFilter.empty(BloomNamespace(namespace="v", expected_keys=2000, error_rate=error_rate))
    bloom.add(f"present-{i}" for i in range(20_000))  # ten times the expected keys
    probes = 50_000
    false_positives = sum(bloom.may_contain(f"absent-{i}" for i in range(probes)))
    assert false_positives / probes <= error_rate


@given(st.lists(st.text(min_size=1, max_size=3000), max_size=400))
def test_key_chunks_hold_every_key_once_and_stay_under_the_item_limit(keys: list[str]) -> None:
    chunks = chunked_strings(keys)
    assert all(chunk and sum(len(k.encode("utf-8")) for k in chunk) <= CHUNK_BYTES for chunk in chunks)
    assert [k for chunk in chunks for k in chunk] == list(dict.fromkeys(keys))


class GatedClient:
    """Answers as an empty table would; the first read of a head waits until ``release`` is set."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.put: list[str] = []
        self._heads = 0
        self._lock = threading.Lock()

    def get_item(self, **_: Any) -> dict[str, Any]:
        with self._lock:
            self._heads += 1
            first = self._heads == 1
        if first:
            self.entered.set()
            self.release.wait(30)
        return {}

    def get_paginator(self, operation: str) -> Any:
        return SimpleNamespace(paginate=lambda **_: iter([{"Items": []}]))

    def put_item(self, **request: Any) -> dict[str, Any]:
        with self._lock:
            self.put.append(request["Item"]["sk"]["S"])
        return {}


class NoRows:
    """The table admin of an empty table: a build's Scan finds no key."""

    def keys_with(self, attribute: str, handle: Callable[[str], None]) -> None:
        pass


def test_forget_all_returns_while_a_worker_waits_on_a_request_and_that_worker_puts_nothing_in_place() -> None:
    client = GatedClient()
    settings = DynamoSettings(bloom_filters=[BloomNamespace(namespace="v", expected_keys=100)])
    filters = BloomFilters(client, NoRows(), settings, RetryPolicy(max_retries=0, scale_ms=10))
    safety = threading.Timer(20, client.release.set)  # so that a forget_all that waits fails, not hangs
    safety.start()
    try:
        assert filters.filter_for("v", "_t1") is None  # starts the worker, whose head read is held
        assert client.entered.wait(20)
        filters.forget_all()
        assert not client.release.is_set()  # it returned with the worker's request still held
        filters.filter_for("v", "_t1")  # forgotten: a new namespace, loading afresh (it may be quick)
        assert filters.wait_loaded(20)
        assert filters.filter_for("v", "_t1") is not None
        client.release.set()
    finally:
        safety.cancel()
        filters.close()
    # Only the new worker saved a snapshot: the forgotten one, released, put nothing in place or in the table.
    assert client.put.count("head") == 1
