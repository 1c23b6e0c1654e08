from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.reads.batching import MAX_KEYS_PER_BATCH, split, sub_batch_sizes


@pytest.mark.parametrize(
    ("n", "min_size", "concurrency", "expected"),
    [
        (0, 10, 4, []),
        (1, 10, 4, [1]),
        (10, 10, 4, [10]),
        (19, 10, 4, [19]),
        (20, 10, 4, [10, 10]),
        (100, 10, 4, [25, 25, 25, 25]),
        (100, 10, 1, [100]),
        (101, 10, 1, [51, 50]),
        (1000, 10, 4, [100] * 10),
    ],
)
def test_examples(n: int, min_size: int, concurrency: int, expected: list[int]) -> None:
    assert sub_batch_sizes(n, min_size, concurrency) == expected


@given(st.integers(1, 5000), st.integers(1, 100), st.integers(1, 64))
def test_rule(n: int, min_size: int, concurrency: int) -> None:
    sizes = sub_batch_sizes(n, min_size, concurrency)
    assert sum(sizes) == n
    assert max(sizes) <= MAX_KEYS_PER_BATCH
    assert max(sizes) - min(sizes) <= 1
    if len(sizes) > math.ceil(n / MAX_KEYS_PER_BATCH):  # split further than the 100-key cap forces
        assert min(sizes) >= min_size
        assert len(sizes) <= concurrency


def test_split_keeps_order() -> None:
    assert split("abcdefg", [3, 2, 2]) == ["abc", "de", "fg"]
