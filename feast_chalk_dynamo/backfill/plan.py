"""What a backfill works on: the repo, its windowed views and the buckets of each to set, all checked first.

Every way the setup can be wrong (no repo, a repo on another store, a view
that is not there or not windowed, times the wrong way round or still to
come, a missing table) is found here, before an event is read, and said as a
``BackfillError`` naming the fix.

The buckets of a view are those ``[start, end)`` overlaps, each whole: a
bucket the range only partly covers is read and set whole, since one set
from part of its events would lose the rest. Left out are the buckets that
had not closed when the run started (the current one, which live pushes are
adding to: a backfill never races them for it) and those already older than
the view's longest window then (no read would ever see them; a push drops
such events as late).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from feast import FeatureStore
from feast.repo_config import RepoConfig

from feast_chalk_dynamo.aggregates.spec import WindowedView, is_windowed
from feast_chalk_dynamo.backfill.errors import BackfillError
from feast_chalk_dynamo.errors import InvalidWindowedView
from feast_chalk_dynamo.items.slots import datetime_to_micros, micros_to_datetime
from feast_chalk_dynamo.repos import guarded_writes, load_store, with_online_store
from feast_chalk_dynamo.store import ChalkDynamoOnlineStore, ChalkDynamoOnlineStoreConfig
from feast_chalk_dynamo.windowed import spec_of


@dataclass(frozen=True)
class Options:
    repo: Path
    start: datetime  # timezone-aware
    end: datetime
    views: list[str] | None = None  # None: every windowed view of the project


@dataclass(frozen=True)
class ViewPlan:
    """One view: its buckets, those ``[start, end)`` overlaps and those of them the run sets."""

    view: Any  # a feature view with aggregations, as the registry has it
    spec: WindowedView
    asked: range
    buckets: range  # closed when the run started, within the longest window then

    @property
    def longest(self) -> timedelta:
        return timedelta(milliseconds=self.spec.longest_buckets * self.spec.hop_ms)

    def time_of(self, bucket: int) -> datetime:
        """When ``bucket`` starts (UTC)."""
        return micros_to_datetime(bucket * self.spec.hop_ms * 1000)

    def slices(self) -> Iterator[range]:
        """The buckets to set, a page's worth at a time: each slice is read, folded and set on its own,
        so a run holds one slice's events, and writes each page of an entity once per slice."""
        spec = self.spec
        for page in range(spec.page_of(self.buckets.start), spec.page_of(self.buckets.stop - 1) + 1):
            first, stop = page * spec.page_buckets, (page + 1) * spec.page_buckets
            yield range(max(first, self.buckets.start), min(stop, self.buckets.stop))


@dataclass
class Plan:
    store: FeatureStore
    settings: ChalkDynamoOnlineStoreConfig
    config: RepoConfig  # the repo's, with every write guarded: an entity's newer event time stays
    online_store: ChalkDynamoOnlineStore
    started: datetime
    views: list[ViewPlan]

    def close(self) -> None:
        _close(self.online_store, self.store)


def _close(online_store: ChalkDynamoOnlineStore, store: FeatureStore) -> None:
    online_store.close_engines()
    asyncio.run(store.close())


def load_plan(options: Options, now: Callable[[], float] | None = None) -> Plan:
    """The checked plan; ``now``: the clock the run starts by (default the store's engine's)."""
    if options.start >= options.end:
        raise BackfillError(
            f"--start {shown(options.start)} is not before --end {shown(options.end)}: give the range "
            "of event times to backfill, oldest first"
        )
    store, settings = load_store(options.repo)
    online_store = ChalkDynamoOnlineStore()
    try:
        config = with_online_store(store.config, guarded_writes(settings))
        views = _views(store, options.views)
        engine = online_store.engine(config)
        if not engine.admin.exists():
            raise BackfillError(
                f"this store's table {settings.table_name!r} does not exist at "
                f"{settings.endpoint_url or 'AWS ' + settings.region}: run `feast apply` first (it creates "
                "the table when create_tables_if_not_exists is on), or provision it (README, "
                "'Provisioning the table')"
            )
        started = datetime.fromtimestamp((now or engine.now)(), tz=timezone.utc)
        if options.start >= started:
            raise BackfillError(
                f"--start {shown(options.start)} is not before the time the backfill started "
                f"({shown(started)}): it sets only buckets that have closed"
            )
        plans = [_view_plan(view, options, started) for view in views]
        if not any(plan.buckets for plan in plans):
            longest = ", ".join(f"{plan.view.name!r}: {plan.longest}" for plan in plans)
            raise BackfillError(
                f"nothing to set: no bucket of {shown(options.start)} to {shown(options.end)} had closed "
                f"by {shown(started)} and was within the longest window then ({longest}), older buckets "
                "being ones no read sees"
            )
    except BaseException:
        _close(online_store, store)
        raise
    return Plan(store, settings, config, online_store, started, plans)


def _views(store: FeatureStore, names: list[str] | None) -> list[Any]:
    """The views to backfill: those named, each refused unless it is a windowed view served online."""
    project, registry = store.project, store.registry
    candidates = [*registry.list_stream_feature_views(project), *registry.list_feature_views(project)]
    online = {view.name: view for view in candidates if view.online and getattr(view, "enabled", True)}
    windowed = sorted(name for name, view in online.items() if is_windowed(view))
    if names is None:
        if not windowed:
            raise BackfillError(
                f"the project {project!r} has no windowed views (stream feature views with aggregations) "
                "to backfill; `feast materialize` writes the others"
            )
        names = windowed
    if not names:
        raise BackfillError("--views names no view: name some, or leave it out for every windowed view")
    chosen = []
    for name in dict.fromkeys(names):
        view = online.get(name)
        if view is None:
            raise BackfillError(
                f"--views names {name!r}, which the project {project!r} has no online feature view of; its "
                f"windowed views are {windowed}"
            )
        if not is_windowed(view):
            raise BackfillError(
                f"view {name!r} has no aggregations: backfill sets the buckets of windowed views (stream "
                f"feature views with aggregations: {windowed}); `feast materialize` writes the others"
            )
        if view.batch_source is None:
            raise BackfillError(f"view {name!r} has no batch source to read its events from")
        chosen.append(view)
    return chosen


def _view_plan(view: Any, options: Options, started: datetime) -> ViewPlan:
    try:
        spec = spec_of(view)
    except InvalidWindowedView as error:
        raise BackfillError(f"{error} (then `feast apply`)") from error
    return ViewPlan(view, spec, *buckets_to_set(spec, options.start, options.end, started))


def buckets_to_set(
    spec: WindowedView, start: datetime, end: datetime, started: datetime
) -> tuple[range, range]:
    """The buckets ``[start, end)`` overlaps, and those of them a run that started at ``started`` sets."""
    # From the bucket the start is in to the last one the end (exclusive) reaches into.
    stop = -(-datetime_to_micros(end) // (spec.hop_ms * 1000))
    asked = range(spec.bucket_of(datetime_to_micros(start)), stop)
    open_bucket = spec.bucket_of(datetime_to_micros(started))
    oldest = open_bucket - spec.longest_buckets + 1
    return asked, range(max(asked.start, oldest), min(asked.stop, open_bucket))


def shown(time: datetime) -> str:
    return time.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
