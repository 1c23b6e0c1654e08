"""``feast-chalk-dynamo migrate``: the options checked, the plan loaded, the copy or the dry run run.

Exit status: 0 when every row landed (or was stale) with every value and
verification found no difference; 1 when rows failed, a value was not copied
(``typed_rows``), a segment stopped on an error, or verification differed;
130 when interrupted (the state file holds every page done: run the same
command again to resume). Bad input raises ``MigrationError`` before
anything is read or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from feast_chalk_dynamo.migrate.copying import Copy
from feast_chalk_dynamo.migrate.dry_run import DryRun
from feast_chalk_dynamo.migrate.errors import MigrationError
from feast_chalk_dynamo.migrate.keys import file_columns
from feast_chalk_dynamo.migrate.repo import Plan, load_plan
from feast_chalk_dynamo.migrate.session import Options
from feast_chalk_dynamo.sources import join_keys

# Each segment is scanned on its own thread.
MAX_SEGMENTS = 1000


def migrate(options: Options, out: TextIO) -> int:
    entity_files = _check_options(options)
    plan = load_plan(
        options.repo.resolve(), options.views, options.table_prefix, options.source_region,
        options.source_endpoint_url, options.segments,
    )  # fmt: skip
    try:
        _check_entity_files(plan, entity_files)
        session = (DryRun if options.dry_run else Copy)(plan, options, entity_files, out)
        # After the repo and entity files are checked: a wrong setup is its error alone.
        for note in plan.skipped:
            print(f"skipped {note}", file=out)
        return session.run()
    finally:
        plan.close()


def _check_options(options: Options) -> list[Path]:
    if not 1 <= options.segments <= MAX_SEGMENTS:
        raise MigrationError(f"--segments takes 1 to {MAX_SEGMENTS} (a thread each), not {options.segments}")
    if options.page_size is not None and options.page_size < 1:
        raise MigrationError(f"--page-size must be at least 1, not {options.page_size}")
    if options.verify < 0:
        raise MigrationError(f"--verify takes a number of entities, not {options.verify}")
    files = [path.resolve() for path in options.entities]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise MigrationError(f"--entities file(s) not found: {', '.join(missing)}")
    return files


def _check_entity_files(plan: Plan, files: list[Path]) -> None:
    """Refuse a file no set of views can use: a misspelt column would otherwise resolve nothing, silently."""
    key_sets = [sorted(join_keys(group[0].view)) for group in plan.groups()]
    for path in files:
        columns = file_columns(path)
        if not any(set(keys) <= columns for keys in key_sets):
            raise MigrationError(
                f"--entities file {path} has columns {sorted(columns)}, not all the join keys of "
                f"any migrated view ({' or '.join(', '.join(keys) for keys in key_sets)})"
            )
