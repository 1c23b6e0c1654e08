"""``feast-chalk-dynamo config``: every knob's effective value and where it came from."""

from __future__ import annotations

import argparse
from pathlib import Path

from feast_chalk_dynamo.repos import load_config
from feast_chalk_dynamo.settings import describe


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "config",
        help="print the effective configuration and its sources",
        description=(
            "Print every knob of the repo's online_store section: its DYNAMODB_* environment variable, "
            "its effective value, and where the value came from (env, yaml or default; the environment "
            "wins over the yaml). Reads nothing but the yaml and the environment. Exit status 0, or 2 "
            "for a wrong repo or an invalid section."
        ),
    )
    parser.add_argument(
        "repo", type=Path, nargs="?", help="the Feast repo directory (default: the current one)"
    )
    parser.add_argument(
        "--repo", dest="repo_option", type=Path, help="the same, as the other commands take it"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    repo: Path = args.repo_option or args.repo or Path(".")
    _, settings = load_config(repo.resolve())
    rows = [(name, variable, repr(value), source) for name, variable, value, source in describe(settings)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for name, variable, value, source in rows:
        print(f"{name:<{widths[0]}}  {variable:<{widths[1]}}  {value:<{widths[2]}}  {source}")
    return 0
