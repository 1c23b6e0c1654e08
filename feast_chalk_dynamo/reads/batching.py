"""How a read of n keys is cut into BatchGetItem sub-batches (pure logic)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

# The DynamoDB protocol's limit on keys per BatchGetItem.
MAX_KEYS_PER_BATCH = 100

T = TypeVar("T")


def sub_batch_sizes(n: int, min_batch_size: int, max_concurrency: int) -> list[int]:
    """Sizes of the sub-batches for ``n`` keys.

    The rule: use as many sub-batches as can run at once (``max_concurrency``)
    while keeping each at least ``min_batch_size`` keys (smaller batches are
    no faster, only more requests), but never put more than 100 keys in one;
    keys are spread evenly so the slowest sub-batch is as small as possible.
    So 10 keys make one batch; 100 keys with the defaults on 2 cores (min 10,
    concurrency 4) make 4 of 25; 1000 keys make 10 of 100.
    """
    if n <= 0:
        return []
    count = max(math.ceil(n / MAX_KEYS_PER_BATCH), min(max_concurrency, n // min_batch_size), 1)
    base, extra = divmod(n, count)
    return [base + 1] * extra + [base] * (count - extra)


def split(items: Sequence[T], sizes: list[int]) -> list[Sequence[T]]:
    chunks, start = [], 0
    for size in sizes:
        chunks.append(items[start : start + size])
        start += size
    return chunks
