"""What a migration prints: counts per table, the dry run's sizes, and the lines tests read back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from feast_chalk_dynamo.migrate.counts import Counts, NotCopied
from feast_chalk_dynamo.migrate.sizing import Estimate, TableSizes
from feast_chalk_dynamo.planning.item_sizes import STORAGE_OVERHEAD_BYTES


def grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell; the first left-aligned, the rest right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells).rstrip()

    return [line(header), *map(line, rows)]


def counts_grid(rows: Sequence[tuple[str, str, Counts]]) -> list[str]:
    """Per table (name, the view or version it holds, counts): a line each."""
    header = ("Feast's table", "view", "read", "written", "stale", "unresolved", "not written", "unstorable")
    return grid(
        header,
        [
            (
                name,
                label,
                *(f"{n:,}" for n in (c.read, c.written, c.stale, c.unresolved, c.not_written, c.unstorable)),
            )
            for name, label, c in rows
        ],
    )


def summary(counts: Counts, not_copied: int) -> str:
    return (
        f"total: {counts.read:,} rows read, {counts.written:,} written, {counts.stale:,} skipped as stale "
        f"(this store held a newer row), {counts.failed:,} failed ({counts.unresolved:,} with an "
        f"unresolved entity key, {counts.not_written:,} not written, {counts.unstorable:,} unstorable); "
        f"{not_copied:,} values of written rows not copied"
    )


def not_copied_lines(not_copied: NotCopied, dry_run: bool = False) -> list[str]:
    """Per feature, the values that cannot be typed as it declares, the first with their entities; and
    what to do, which is not to run again: a rerun would meet the same values."""
    what = "values a migration would not copy" if dry_run else "values not copied"
    lines = [f"{what} (not exactly of their feature's declared type; written as null):"]
    for feature, count in sorted(not_copied.counts.items()):
        lines.append(f"  {feature}: {count:,} (first: {'; '.join(not_copied.examples.get(feature, []))})")
    fate = "would not be copied, by any run" if dry_run else "were not copied, nor would a rerun copy them"
    lines.append(
        f"{not_copied.total:,} values {fate}: write them as their features declare (feast materialize, or "
        "a push, of those entities), or declare the types they have (README, 'Values of another type than "
        "declared')"
    )
    return lines


def _storage(items: int, size: int) -> str:
    billed = size + items * STORAGE_OVERHEAD_BYTES
    return f"{items:,} items, {size:,} bytes ({billed:,} billed with {STORAGE_OVERHEAD_BYTES} B per item)"


def estimate_lines(
    join_keys: Sequence[str], labels: Mapping[str, str], tables: dict[str, TableSizes], estimate: Estimate,
    transactional: bool,
) -> list[str]:  # fmt: skip
    """The dry run of one set of views keyed alike (``labels``: table -> the view or version it holds)."""
    per_table = grid(
        ("Feast's table", "view", "items", "bytes", "avg bytes"),
        [
            (name, labels[name], f"{t.items:,}", f"{t.bytes:,}", f"{t.bytes / max(1, t.items):,.0f}")
            for name, t in tables.items()
        ],
    )
    e = estimate
    twice = " (x2 with transactional bulk writes, check_ts_for_bulk_writes: true)" if transactional else ""
    return [
        f"entities keyed by {', '.join(join_keys)}: {e.entities:,} with rows",
        *("  " + line for line in per_table),
        f"  storage before: {_storage(e.feast_items, e.feast_bytes)}",
        f"  storage after:  {_storage(e.our_items, e.our_bytes)}; "
        f"{e.our_bytes / max(1, e.our_items):,.0f} bytes per entity item",
        f"  read units to read every view of an entity:  before {e.read_units_before:.2f}, "
        f"after {e.read_units_after:.2f}",
        f"  write units to write every view of an entity: before {e.write_units_before:.2f}, after "
        f"{e.write_units_after_from_empty:.2f} from empty (as this migration writes), "
        f"{e.write_units_after_full:.2f} onto a full item (later materializations){twice}",
    ]
