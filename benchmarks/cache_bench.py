"""``make bench``, second part: the namespace cache on hot keys, the Bloom filter on absent keys.

One run starts dynalite and a redis-server on loopback ports, loads the same
mixed-type rows (``dataset.mixed``, 5 views of 14 features) of every driver
some request asks for (drawn from 100,000) into this store, Feast's DynamoDB
store and Feast's Redis store, then:

* **Hot keys.** ``get_online_features`` of 10 distinct drivers x 5 views,
  drivers drawn Zipf-distributed (s = 1.1, the hottest driver a random one),
  through this store with its namespace cache on and off, Feast's Redis store
  and Feast's DynamoDB store, in interleaved blocks (``timing``), after a
  warm-up that also fills the cache. Prints percentiles, the cache hit ratio,
  and p50 ratios against the baselines of the same run.
* **Absent keys.** Half of each request's drivers were never written. This
  store with and without its Bloom filters: latency, and per request the
  BatchGetItem calls, keys and read units spent, and the filters' measured
  false-positive rate against the configured one.

Then hot keys again on a SIMULATED DynamoDB (``benchmarks.simulated_dynamodb``,
``--read-latency``, lognormal p50 4 ms and p99 15 ms by default): it answers
reads from a copy of dynalite's items after a latency like DynamoDB's, so a
read that misses the cache costs what it would cost against the service.

Only ratios within a run mean anything (a shared 2-core machine; dynalite is
not DynamoDB). Nothing is asserted; every server started is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import boto3
from feast import FeatureStore

from benchmarks import dataset, feature_stores, redis_server
from benchmarks.floor import ENTITY_SK
from benchmarks.read_bench import check_same_answers, line, log, online_features, settle_heap
from benchmarks.simulated_dynamodb import DEFAULT_READ_LATENCY, SimulatedDynamo
from benchmarks.timing import Summary, target_line, time_interleaved
from feast_chalk_dynamo.planning import capacity
from tests.dynamodb_limits import item_size
from tests.servers import start_dynalite

SEED = 20240917
# 14 features per view, not the other benchmarks' 20: the shape this benchmark has always read, so its
# figures compare with earlier runs'.
DATA = dataset.mixed(features_per_view=14)
ZIPF_S = 1.1
ENTITIES_PER_REQUEST = 10
# The DESIGN's example TTL; an LRU of a tenth of the drivers, so the cache
# must earn its hits from the skew rather than from holding everything.
CACHE_TTL_SECONDS = 60
CACHE_MAX_LRU_SIZE = 10_000
BLOOM_ERROR_RATE = 0.001
# Issue 20's targets, p50 as a share of Feast's Redis store's: the Zipf mix, and the requests
# answered wholly from the cache.
MIX_TARGET = 1.0
WHOLLY_CACHED_TARGET = 0.5
COUNTER_NAMES = (
    "cache_hits", "negative_hits", "misses", "evictions",
    "bloom_skips", "bloom_false_positives", "bloom_false_negatives", "reads_saved",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much to do. Loading dominates the full run; --quick is a smoke run, not a measurement."""

    entities: int
    requests: int  # timed requests per candidate, per scenario
    warmup: int  # untimed requests first: connections, registry caches, and the namespace cache


FULL = Plan(entities=100_000, requests=2_000, warmup=1_000)
QUICK = Plan(entities=2_000, requests=60, warmup=20)


# -- what a store's reads cost ------------------------------------------------------------------


class ReadMeter:
    """Every BatchGetItem attempt one of our stores sends: how many, and which partition keys.

    A listener on the engine's read Caller, called before each attempt
    (retries and raced duplicates included: DynamoDB charges each one).
    """

    def __init__(self, store: FeatureStore) -> None:
        self.requests = 0
        self.keys: list[str] = []
        self._lock = threading.Lock()  # listeners run on the client threads
        feature_stores.online_store(store).engine(store.config).reads.listeners.append(self)

    def __call__(self, operation: str, payload: dict[str, Any]) -> None:
        if operation != "BatchGetItem":
            return
        keys = [key["pk"]["S"] for request in payload["RequestItems"].values() for key in request["Keys"]]
        with self._lock:
            self.requests += 1
            self.keys.extend(keys)

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.keys.clear()


def item_sizes(endpoint_url: str, keys: Iterable[str]) -> dict[str, int]:
    """The whole stored size of each entity item of ``keys`` that exists (absent keys are left out)."""
    client = boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=feature_stores.REGION)
    sizes: dict[str, int] = {}
    pending = [{"pk": {"S": key}, "sk": {"S": ENTITY_SK}} for key in set(keys)]
    try:
        while pending:
            batch, pending = pending[:100], pending[100:]
            response = client.batch_get_item(RequestItems={feature_stores.OUR_TABLE: {"Keys": batch}})
            for item in response["Responses"].get(feature_stores.OUR_TABLE, []):
                sizes[item["pk"]["S"]] = item_size(item)
            pending += response.get("UnprocessedKeys", {}).get(feature_stores.OUR_TABLE, {}).get("Keys", [])
    finally:
        client.close()
    return sizes


def read_units(keys: Sequence[str], sizes: dict[str, int]) -> float:
    """What DynamoDB charges for BatchGetItem of ``keys`` (eventually consistent, repeats charged again).

    AWS's rule ("Read and write operations", DynamoDB Developer Guide):
    BatchGetItem is billed as one GetItem per key, the item's whole size
    rounded up to 4 KB, half a unit per 4 KB when eventually consistent. A
    ProjectionExpression does not lower it, and a key with no item is not
    free: "If you perform a read operation on an item that doesn't exist,
    DynamoDB will still consume read throughput", the minimum half unit.
    ``capacity.read_units`` is that rule; an absent key has size 0.
    """
    return sum(capacity.read_units(sizes.get(key, 0)) for key in keys)


def namespace_counters(store: FeatureStore) -> dict[str, dict[str, int]]:
    """The store's per-view cache and Bloom counters."""
    counters: dict[str, dict[str, int]] = feature_stores.online_store(store).namespace_counters(store.config)
    return counters


def counter_totals(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, int]:
    """Each counter's increase between two snapshots, summed over the benchmark's views."""
    views = DATA.view_names()
    return {
        name: sum(after.get(v, {}).get(name, 0) - before.get(v, {}).get(name, 0) for v in views)
        for name in COUNTER_NAMES
    }


COLUMNS = line("", ["n", "p50", "p95", "p99", "calls", "keys", "RU"])
COST_NOTE = (
    "calls, keys, RU: per request, the BatchGetItem calls sent, the keys they asked for, "
    "and the read units DynamoDB would charge for them, eventually consistent"
)


# -- request draws ------------------------------------------------------------------------------------


def half_absent_requests(ids: Sequence[int], count: int, seed: int) -> list[list[int]]:
    """Requests of 5 written drivers (uniform) and 5 never written, shuffled together."""
    rng = random.Random(seed)
    half = ENTITIES_PER_REQUEST // 2
    requests = []
    for _ in range(count):
        request = rng.sample(ids, half) + rng.sample(dataset.ABSENT_DRIVER_IDS, ENTITIES_PER_REQUEST - half)
        rng.shuffle(request)
        requests.append(request)
    return requests


# -- the two scenarios -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Measured:
    """One scenario's timed requests: latency per candidate, and what our stores sent for them."""

    samples: dict[str, list[float]]  # ms per timed request, in input order
    summaries: dict[str, Summary]
    costs: dict[str, list[float]]  # metered candidates: BatchGetItem calls, keys, read units per request
    counters: dict[str, int]  # the counted store's namespace counters, increase while timed
    sizes: dict[str, int]  # whole size of every existing item the metered candidates asked for
    # Metered candidates: for each timed request (in order), True if it sent nothing to DynamoDB.
    local: dict[str, list[bool]]


def noting_local_answers(
    read: Callable[[list[int]], Any], meter: ReadMeter, local: list[bool]
) -> Callable[[list[int]], Any]:
    """``read``, noting for each call whether it was answered without a request (it is timed too)."""

    def noted(ids: list[int]) -> Any:
        before = meter.requests
        result = read(ids)
        local.append(meter.requests == before)
        return result

    return noted


def measure(
    stores: dict[str, FeatureStore],
    meters: dict[str, ReadMeter],
    counted: FeatureStore,
    inputs: list[list[int]],
    plan: Plan,
    endpoint_url: str,
) -> Measured:
    """Warm every store up on the first ``plan.warmup`` inputs, then time them on the rest.

    Meters and counters start after the warm-up, so they count the timed
    requests only, and the cache starts them warm, as a server's would be.
    """
    refs = DATA.feature_refs(DATA.view_names())
    candidates = {name: online_features(store, refs) for name, store in stores.items()}
    time_interleaved(candidates, inputs[: plan.warmup], warmup=plan.warmup)
    for meter in meters.values():
        meter.reset()
    local: dict[str, list[bool]] = {name: [] for name in meters}
    for name, meter in meters.items():
        candidates[name] = noting_local_answers(candidates[name], meter, local[name])
    before = namespace_counters(counted)
    samples = time_interleaved(candidates, inputs[plan.warmup :], warmup=0)
    counters = counter_totals(before, namespace_counters(counted))
    sizes = item_sizes(endpoint_url, (key for meter in meters.values() for key in meter.keys))
    requests = len(inputs) - plan.warmup
    costs = {
        name: [
            meter.requests / requests,
            len(meter.keys) / requests,
            read_units(meter.keys, sizes) / requests,
        ]
        for name, meter in meters.items()
    }
    summaries = {name: Summary.of(values) for name, values in samples.items()}
    log(COLUMNS)
    for name, summary in summaries.items():
        log(line(name, [summary.n, summary.median, summary.p95, summary.p99, *costs.get(name, [])]))
    return Measured(samples, summaries, costs, counters, sizes, local)


def hot_keys(
    stores: dict[str, FeatureStore],
    meters: dict[str, ReadMeter],
    endpoint_url: str,
    inputs: list[list[int]],
    plan: Plan,
    where: str = "dynalite",
) -> None:
    log(
        f"\n== Hot keys (ms) on {where}: get_online_features of {ENTITIES_PER_REQUEST} drivers x "
        f"{DATA.n_views} views, Zipf s={ZIPF_S} over {plan.entities:,} drivers =="
    )
    log(
        f"(cache: ttl_seconds={CACHE_TTL_SECONDS}, max_lru_size={CACHE_MAX_LRU_SIZE:,} per view; "
        f"{plan.warmup} requests of warm-up, then {plan.requests} timed, per store)"
    )
    check_same_answers(stores, DATA.feature_refs(DATA.view_names()), inputs[0])
    measured = measure(stores, meters, stores["ours, cache on"], inputs, plan, endpoint_url)
    log(f"({COST_NOTE}; ours only)")
    ours = measured.summaries["ours, cache on"]
    for baseline in ("feast redis", "feast dynamodb", "ours, cache off"):
        if baseline in measured.summaries:
            ratio = ours.ratio(measured.summaries[baseline])
            log(f"cache on / {baseline}: p50 {ratio.median:.2f}, p99 {ratio.p99:.2f}")
    flags = measured.local["ours, cache on"]
    all_cached = [ms for ms, local in zip(measured.samples["ours, cache on"], flags, strict=True) if local]
    log(
        f"requests answered wholly from the cache: {len(all_cached)} of {len(flags)} "
        f"({len(all_cached) / len(flags):.1%}); a request with one driver not cached waits for DynamoDB"
    )
    wholly_ratio = None
    redis = measured.summaries.get("feast redis")
    if len(all_cached) >= 2 and redis is not None:
        wholly = Summary.of(all_cached)
        wholly_ratio = wholly.median / redis.median
        log(
            f"  those requests: p50 {wholly.median:.2f} ms, p99 {wholly.p99:.2f} ms; / feast redis "
            f"(all requests): p50 {wholly_ratio:.2f}, p99 {wholly.p99 / redis.p99:.2f}"
        )
    log(f"targets on {where} (p50, cache on / feast redis):")
    log(target_line("Zipf mix", ours.median / redis.median if redis else None, MIX_TARGET, False))
    log(target_line("requests wholly cached", wholly_ratio, WHOLLY_CACHED_TARGET, False))
    requested = plan.requests * ENTITIES_PER_REQUEST
    sent = len(meters["ours, cache on"].keys)
    log(
        f"drivers read from DynamoDB with the cache on: {sent} of {requested} requested "
        f"({1 - sent / requested:.1%} avoided)"
    )
    totals = measured.counters
    hits = totals["cache_hits"] + totals["negative_hits"]
    lookups = hits + totals["misses"]
    share = f"{hits / lookups:.1%}" if lookups else "n/a (no lookups counted)"
    log(f"cache hit ratio (driver x view lookups): {share} of {lookups}; evictions {totals['evictions']}")


def simulated_hot_keys(
    registries: tuple[Path, Path],
    backend_url: str,
    redis: dict[str, FeatureStore],
    inputs: list[list[int]],
    plan: Plan,
    knobs: dict[str, dict[str, Any]],
    read_latency: str,
) -> None:
    """Hot keys again, this store's and Feast's DynamoDB store reading a simulated DynamoDB.

    The stores are more clients of the registries the loaded ones wrote;
    Feast's Redis store (``redis``) is the same one as on dynalite.
    """
    ours_registry, feast_registry = registries
    tables = [feature_stores.OUR_TABLE, *(f"{feature_stores.PROJECT}.{view}" for view in DATA.view_names())]
    with SimulatedDynamo(backend_url, read_latency=read_latency) as simulator:
        copied = simulator.snapshot(tables)
        log(
            f"\nSIMULATION, not AWS: {simulator.url} answers GetItem and BatchGetItem from a copy of "
            f"dynalite's items ({sum(copied.values()):,} items of {len(copied)} tables), each after a "
            f"latency drawn from {read_latency} (ms), all at once (benchmarks/simulated_dynamodb)"
        )
        simulator.reset()
        url = simulator.url
        configs = {
            "ours, cache on": feature_stores.our_config(ours_registry, url, **knobs["cache"]),
            "ours, cache off": feature_stores.our_config(ours_registry, url, **knobs["plain"]),
            "feast dynamodb": feature_stores.feast_config(feast_registry, url),
        }
        opened = {name: FeatureStore(config=config) for name, config in configs.items()}
        try:
            meters = {name: ReadMeter(opened[name]) for name in ("ours, cache on", "ours, cache off")}
            hot_keys({**opened, **redis}, meters, url, inputs, plan, f"SIMULATION {read_latency}")
        finally:
            for store in opened.values():
                feature_stores.close(store)
        stats = simulator.stats()
    log(f"simulator: answered {stats.requests}; its CPU {stats.cpu_seconds:.1f} s (its own process)")


def absent_keys(
    stores: dict[str, FeatureStore],
    meters: dict[str, ReadMeter],
    endpoint_url: str,
    inputs: list[list[int]],
    written_ids: list[int],
    plan: Plan,
) -> None:
    log(
        f"\n== Absent keys (ms): get_online_features of {ENTITIES_PER_REQUEST} drivers x "
        f"{DATA.n_views} views, half never written =="
    )
    log(
        f"(Bloom filter per view: expected_keys={len(written_ids):,}, "
        f"error_rate={BLOOM_ERROR_RATE}; no cache)"
    )
    written = set(written_ids)
    present = [driver for driver in inputs[0] if driver in written]
    check_same_answers(stores, DATA.feature_refs(DATA.view_names()), present)
    measured = measure(stores, meters, stores["bloom on"], inputs, plan, endpoint_url)
    log(f"({COST_NOTE}, an absent key half a unit)")
    on, off = measured.summaries["bloom on"], measured.summaries["bloom off"]
    (calls_on, _, units_on), (calls_off, _, units_off) = (
        measured.costs["bloom on"],
        measured.costs["bloom off"],
    )
    log(
        f"bloom on / off: p50 {on.median / off.median:.2f}, p99 {on.p99 / off.p99:.2f}, "
        f"BatchGetItem {ratio_text(calls_on, calls_off)}, read units {ratio_text(units_on, units_off)}"
    )
    # An absent driver the Bloom store still sent to DynamoDB is one its filters let through.
    absent_asked = plan.requests * (ENTITIES_PER_REQUEST - ENTITIES_PER_REQUEST // 2)
    absent_sent = sum(key not in measured.sizes for key in meters["bloom on"].keys)
    log(
        f"absent drivers read anyway with the filter on: {absent_sent} of {absent_asked} "
        f"({absent_sent / absent_asked:.2%}; configured error rate {BLOOM_ERROR_RATE:.2%})"
    )
    totals = measured.counters
    negatives = totals["bloom_skips"] + totals["bloom_false_positives"]
    rate = (
        f"{totals['bloom_false_positives'] / negatives:.3%}"
        if negatives
        else "n/a (no absent lookups counted)"
    )
    log(
        f"Bloom false-positive rate (driver x view, store's counters): {rate} of {negatives} absent lookups "
        f"(configured {BLOOM_ERROR_RATE:.3%}); skips {totals['bloom_skips']}, "
        f"false negatives {totals['bloom_false_negatives']}, reads saved {totals['reads_saved']}"
    )


def ratio_text(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}" if baseline else "n/a"


# -- set-up ---------------------------------------------------------------------------------------------


def our_knobs(written: int) -> dict[str, dict[str, Any]]:
    """The online_store knobs of each of our stores, by candidate name."""
    views = DATA.view_names()
    cache = [
        {"namespace": view, "ttl_seconds": CACHE_TTL_SECONDS, "max_lru_size": CACHE_MAX_LRU_SIZE}
        for view in views
    ]
    bloom = [{"namespace": view, "expected_keys": written, "error_rate": BLOOM_ERROR_RATE} for view in views]
    # The load is one writer of fresh rows, so unguarded bulk updates are safe; guarded
    # ones fall back on dynalite (no transactions) to one conditional UpdateItem at a
    # time, some 500 rows/s here: 80 s for 8,000 drivers x 5 views. Set on
    # every store alike (it changes nothing on reads) so the stores differ in one knob.
    common = {"check_ts_for_bulk_writes": False}
    return {
        "plain": common,
        "cache": {**common, "cached_namespaces": cache},
        "bloom": {**common, "bloom_filters": bloom},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="a small load and few requests: a smoke run, not a measurement"
    )
    parser.add_argument(
        "--entities",
        type=int,
        metavar="N",
        help=f"drivers written (default {FULL.entities:,}, --quick {QUICK.entities:,}): loading dominates",
    )
    parser.add_argument(
        "--read-latency",
        default=DEFAULT_READ_LATENCY,
        metavar="DIST",
        help=f"the simulated DynamoDB's latency per read (default {DEFAULT_READ_LATENCY}): "
        "'fixed:MS' or 'lognormal:p50=MS,p99=MS'",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.entities is not None:
        plan = dataclasses.replace(plan, entities=args.entities)
    # As read_bench runs (see its --switch-interval): threads hand reads to each other, for every store alike.
    sys.setswitchinterval(0.001)
    started = time.monotonic()
    feature_stores.use_fake_aws_credentials()
    redis_binary = redis_server.binary()
    with contextlib.ExitStack() as cleanup:
        server = start_dynalite()
        cleanup.callback(server.stop)
        url = server.endpoint.url
        tmp_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="feast-cache-bench-")))
        baselines = {"feast dynamodb": feature_stores.feast_config(tmp_dir / "registry-feast.db", url)}
        if redis_binary is None:
            log(
                "redis-server not found on PATH: the Redis column is skipped "
                "(`make bench` installs it: apt-get install redis-server)"
            )
        else:
            redis = cleanup.enter_context(redis_server.running_redis(redis_binary))
            baselines["feast redis"] = feature_stores.repo_config(
                tmp_dir / "registry-redis.db", {"type": "redis", "connection_string": redis.connection_string}
            )
        population = DATA.driver_ids(plan.entities)
        hot_inputs = dataset.zipf_draws(
            population, ENTITIES_PER_REQUEST, plan.warmup + plan.requests, ZIPF_S, SEED
        )
        # A driver no request asks for changes no measurement, and loading is most of the
        # run (dynalite applies one update at a time): only requested drivers are written.
        written = sorted({driver for request in hot_inputs for driver in request})
        absent_inputs = half_absent_requests(written, plan.warmup + plan.requests, SEED + 1)
        log(
            f"dynalite on {url}; drivers drawn from {plan.entities:,}, of which the "
            f"{len(written):,} that requests ask for are written; "
            f"{DATA.n_views} views x {len(DATA.features)} mixed features"
        )
        knobs = our_knobs(len(written))
        data_dir = tmp_dir / "data"
        data_dir.mkdir()
        DATA.write_sources(data_dir, written, SEED, dataset.utc_now())
        # The Bloom store loads our table: its filters learn every key as it is written.
        registry = tmp_dir / "registry-ours.db"
        loading = {"ours": feature_stores.our_config(registry, url, **knobs["bloom"]), **baselines}
        stores: dict[str, FeatureStore] = {}
        for name, config in loading.items():
            stores[name] = feature_stores.applied_store(config, [DATA], data_dir)
            cleanup.callback(feature_stores.close, stores[name])
        log("loading:")
        feature_stores.load(stores, DATA, data_dir, log)
        # More clients of the same registry and table, each with its own engine (its own knobs).
        for name in ("plain", "cache"):
            stores[name] = FeatureStore(config=feature_stores.our_config(registry, url, **knobs[name]))
            cleanup.callback(feature_stores.close, stores[name])
        meters = {name: ReadMeter(stores[name]) for name in ("ours", "plain", "cache")}
        settle_heap(freeze=True)
        hot = {"ours, cache on": stores["cache"], "ours, cache off": stores["plain"]}
        hot.update({name: stores[name] for name in ("feast redis", "feast dynamodb") if name in stores})
        hot_keys(
            hot,
            {"ours, cache on": meters["cache"], "ours, cache off": meters["plain"]},
            url,
            hot_inputs,
            plan,
        )
        absent_keys(
            {"bloom on": stores["ours"], "bloom off": stores["plain"]},
            {"bloom on": meters["ours"], "bloom off": meters["plain"]},
            url,
            absent_inputs,
            written,
            plan,
        )
        simulated_hot_keys(
            (registry, tmp_dir / "registry-feast.db"),
            url,
            {name: stores[name] for name in ("feast redis",) if name in stores},
            hot_inputs,
            plan,
            knobs,
            args.read_latency,
        )
    log(f"\ntotal {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
