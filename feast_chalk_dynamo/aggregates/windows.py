"""Reads of a windowed view: which pages to fetch, and each window merged from them at read time.

An output over ``W`` reads the ``W / hop`` most recent buckets, the current
one included: at 10:47 with 10-minute buckets, a 1-hour window merges the
buckets of 10:40, 10:30, ... 09:50 (six of them; the current one holds the
events of 10:40-10:47 so far). A read fetches the pages of the longest
window once and merges every output from them; the time is the read's, so a
cached page set is re-merged for the time of each read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from feast_chalk_dynamo.aggregates.pages import Item, PageLayout
from feast_chalk_dynamo.aggregates.partials import Parts, finish, merge
from feast_chalk_dynamo.aggregates.spec import Output

# How an output's value is typed for its declared Value field.
_TYPED = {"int64_val": int, "int32_val": int, "double_val": float, "float_val": float}


def outputs(
    layout: PageLayout,
    fields: Sequence[str],
    outputs_wanted: Sequence[Output | None],
    pages: Mapping[tuple[str, int], Item],
    key: str,
    now_micros: int,
) -> list[Any]:
    """The wanted outputs (None for a feature that is no output) of one entity, typed by ``fields``."""
    spec = layout.spec
    newest = spec.bucket_of(now_micros)
    buckets: dict[int, Parts] = {}
    for page in spec.pages_for(newest, spec.longest_buckets):
        item = pages.get((key, page))
        if item is not None:
            buckets.update(layout.decode(item, page))
    values: list[Any] = []
    for output, field in zip(outputs_wanted, fields, strict=True):
        if output is None:
            values.append(None)
            continue
        window: Parts = {}
        first = newest - output.window_buckets + 1
        for bucket, parts in buckets.items():
            if first <= bucket <= newest:
                merge(window, {part: value for part, value in parts.items() if part.column == output.column})
        value = finish(output, window)
        values.append(None if value is None else _TYPED.get(field, float)(value))
    return values
