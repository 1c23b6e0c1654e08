"""``feast-chalk-dynamo migrate``: copy a repo's rows from Feast's DynamoDB store (see ``migrate``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from feast_chalk_dynamo.cli.shared import add_repo_argument
from feast_chalk_dynamo.migrate import Options, migrate
from feast_chalk_dynamo.migrate.state import DEFAULT_NAME


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "migrate",
        help="copy a repo's rows from Feast's DynamoDB store into this store",
        description=(
            "Copy every online feature view's rows from the tables of Feast's built-in DynamoDB store "
            "(one per view, <project>.<view>, and with versioning one per version, <project>.<view>_v<N>) "
            "into this store's table, through its guarded bulk write path: a row never replaces a newer "
            "one already there. Run it after switching "
            "feature_store.yaml's online_store to this store (and `feast apply`). Resumable: rerun the "
            "same command after an interruption. Feast's tables are only read."
        ),
    )
    add_repo_argument(parser)
    parser.add_argument(
        "--from-table-prefix",
        dest="table_prefix",
        help="prefix of Feast's table names, before the view's name (default: '<project>.', "
        "as Feast's default table_name_template '{project}.{table_name}')",
    )
    parser.add_argument(
        "--from-region",
        dest="source_region",
        help="region of Feast's tables (default: the repo's online_store region)",
    )
    parser.add_argument(
        "--from-endpoint-url",
        dest="source_endpoint_url",
        help="endpoint of Feast's tables (default: the repo's online_store endpoint_url, else AWS)",
    )
    parser.add_argument(
        "--views",
        action="append",
        metavar="VIEW[,VIEW...]",
        help="migrate only these feature views, each with every version (repeatable; default: every "
        "online view)",
    )
    parser.add_argument(
        "--entities",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="parquet or CSV file of join-key columns: entity keys that are in no view's batch source "
        "(pushed or streamed only); repeatable",
    )
    parser.add_argument(
        "--segments",
        type=int,
        default=4,
        help="Scan segments per table, scanned in parallel, 1 to 1000 (default 4)",
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=1000,
        help="items per Scan page, the unit the state file records (default 1000)",
    )
    parser.add_argument("--state", type=Path, help=f"the resume file (default: <repo>/{DEFAULT_NAME})")
    parser.add_argument("--restart", action="store_true", help="ignore the state file and start over")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing: report the items, bytes and capacity units before and after",
    )
    parser.add_argument(
        "--verify",
        type=int,
        default=0,
        metavar="N",
        help="after migrating, read N sampled entities through both stores and print every difference",
    )
    parser.add_argument("--seed", type=int, help="seed of --verify's sample (default: random)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    views = (
        [name.strip() for names in args.views for name in names.split(",") if name.strip()]
        if args.views
        else None
    )
    options = Options(
        repo=args.repo,
        views=views,
        entities=args.entities,
        table_prefix=args.table_prefix,
        source_region=args.source_region,
        source_endpoint_url=args.source_endpoint_url,
        segments=args.segments,
        page_size=args.page_size,
        state=args.state,
        restart=args.restart,
        dry_run=args.dry_run,
        verify=args.verify,
        seed=args.seed,
    )
    return migrate(options, sys.stdout)
