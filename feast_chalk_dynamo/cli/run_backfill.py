"""``feast-chalk-dynamo backfill``: set windowed views' buckets from their batch sources (``backfill``)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from feast_chalk_dynamo.backfill import Options, backfill
from feast_chalk_dynamo.cli.shared import add_repo_argument


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "backfill",
        help="set windowed views' buckets from the raw events of their batch sources",
        description=(
            "For each windowed view (a stream feature view with aggregations), read the raw events of its "
            "batch source from START to END through the repo's offline store, and set every bucket they "
            "fall in (whole buckets: one the range only partly covers is read whole) to what those events "
            "make it, replacing what it held. Only buckets that closed before the run started are set, so "
            "it never races live pushes for the current one; buckets older than the view's longest window "
            "are left out. Idempotent: run it again, after an interruption too, and it sets the same "
            "values. Exit status 0; 1 when DynamoDB stopped it part-way, 130 when interrupted (run it "
            "again); 2 for a wrong repo, view, time or table."
        ),
    )
    add_repo_argument(parser)
    parser.add_argument(
        "--views",
        action="extend",
        nargs="+",
        metavar="VIEW",
        help="backfill only these windowed views (names, or comma-separated; default: every windowed view)",
    )
    for option, what in (
        ("--start", "the oldest event time to read"),
        ("--end", "the event time to read up to, not included"),
    ):
        parser.add_argument(
            option,
            type=event_time,
            required=True,
            metavar="TIME",
            help=f"{what}: ISO 8601, as `feast materialize` takes it (2024-05-01T00:00:00; UTC unless it "
            "gives an offset)",
        )
    parser.set_defaults(run=run)


def event_time(text: str) -> datetime:
    """An ISO 8601 time; naive means UTC, as Feast takes it."""
    try:
        time = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (such as 2024-05-01T00:00:00 or 2024-05-01T00:00:00+02:00)"
        ) from None
    return time if time.tzinfo is not None else time.replace(tzinfo=timezone.utc)


def run(args: argparse.Namespace) -> int:
    views = (
        [name.strip() for names in args.views for name in names.split(",") if name.strip()]
        if args.views
        else None
    )
    return backfill(
        Options(repo=args.repo.resolve(), start=args.start, end=args.end, views=views), sys.stdout
    )
