"""What the namespace caches and Bloom filters did, per namespace, for ``namespace_counters`` and metrics.

One lock per namespace: a read bumps a handful of counters once per
request (not per key), so the lock is cheap, and ``+=`` on a shared int is
not atomic across threads. Every increment also goes to the Prometheus
counters of the same name (``metrics.NAMESPACE``), from this one place.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field

from feast_chalk_dynamo.dynamo.metrics import NAMESPACE, MetricLabels, ViewCounters


@dataclass
class NamespaceCounts:
    """Running totals for one namespace (feature view)."""

    cache_hits: int = 0  # (key, view) answered from a cached row
    negative_hits: int = 0  # (key, view) answered absent from a cached miss
    misses: int = 0  # (key, view) looked up in the cache and not there (or stale)
    evictions: int = 0  # entries pushed out by max_lru_size (expiry is not eviction)
    bloom_skips: int = 0  # (key, view) answered absent by the Bloom filter, with no read
    bloom_false_positives: int = 0  # the filter said "maybe", DynamoDB had no row
    bloom_false_negatives: int = 0  # the filter said "absent", DynamoDB had the row (debug mode)
    reads_saved: int = 0  # keys this view needed that went to DynamoDB for no view of the request


@dataclass
class NamespaceCounters:
    counts: NamespaceCounts = field(default_factory=NamespaceCounts)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The namespace's Prometheus counters and its name there; None: not exported (unit tests).
    exported: tuple[ViewCounters, str] | None = None

    def add(self, **increments: int) -> None:
        with self.lock:
            for name, amount in increments.items():
                if amount:
                    setattr(self.counts, name, getattr(self.counts, name) + amount)
        if self.exported is not None:
            exported, namespace = self.exported
            exported.add(namespace, increments)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return asdict(self.counts)


class CounterBoard:
    """Every namespace's counters, created on first use; exported under ``labels`` if given."""

    def __init__(self, labels: MetricLabels | None = None) -> None:
        self._by_namespace: dict[str, NamespaceCounters] = {}
        self._lock = threading.Lock()
        self._exported = ViewCounters(NAMESPACE, labels) if labels is not None else None

    def __getitem__(self, namespace: str) -> NamespaceCounters:
        counters = self._by_namespace.get(namespace)
        if counters is None:
            exported = (self._exported, namespace) if self._exported is not None else None
            with self._lock:
                counters = self._by_namespace.setdefault(namespace, NamespaceCounters(exported=exported))
        return counters

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            namespaces = dict(self._by_namespace)
        return {name: counters.snapshot() for name, counters in sorted(namespaces.items())}
