"""How a windowed view's buckets sit on their pages: keys, attribute names, values, requests.

A page is an item under the entity's partition, ``sk = <namespace id>@<geometry>:<page>``,
holding ``K`` consecutive buckets. Each part of each bucket is an attribute
``<part id>.<slot>`` (the part's short id from the name mapping; the bucket's
slot on its page): a number for counts, sums, sums of squares, minima and
maxima, the compact sketch (binary) for distinct counts. ``_n`` counts the
page's merged writes (see ``writer``), ``_x`` is when DynamoDB's TTL may
delete the page: once every window has moved past its last bucket.

Pure functions: what the writer sends and the reader decodes agree because
they are the same code.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from feast_chalk_dynamo.aggregates.partials import Parts, sketch_bytes, sketch_from
from feast_chalk_dynamo.aggregates.spec import ADDITIVE, Output, Part, WindowedView
from feast_chalk_dynamo.dynamo.expressions import placeholder_suffix
from feast_chalk_dynamo.dynamo.tables import PK, SK
from feast_chalk_dynamo.items.layout import EXPIRY_ATTR

VERSION_ATTR = "_n"
# A page outlives the longest window by this much before DynamoDB may delete it (reads ignore
# buckets outside their windows anyway; TTL only bounds the storage).
EXPIRY_SLACK_SECONDS = 86_400

Item = dict[str, Any]


@dataclass(frozen=True)
class PageLayout:
    """One windowed view's pages: its buckets (``spec``), its namespace and part ids."""

    spec: WindowedView
    namespace_id: str
    part_ids: Mapping[Part, str]

    def sort_key(self, page: int) -> str:
        return f"{pages_prefix(self.namespace_id)}{self.spec.geometry}:{page}"

    def key(self, partition_key: str, page: int) -> Item:
        return {PK: {"S": partition_key}, SK: {"S": self.sort_key(page)}}

    def attribute(self, part: Part, bucket: int) -> str:
        return f"{self.part_ids[part]}.{bucket % self.spec.page_buckets}"

    def expiry(self, page: int) -> int:
        """When the page may go (epoch s): after its last bucket left the longest window."""
        spec = self.spec
        last_bucket_end_ms = ((page + 1) * spec.page_buckets) * spec.hop_ms
        longest_ms = spec.longest_buckets * spec.hop_ms
        return math.ceil((last_bucket_end_ms + longest_ms) / 1000) + EXPIRY_SLACK_SECONDS

    @cached_property
    def positions(self) -> dict[str, int]:
        """Each part id's position among the view's parts (how a read files a page's attributes)."""
        return {part_id: index for index, part_id in enumerate(self.part_ids.values())}

    def output_parts(self, output: Output) -> tuple[tuple[Part, int], ...]:
        """Each part an output is merged from, with its position (see ``positions``)."""
        return self._output_parts[output]

    @cached_property
    def _output_parts(self) -> dict[Output, tuple[tuple[Part, int], ...]]:
        return {
            output: tuple((part, self.positions[self.part_ids[part]]) for part in output.parts)
            for output in self.spec.outputs
        }

    def decode(self, item: Item, page: int) -> dict[int, Parts]:
        """The page's buckets (bucket index -> its parts)."""
        first = page * self.spec.page_buckets
        by_attribute = {part_id: part for part, part_id in self.part_ids.items()}
        buckets: dict[int, Parts] = {}
        for name, stored in item.items():
            part_id, dot, slot = name.rpartition(".")
            part = by_attribute.get(part_id) if dot else None
            if part is None:
                continue  # the key, the version, the expiry, or a part the view no longer has
            buckets.setdefault(first + int(slot), {})[part] = decode_part(part, stored)
        return buckets


def pages_prefix(namespace_id: str) -> str:
    """What the sort key of every page of a namespace starts with, whatever its geometry."""
    return f"{namespace_id}@"


def encode_part(part: Part, value: Any) -> Item:
    """A part's value as a DynamoDB attribute value."""
    if part.kind == "d":
        return {"B": sketch_bytes(value)}
    return {"N": number_text(value)}


def decode_part(part: Part, stored: Item) -> Any:
    if part.kind == "d":
        data = stored["B"]
        return sketch_from(base64.b64decode(data) if isinstance(data, str) else data)
    text = stored["N"]
    try:
        return int(text)
    except ValueError:
        return float(text)


def number_text(value: int | float) -> str:
    """A number as DynamoDB's N holds it: ints exactly, floats in their shortest round-trip form."""
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 1e126:  # N's range ends at 1e126
        raise ValueError(f"{value!r} is past the range of a DynamoDB number")
    return repr(value + 0.0)  # + 0.0: N has no negative zero


def additive(parts: Parts) -> Parts:
    return {part: value for part, value in parts.items() if part.kind in ADDITIVE}


def update_request(
    table: str,
    key: Item,
    adds: Mapping[str, Any],
    sets: Mapping[str, Item],
    expiry: int,
    version: int | None,
    bump: bool = False,
) -> dict[str, Any]:
    """One UpdateItem of a page: ``ADD`` the additive parts, ``SET`` the merged others and the expiry.

    ``version``: the page's ``_n`` the merged values were computed from; the
    update then holds on condition that it is still that (absent for 0), and
    counts one more. None for an update that holds whatever else wrote
    meanwhile: of additive parts alone, or, with ``bump``, one that replaces
    parts and counts one more, so that writers merging from the values it
    replaced lose their race and read the page again.
    """
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    set_clauses = [_assign(names, values, EXPIRY_ATTR, {"N": str(expiry)})]
    set_clauses += [_assign(names, values, attr, value) for attr, value in sets.items()]
    add_clauses = []
    for attr, number in adds.items():
        name, placeholder = _placeholders(names, values, attr, {"N": number_text(number)})
        add_clauses.append(f"{name} {placeholder}")
    request: dict[str, Any] = {"TableName": table, "Key": key}
    condition = None
    if version is not None or bump:
        name, _ = _placeholders(names, values, VERSION_ATTR, None)
        add_clauses.append(f"{name} :_one")
        values[":_one"] = {"N": "1"}
    if version is not None:
        if version:
            values[":_version"] = {"N": str(version)}
            condition = f"{name} = :_version"
        else:
            condition = f"attribute_not_exists({name})"
    expression = "SET " + ", ".join(set_clauses)
    if add_clauses:
        expression += " ADD " + ", ".join(add_clauses)
    request.update(UpdateExpression=expression, ExpressionAttributeNames=names)
    if values:
        request["ExpressionAttributeValues"] = values
    if condition is not None:
        request["ConditionExpression"] = condition
    return request


def _placeholders(names: dict[str, str], values: dict[str, Any], attr: str, value: Any) -> tuple[str, str]:
    suffix = placeholder_suffix(len(names))
    name = f"#{suffix}"
    names[name] = attr
    placeholder = f":{suffix}"
    if value is not None:
        values[placeholder] = value
    return name, placeholder


def _assign(names: dict[str, str], values: dict[str, Any], attr: str, value: Item) -> str:
    name, placeholder = _placeholders(names, values, attr, value)
    return f"{name} = {placeholder}"
