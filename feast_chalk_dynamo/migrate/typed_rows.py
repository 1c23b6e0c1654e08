"""A row of Feast's table as this store writes it: each value under every feature that reads it, typed.

A version's table is read by the version's own definition (``view@vN:feature``)
and, when the current definition reads it too, by that one (``view:feature``,
see ``versions``); the two may declare a feature differently (``rate: Int64``
then, ``Float64`` now). This store keeps a feature per name and dtype, each
decoded as its dtype, so the readers' layouts are merged into one write,
keyed by attribute id (one per name and dtype of the namespace), and each
value is typed for each feature of its name (``retype``). One write per row,
not one per reader: a wide view's row is one map attribute, which a second
write would replace.

A value a feature cannot take is written as null there, so no older value
stays under this row's time, and is said; the rest of the row is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feast_chalk_dynamo.items.slots import FeatureSlot
from feast_chalk_dynamo.migrate.retype import NotConvertible, conform
from feast_chalk_dynamo.writes import WriteLayout


@dataclass(frozen=True)
class Refused:
    """A value not copied: the features that read it (``view@v0:rate``) and why."""

    features: str
    reason: str


class RowTyper:
    """``readers``: (how reads name a definition, its write layout), every layout of one namespace."""

    def __init__(self, readers: Sequence[tuple[str, WriteLayout]]) -> None:
        namespaces = {layout.view for _, layout in readers}
        assert len(namespaces) == 1, namespaces  # one table is one namespace
        slots: dict[str, FeatureSlot] = {}
        references: dict[str, list[str]] = {}
        for label, layout in readers:
            for slot in layout.features.values():
                if slot.attr is not None:  # a feature without an id is never written
                    slots.setdefault(slot.attr, slot)
                    references.setdefault(slot.attr, []).append(f"{label}:{slot.name}")
        # The write layout: the first reader's namespace, timestamp and expiry, every reader's features.
        self.layout = replace(readers[0][1], features=slots)
        self._references = {attr: ", ".join(names) for attr, names in references.items()}

    def __call__(self, values: Mapping[str, ValueProto]) -> tuple[dict[str, ValueProto], list[Refused]]:
        """The row's values keyed as ``layout.features``, and the values refused."""
        typed: dict[str, ValueProto] = {}
        refused: list[Refused] = []
        for attr, slot in self.layout.features.items():
            value = values.get(slot.name)
            if value is None:
                continue  # a feature the row lacks is left as it is, as a write of the row leaves it
            try:
                typed[attr] = conform(value, slot.field)
            except NotConvertible as error:
                typed[attr] = ValueProto()
                refused.append(Refused(self._references[attr], str(error)))
        return typed, refused
