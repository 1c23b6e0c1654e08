"""Capacity units from item sizes, by DynamoDB's billing rules.

Reads are billed per 4 KB of item (eventually consistent reads at half a
unit), writes per 1 KB; so what the layout saves in bytes is what an
operator saves in RCU and WCU.
"""

from __future__ import annotations

import math

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024


def read_units(item_bytes: int, consistent: bool = False) -> float:
    """RCU to read one item of ``item_bytes`` (a missing item still costs the minimum)."""
    units = max(1, math.ceil(item_bytes / READ_UNIT_BYTES))
    return units if consistent else units / 2


def write_units(item_bytes: int) -> int:
    """WCU to write one item of ``item_bytes``; an UpdateItem is billed on the larger of old and new."""
    return max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES))
