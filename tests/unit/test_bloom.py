"""The Bloom filter's pure parts: serialization, key chunks within the item limit, its error rate."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.bloom import CHUNK_BYTES, KeyFilter, chunked_strings
from feast_chalk_dynamo.settings import BloomNamespace


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
