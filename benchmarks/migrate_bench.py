"""``python -m benchmarks.migrate_bench``: ``feast-chalk-dynamo migrate`` on dynalite, with mixed data.

One run starts dynalite on a loopback port, writes the benchmarks' mixed
data set (``dataset.MIXED``: 5 views of 20 features, floats, ints, strings,
lists and a map) as parquet, materializes it into Feast's own
DynamoDB store, switches the repo to this store (``feast apply``) and runs
the command three times, as an operator would: ``--dry-run``, the migration
(timed), then ``--verify`` of every entity. It prints rows per second,
storage before (Feast's tables) and after (this store's entity items), both
measured by scanning, beside the dry run's estimate, and what verification
compared. dynalite has no TransactWriteItems, so the guarded writes go as one
conditional UpdateItem per row (the store's fallback), and its one thread
applying them is what the copy waits for. So the copy is then run again from
the start onto the SIMULATED endpoint (``benchmarks.simulated_dynamodb``: this
store's writes answered after 8 ms with unlimited concurrency, as DynamoDB's
from the same region; Feast's tables still scanned on dynalite), which shows
the client's own pace: transactions, pages written at once. Only ratios
within a run mean anything, and nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from benchmarks import dataset, feature_stores
from benchmarks.read_bench import log
from benchmarks.simulated_dynamodb import SimulatedDynamo
from benchmarks.simulated_dynamodb.server import DEFAULT_DELAY_MS
from feast_chalk_dynamo.items.codec import item_size
from feast_chalk_dynamo.items.layout import ENTITY_SK, SK
from feast_chalk_dynamo.migrate import Options, migrate
from feast_chalk_dynamo.planning.item_sizes import STORAGE_OVERHEAD_BYTES
from tests.servers import start_dynalite

SEED = 20241105
DATA = dataset.MIXED
DEFAULT_ENTITIES = 2_000


def scan(endpoint_url: str, table: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=feature_stores.REGION)
    try:
        return [
            item for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]
        ]
    finally:
        client.close()


def storage(items: list[dict[str, Any]]) -> tuple[int, int]:
    """(items, bytes) by DynamoDB's size rules."""
    return len(items), sum(map(item_size, items))


def command(repo: Path, **options: Any) -> str:
    """One ``feast-chalk-dynamo migrate`` run's report; a failed run stops the benchmark."""
    out = io.StringIO()
    code = migrate(Options(repo=repo, **options), out)
    report = out.getvalue()
    if code != 0:
        raise SystemExit(f"migrate {options} exited {code}:\n{report}")
    return report


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise SystemExit(f"the report has no {pattern!r}:\n{text}")
    return match.group(1)


def number(text: str) -> int:
    return int(text.replace(",", ""))


def copied(report: str) -> tuple[int, float, int]:
    """A copying run's (rows scanned, seconds, rows/s), from its report."""
    match = re.search(r"this run scanned ([\d,]+) rows in ([\d.]+) s of copying \(([\d,]+) rows/s\)", report)
    if match is None:
        raise SystemExit(f"the report has no rows/s:\n{report}")
    rows, seconds, rate = match.groups()
    return number(rows), float(seconds), number(rate)


def simulated_copy(repo: Path, backend_url: str, segments: int, page_size: int) -> tuple[int, float, int]:
    """The copy again from the start, this store's endpoint a simulator in front of ``backend_url``;
    Feast's tables are scanned on the backend itself. What it copied, as ``copied``."""
    yaml_path = repo / "feature_store.yaml"
    yaml = json.loads(yaml_path.read_text())
    with SimulatedDynamo(backend_url) as sim:
        yaml["online_store"]["endpoint_url"] = sim.url
        yaml_path.write_text(json.dumps(yaml))
        report = command(
            repo, segments=segments, page_size=page_size, restart=True, source_endpoint_url=backend_url
        )
    return copied(report)


def prepare(tmp: Path, endpoint_url: str, entities: int) -> Path:
    """Feast's store materialized with the data, and a repo switched to this store; the repo's path."""
    now = dataset.utc_now()
    data_dir = tmp / "data"
    data_dir.mkdir()
    DATA.write_sources(data_dir, DATA.driver_ids(entities), SEED, now)
    registry = tmp / "registry.db"
    started = time.perf_counter()
    feast = feature_stores.applied_store(
        feature_stores.feast_config(registry, endpoint_url), [DATA], data_dir
    )
    feast.materialize(*dataset.materialize_window(now))
    feature_stores.close(feast)
    log(f"materialized {entities:,} entities x {DATA.n_views} views into Feast's DynamoDB store "
        f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    repo = tmp / "repo"
    repo.mkdir()
    config = feature_stores.our_config(registry, endpoint_url)
    yaml = {
        "project": config.project,
        "provider": "local",
        "registry": str(registry),
        "online_store": config.online_config,
        "entity_key_serialization_version": 3,
    }
    (repo / "feature_store.yaml").write_text(json.dumps(yaml))  # JSON is YAML
    feature_stores.close(feature_stores.applied_store(config, [DATA], data_dir))
    return repo


def run(entities: int, segments: int, page_size: int) -> None:
    feature_stores.use_fake_aws_credentials()
    server = start_dynalite()
    try:
        url = server.endpoint.url
        with tempfile.TemporaryDirectory(prefix="migrate-bench-") as tmp:
            repo = prepare(Path(tmp), url, entities)
            feast_tables = [f"{feature_stores.PROJECT}.{view}" for view in DATA.view_names()]
            before = storage([item for table in feast_tables for item in scan(url, table)])

            dry = command(repo, dry_run=True, segments=segments, page_size=page_size)
            estimated = number(found(r"storage after:  [\d,]+ items, ([\d,]+) bytes", dry))
            started = time.perf_counter()
            report = command(repo, segments=segments, page_size=page_size)
            wall = time.perf_counter() - started
            rows, seconds, rate = copied(report)
            after = storage(
                [item for item in scan(url, feature_stores.OUR_TABLE) if item[SK]["S"] == ENTITY_SK]
            )
            checked = command(repo, verify=entities, seed=SEED)
            verified = found(r"(verified .*)", checked)
            sim_rows, sim_seconds, sim_rate = simulated_copy(repo, url, segments, page_size)
    finally:
        server.stop()

    log(f"\n== feast-chalk-dynamo migrate on dynalite: {entities:,} entities x {DATA.n_views} views "
        f"of {len(DATA.features)} mixed features ({DATA.summary}) ==")  # fmt: skip
    log(found(r"(total: .*)", report))
    log(f"copying: {rows:,} rows in {seconds:.1f} s, {rate:,} rows/s "
        f"({segments} Scan segments, pages of {page_size}; guarded UpdateItem per row: dynalite has no "
        f"transactions); the whole command {wall:.1f} s, key index included")  # fmt: skip
    log(f"copying onto a SIMULATED DynamoDB ({DEFAULT_DELAY_MS:g} ms a write, unlimited concurrency; "
        f"transactions of 100 guarded updates): {sim_rows:,} rows in {sim_seconds:.1f} s, {sim_rate:,} "
        f"rows/s ({sim_rate / max(1, rate):.1f}x dynalite's)")  # fmt: skip
    for label, (items, size) in (("before, Feast's tables", before), ("after, this store     ", after)):
        billed_bytes = size + items * STORAGE_OVERHEAD_BYTES
        log(f"storage {label}: {items:>7,} items {size:>12,} bytes  ({billed_bytes:,} billed, "
            f"{STORAGE_OVERHEAD_BYTES} B per item; {size / max(1, items):,.0f} B per item)")  # fmt: skip
    billed = [size + items * STORAGE_OVERHEAD_BYTES for items, size in (before, after)]
    log(f"after / before: items {after[0] / before[0]:.2f}x, bytes {after[1] / before[1]:.2f}x, "
        f"billed bytes {billed[1] / billed[0]:.2f}x")  # fmt: skip
    log(f"--dry-run estimated {estimated:,} bytes after ({estimated / after[1]:.3f}x the measured size)")
    log(verified)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--entities", type=int, default=DEFAULT_ENTITIES, help="drivers (default %(default)s)"
    )
    parser.add_argument("--segments", type=int, default=4, help="Scan segments (default %(default)s)")
    parser.add_argument("--page-size", type=int, default=1000, help="Scan page size (default %(default)s)")
    args = parser.parse_args(argv)
    run(args.entities, args.segments, args.page_size)


if __name__ == "__main__":
    main()
