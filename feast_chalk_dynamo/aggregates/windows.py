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

from feast_chalk_dynamo.aggregates.pages import Item, PageLayout, decode_part
from feast_chalk_dynamo.aggregates.partials import finish_kinds, union
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
    """The wanted outputs (None for a feature that is no output) of one entity, typed by ``fields``.

    The read path's hot loop: each page attribute is looked at once (by its
    part's position), and a value is decoded only when a window needs it.
    """
    spec = layout.spec
    newest = spec.bucket_of(now_micros)
    positions = layout.positions
    columns: list[dict[int, Item]] = [{} for _ in positions]
    for page in spec.pages_for(newest, spec.longest_buckets):
        item = pages.get((key, page))
        if item is None:
            continue
        first_of_page = page * spec.page_buckets
        for name, stored in item.items():
            part_id, dot, slot = name.rpartition(".")
            position = positions.get(part_id) if dot else None
            if position is not None:
                columns[position][first_of_page + int(slot)] = stored
    decoded: dict[int, list[tuple[int, Any]]] = {}  # position -> (bucket, value), decoded once
    combined: dict[tuple[int, int], Any] = {}  # (position, first bucket) -> the window's value
    values: list[Any] = []
    for output, field in zip(outputs_wanted, fields, strict=True):
        if output is None:
            values.append(None)
            continue
        first = newest - output.window_buckets + 1
        kinds: dict[str, Any] = {}
        for part, position in layout.output_parts(output):
            if (position, first) not in combined:
                found = decoded.get(position)
                if found is None:
                    found = decoded[position] = [
                        (bucket, decode_part(part, stored)) for bucket, stored in columns[position].items()
                    ]
                in_window = [value for bucket, value in found if first <= bucket <= newest]
                combined[(position, first)] = _combined(part.kind, in_window) if in_window else None
            if (value := combined[(position, first)]) is not None:
                kinds[part.kind] = value
        value = finish_kinds(output.function, kinds)
        values.append(None if value is None else _TYPED.get(field, float)(value))
    return values


def _combined(kind: str, values: list[Any]) -> Any:
    if kind == "lo":
        return min(values)
    if kind == "hi":
        return max(values)
    if kind == "d":
        return union(values)
    return sum(values)
