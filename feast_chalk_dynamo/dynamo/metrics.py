"""Prometheus metrics of the store: every metric defined once here, recorded where its event happens.

They are plain ``Counter``s and ``Histogram``s because of how ``feast serve
--metrics`` collects: Feast puts ``prometheus_client`` in multiprocess mode
(``feast.metrics`` sets ``PROMETHEUS_MULTIPROC_DIR`` before importing it),
each gunicorn worker writes its values to files there, and Feast's metrics
process adds the files up with a ``MultiProcessCollector``. A custom
collector would run only in the process that registered it, which the
metrics process is not. In any other process the metrics sit in the default
registry, and ``snapshot`` reads this process's values.

Recording never fails a read or a write: an error while recording is logged
at debug level and dropped, as Feast does with its own metrics. Labelled
children are looked up once and kept (``labels()`` takes a lock and builds
a key on every call), so the read path pays a dict lookup per request.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec

# feast.metrics must load first (it turns multiprocess mode on): the package's __init__ imports it.
from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

PREFIX = "feast_chalk_dynamo_"
CALL_LABELS = ("table", "region", "operation")
VIEW_LABELS = ("table", "region", "view")

# DynamoDB answers in single-digit milliseconds when healthy; the upper
# buckets catch backoff-length stalls and timeouts.
LATENCY_BUCKETS = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
)  # fmt: skip


def _per_call(name: str, documentation: str, *more_labels: str) -> Counter:
    return Counter(PREFIX + name, documentation, (*CALL_LABELS, *more_labels))


def _per_view(name: str, documentation: str) -> Counter:
    return Counter(PREFIX + name, documentation, VIEW_LABELS)


REQUESTS = _per_call(
    "requests", "Requests sent to DynamoDB by reads and writes, retries and duplicates included"
)
ERRORS = _per_call("errors", "Requests that failed, by DynamoDB error code or connection error class", "code")
THROTTLES = _per_call(
    "throttles", "Requests DynamoDB throttled, and transactions it cancelled for throttling"
)
RETRIES = _per_call(
    "retries",
    "Retries after a backoff, by cause: throttled, server error, connection, unprocessed keys",
    "cause",
)
FAILOVERS = _per_call(
    "failovers", "Requests that failed for good in this region and were sent on to the next one"
)
REQUEST_LATENCY = Histogram(
    PREFIX + "request_latency_seconds",
    "Time from sending a request to its answer or failure (a racer cut off is not timed)",
    CALL_LABELS,
    buckets=LATENCY_BUCKETS,
)
# By the field of caller.CallStats each one counts.
RACING = {
    "duplicates": _per_call("racing_duplicates", "Duplicate requests sent by request racing"),
    "duplicate_wins": _per_call("racing_wins", "Races the duplicate won"),
    "duplicates_denied": _per_call("racing_denied", "Late requests not raced: the racing budget was spent"),
    "duplicates_held_back": _per_call(
        "racing_held_back", "Late requests held back: their siblings were late too"
    ),
}
# By the field of counters.NamespaceCounts each one counts.
NAMESPACE = {
    "cache_hits": _per_view("cache_hits", "Rows answered from a namespace cache"),
    "negative_hits": _per_view("cache_negative_hits", "Rows answered absent from a cached miss"),
    "misses": _per_view("cache_misses", "Rows looked up in a namespace cache and not found"),
    "evictions": _per_view("cache_evictions", "Cache entries pushed out by max_lru_size"),
    "bloom_skips": _per_view("bloom_skips", "Rows answered absent by a Bloom filter, unread"),
    "bloom_false_positives": _per_view(
        "bloom_false_positives", "Rows a Bloom filter let through that DynamoDB did not have"
    ),
    "bloom_false_negatives": _per_view(
        "bloom_false_negatives", "Rows a Bloom filter called absent that DynamoDB had (debug mode)"
    ),
    "reads_saved": _per_view(
        "reads_saved", "Keys a view needed that went to DynamoDB for no view of the read"
    ),
}
# By the field of writes.WriteStats each one counts.
WRITES = {
    "written": _per_view("rows_written", "Rows written"),
    "stale_skipped": _per_view("stale_rows_skipped", "Rows not written because the stored row is newer"),
    "conflict_retries": _per_view("write_conflict_retries", "Writes retried after a TransactionConflict"),
}
# By the field of aggregates.writer.AggregateCounts each one counts.
AGGREGATES = {
    "cache_hits": _per_view(
        "aggregate_update_cache_hits", "Bucket page updates that found the page in the update cache"
    ),
    "cache_misses": _per_view(
        "aggregate_update_cache_misses", "Bucket page updates that read the page first: not in the cache"
    ),
    "cache_evictions": _per_view(
        "aggregate_update_cache_evictions", "Pages pushed out of the update cache by its size"
    ),
    "buckets_updated": _per_view("aggregate_buckets_updated", "Buckets an event (or a backfill) updated"),
    "late_events": _per_view(
        "aggregate_events_late", "Events older than the view's longest window: counted, not applied"
    ),
    "version_conflicts": _per_view(
        "aggregate_version_conflicts", "Page updates retried: another writer merged into the page first"
    ),
}
METRICS: tuple[Counter | Histogram, ...] = (
    REQUESTS, ERRORS, THROTTLES, RETRIES, FAILOVERS, REQUEST_LATENCY,
    *RACING.values(), *NAMESPACE.values(), *WRITES.values(), *AGGREGATES.values(),
)  # fmt: skip

P = ParamSpec("P")


def never_raises(record: Callable[P, None]) -> Callable[P, None]:
    """A recording that fails (a full disk under the multiprocess directory) must not fail the read."""

    @functools.wraps(record)
    def recorded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            record(*args, **kwargs)
        except Exception:  # noqa: BLE001 - metrics are never worth a failed request
            log.debug("recording metric failed", exc_info=True)

    return recorded


@dataclass(frozen=True)
class MetricLabels:
    """Where a recorder's events happen: the table, and the region its requests go to."""

    table: str
    region: str


class _Children:
    """Labelled children of some metrics for one operation or view, each looked up once."""

    def __init__(self, labels: MetricLabels, operation_or_view: str) -> None:
        self._fixed = (labels.table, labels.region, operation_or_view)
        self._children: dict[tuple[Any, ...], Any] = {}

    def get(self, metric: Counter | Histogram, *more: str) -> Any:
        key = (metric, *more)
        child = self._children.get(key)
        if child is None:  # two threads may both look it up: labels() gives both the same child
            child = self._children[key] = metric.labels(*self._fixed, *more)
        return child


class CallMetrics:
    """The request metrics of one ``Caller``: requests, errors, throttles, retries, latency, racing."""

    def __init__(self, labels: MetricLabels) -> None:
        self._labels = labels
        self._operations: dict[str, _Children] = {}

    def _of(self, operation: str) -> _Children:
        children = self._operations.get(operation)
        if children is None:
            children = self._operations[operation] = _Children(self._labels, operation)
        return children

    @never_raises
    def sent(self, operation: str) -> None:
        self._of(operation).get(REQUESTS).inc()

    @never_raises
    def answered(self, operation: str, seconds: float, error_code: str | None, throttled: bool) -> None:
        """One attempt's end: its latency, and how it failed if it did."""
        children = self._of(operation)
        children.get(REQUEST_LATENCY).observe(seconds)
        if error_code is not None:
            children.get(ERRORS, error_code).inc()
        if throttled:
            children.get(THROTTLES).inc()

    @never_raises
    def throttled(self, operation: str) -> None:
        self._of(operation).get(THROTTLES).inc()

    @never_raises
    def retried(self, operation: str, cause: str) -> None:
        self._of(operation).get(RETRIES, cause).inc()

    @never_raises
    def failed_over(self, operation: str) -> None:
        self._of(operation).get(FAILOVERS).inc()

    @never_raises
    def raced(self, operation: str, event: str) -> None:
        """``event``: the ``CallStats`` field counting it (``duplicates``, ``duplicate_wins``, ...)."""
        self._of(operation).get(RACING[event]).inc()


class ViewCounters:
    """One family of per-view counters (``NAMESPACE`` or ``WRITES``) fed the increments of the
    store's own counters of the same names, so the two can never disagree."""

    def __init__(self, family: Mapping[str, Counter], labels: MetricLabels) -> None:
        self._family = family
        self._labels = labels
        self._views: dict[str, _Children] = {}

    @never_raises
    def add(self, view: str, increments: Mapping[str, int]) -> None:
        children = self._views.get(view)
        if children is None:
            children = self._views[view] = _Children(self._labels, view)
        for name, amount in increments.items():
            if amount:
                children.get(self._family[name]).inc(amount)


def snapshot(table: str) -> dict[str, dict[str, float]]:
    """This process's value of every sample for ``table``: sample name -> its other labels -> value.

    Labels are written ``name=value`` joined by commas, in the metric's
    order (``region=us-east-1,operation=BatchGetItem``); histograms give
    their ``_count`` and ``_sum``.
    """
    values: dict[str, dict[str, float]] = {}
    for metric in METRICS:
        for family in metric.collect():
            for sample in family.samples:
                labels = dict(sample.labels)
                if labels.pop("table", None) != table or sample.name.endswith(("_bucket", "_created")):
                    continue
                key = ",".join(f"{name}={value}" for name, value in labels.items())
                values.setdefault(sample.name, {})[key] = sample.value
    return values
