"""``feast-chalk-dynamo``: operator commands, a module each. The store never imports this package.

Every command says a wrong setup (a repo path that is not a repo, a repo on
another store, a table that is missing or does not answer, a bad option) in
one line on stderr and exits 2, and prints what a user needs and no library
noise: library loggers are held to warnings while a command runs.
"""

from __future__ import annotations

import sys

from feast_chalk_dynamo.backfill import BackfillError
from feast_chalk_dynamo.cli import (
    inspect_entity,
    plan_capacity,
    run_backfill,
    run_bench,
    run_migrate,
    show_config,
    write_terraform,
)
from feast_chalk_dynamo.cli.parsing import OneLineErrors
from feast_chalk_dynamo.cli.shared import CliError, quiet_libraries
from feast_chalk_dynamo.errors import ConnectionFailed, ServerErrors
from feast_chalk_dynamo.migrate import MigrationError
from feast_chalk_dynamo.repos import RepoError

COMMANDS = (show_config, plan_capacity, write_terraform, inspect_entity, run_bench, run_migrate, run_backfill)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrors(prog="feast-chalk-dynamo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command's parser, which points to the command's --help
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    with quiet_libraries():
        try:
            code: int = args.run(args)
        # The store's own failures to reach DynamoDB (a dead endpoint_url, migrate's --from-endpoint-url).
        except (CliError, MigrationError, BackfillError, RepoError, ConnectionFailed, ServerErrors) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
