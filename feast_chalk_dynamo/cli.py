"""``feast-chalk-dynamo``: operator commands. Nothing imports this module."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from feast.repo_config import load_repo_config

from feast_chalk_dynamo.settings import describe
from feast_chalk_dynamo.store import ChalkDynamoOnlineStoreConfig


def show_config(repo: Path) -> int:
    """Print every knob's effective value and where it came from (env, yaml or default)."""
    config = load_repo_config(repo, repo / "feature_store.yaml")
    settings = config.online_store
    if not isinstance(settings, ChalkDynamoOnlineStoreConfig):
        print(f"{repo}/feature_store.yaml does not use feast_chalk_dynamo's online store", file=sys.stderr)
        return 2
    rows = [(name, variable, repr(value), source) for name, variable, value, source in describe(settings)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for name, variable, value, source in rows:
        print(f"{name:<{widths[0]}}  {variable:<{widths[1]}}  {value:<{widths[2]}}  {source}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="feast-chalk-dynamo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    config = commands.add_parser("config", help="print the effective configuration and its sources")
    config.add_argument("repo", type=Path, nargs="?", default=Path("."), help="Feast repo directory")
    args = parser.parse_args(argv)
    return show_config(args.repo.resolve())


if __name__ == "__main__":
    sys.exit(main())
