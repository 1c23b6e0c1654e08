"""``feast-chalk-dynamo backfill``: each view's buckets set from its batch source, slice by slice; the report.

Idempotent: a bucket is set, never added to, from every event the source
holds in it, so a second run, or a run after one that was killed, sets the
same values (the source unchanged). So nothing records progress: to finish
an interrupted run, run it again.

Exit status: 0 when every planned bucket was set; 1 when DynamoDB stopped
the run part-way (a request out of retries, writers racing past their
retries); 130 when interrupted. Either way the buckets set so far stay set,
and the same command sets them all. A wrong setup raises ``BackfillError``
(or ``RepoError``) before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TextIO

from tqdm import tqdm

from feast_chalk_dynamo.backfill.plan import Options, Plan, ViewPlan, load_plan, shown
from feast_chalk_dynamo.backfill.source import raw_rows
from feast_chalk_dynamo.errors import AggregateConflicts, RetriesExhausted, WriteIncomplete
from feast_chalk_dynamo.repos import one_line

# The exit status of a run stopped by Ctrl-C, as a shell reports SIGINT.
INTERRUPTED = 130
RERUN = "the buckets set so far stay set: run the same command again to set them all (to the same values)"


@dataclass
class Counts:
    entities: set[str] = field(default_factory=set)
    buckets: int = 0  # (entity, bucket) pairs set
    events: int = 0

    def line(self) -> str:
        return f"{len(self.entities):,} entities, {self.buckets:,} buckets set, {self.events:,} events read"


def backfill(options: Options, out: TextIO, now: Callable[[], float] | None = None) -> int:
    """Run it, printing to ``out``; ``now``: the clock the run starts by (default the store's)."""
    plan = load_plan(options, now)
    try:
        return _run(plan, out)
    finally:
        plan.close()


def _run(plan: Plan, out: TextIO) -> int:
    def say(line: str) -> None:
        print(line, file=out, flush=True)

    settings = plan.settings
    say(
        f"backfill of project {plan.store.project!r} into table {settings.table_name!r} at "
        f"{settings.endpoint_url or 'AWS ' + settings.region}, started {shown(plan.started)}: each bucket "
        "that had closed by then is set from every event its batch source holds in it"
    )
    total = Counts()
    views = 0
    try:
        for view in plan.views:
            counts = _view(plan, view, say)
            views += 1
            total.entities |= counts.entities
            total.buckets += counts.buckets
            total.events += counts.events
    except KeyboardInterrupt:
        say(f"interrupted: {RERUN}")
        return INTERRUPTED
    except (RetriesExhausted, WriteIncomplete, AggregateConflicts) as error:
        say(f"stopped: {one_line(error)}")
        say(RERUN)
        return 1
    say(f"total: {views} views, {total.line()}")
    return 0


def _view(plan: Plan, view: ViewPlan, say: Callable[[str], None]) -> Counts:
    buckets, name = view.buckets, view.view.name
    first, stop = shown(view.time_of(buckets.start)), shown(view.time_of(buckets.stop))
    hop = timedelta(milliseconds=view.spec.hop_ms)
    counts = Counts()
    say(
        f"{name} ({hop} buckets): "
        + (f"{len(buckets):,} buckets from {first} to {stop}" if buckets else "none")
    )
    if buckets.start > view.asked.start:
        say(f"  not set: before {first}, older than the longest window ({view.longest}): no read sees them")
    if buckets.stop < view.asked.stop:
        say(f"  not set: from {stop}, buckets still open when the run started: live pushes fill them")
    if not buckets:
        return counts
    with tqdm(total=len(buckets), unit="bucket", ncols=100, disable=None) as bar:
        for part in view.slices():
            rows = raw_rows(plan.store, view.view, view.time_of(part.start), view.time_of(part.stop))
            whole = plan.online_store.set_buckets(plan.config, view.view, rows, part)
            counts.entities |= whole.newest.keys()
            counts.buckets += len(whole.parts)
            counts.events += whole.events
            bar.update(len(part))
    say(f"  {counts.line()}")
    return counts
