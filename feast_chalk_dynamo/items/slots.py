"""A feature as it sits on an item, and the observed-at times items hold.

Shared by the read and the write path (and migrate and planning, which
encode rows as a write would), so it lives below all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class FeatureSlot:
    """A feature: its name, its attribute (None if never registered), its ``Value`` field."""

    name: str
    attr: str | None
    field: str


def micros_to_datetime(micros: int) -> datetime:
    # timedelta arithmetic is exact; fromtimestamp(float) is not past ~2**53 µs.
    return EPOCH + timedelta(microseconds=micros)


def datetime_to_micros(moment: datetime) -> int:
    if moment.tzinfo is None:  # Feast's convention: naive means UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // timedelta(microseconds=1)
