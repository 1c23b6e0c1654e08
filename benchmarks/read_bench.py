"""``make bench``: read latency of this store against Feast's DynamoDB store, on dynalite and simulated.

One run loads the same data into both stores (``--data``: the mixed data set,
the numeric one, or both; see ``dataset``). Then, for each data set, it times
each read shape through both stores and as raw signed BatchGetItem calls of
the same attributes (the shape's floor), taking turns in blocks of 10 reads
(``timing.measure_interleaved``), and prints percentiles and the ratios
ours/Feast and ours/floor, the client CPU per read and its ratios, then
``online_read`` against the raw BatchGetItem of 100 keys. Then request
racing on and off behind a proxy that delays a few reads, on the first data
set.

dynalite is a single-threaded emulator whose own time dominates these reads.
So, last, every shape and the floor again on a SIMULATED DynamoDB
(``benchmarks.simulated_dynamodb``): it copies dynalite's items once loaded
and answers each read from the copy after a latency drawn from
``--read-latency`` (default lognormal, p50 4 ms, p99 15 ms: DynamoDB from EC2
in the same region), all at once, in a process of its own. There the client's
own work is what differs between the stores; its CPU per read is the figure
that holds on a noisy machine. Every table names its data set and its
server. Only ratios within the run are meaningful: the machine is shared and
noisy, and neither server is DynamoDB. Nothing is asserted and nothing is
written to disk.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from feast import FeatureStore, FeatureView

from benchmarks import dataset, feature_stores
from benchmarks.dataset import DataSet, uniform_draws
from benchmarks.floor import RawBatchGet, entity_partition_keys, view_projection
from benchmarks.simulated_dynamodb import DEFAULT_READ_LATENCY, SimulatedDynamo
from benchmarks.timing import Summary, Timings, measure_interleaved, target_line, time_interleaved
from feast_chalk_dynamo.dynamo.caller import percentile
from tests.fault_proxy import FaultProxy, sometimes
from tests.servers import start_dynalite

SEED = 20240601
DELAY_SHARE, DELAY_SECONDS = 0.03, 0.100  # the racing scenario's slow tail
RACING_WAIT_PERCENTILE = 95


@dataclass(frozen=True)
class Plan:
    """How much to do, per data set: a full run of both took about five minutes before the simulated part.

    The simulated part reads every shape again: --quick took 137 s in all (61 s with --data mixed)
    on the shared 2-core box.
    """

    entities: int
    reps_small: int  # shapes of 1 entity: fast, so many repetitions
    reps_large: int  # shapes of 100 entities
    reps_racing: int
    warmup: int


# 1,000 entities are plenty to draw 100 from, and each data set loads both
# stores one guarded update per row (dynalite has no transactions).
FULL = Plan(entities=1000, reps_small=300, reps_large=200, reps_racing=400, warmup=10)
QUICK = Plan(entities=1000, reps_small=30, reps_large=15, reps_racing=40, warmup=3)

# (label, entities per read, views per read, repetitions for the plan)
SHAPE_100X1, SHAPE_100X5 = "100 entities x 1 view", "100 entities x 5 views"
SHAPES: list[tuple[str, int, int, Callable[[Plan], int]]] = [
    ("1 entity x 1 view", 1, 1, lambda plan: plan.reps_small),
    (SHAPE_100X1, 100, 1, lambda plan: plan.reps_large),
    (SHAPE_100X5, 100, 5, lambda plan: plan.reps_large),
    ("1 entity x 5 views", 1, 5, lambda plan: plan.reps_small),
]


def log(message: str) -> None:
    print(message, flush=True)


def online_features(store: FeatureStore, refs: list[str]) -> Callable[[list[int]], Any]:
    def read(ids: list[int]) -> Any:
        rows = [{dataset.JOIN_KEY: driver_id} for driver_id in ids]
        return store.get_online_features(features=refs, entity_rows=rows, full_feature_names=True)

    return read


def check_same_answers(stores: Mapping[str, FeatureStore], refs: list[str], ids: list[int]) -> None:
    """Refuse to time stores that disagree, or that answer nulls: that would time a bug.

    Compared as Feast's ``to_dict`` gives them (lists, dicts and all), so every
    value type of the data set, not only numbers, must come back alike.
    """
    answers = {name: online_features(store, refs)(ids).to_dict() for name, store in stores.items()}
    (first_name, first), *rest = answers.items()
    for name, answer in rest:
        if answer != first:
            differing = sorted(k for k in first if first.get(k) != answer.get(k))
            raise SystemExit(f"{name} and {first_name} disagree on {differing[:5]} for drivers {ids[:5]}")
    nulls = sorted(k for k, values in first.items() if any(v is None for v in values))
    if nulls:
        raise SystemExit(f"loaded features read back as null: {nulls[:5]}")


# -- output ----------------------------------------------------------------------------------------


LABEL_WIDTH, CELL_WIDTH = 24, 8


def line(label: str, cells: Sequence[str | int | float]) -> str:
    """One table line: a left-aligned label, then right-aligned cells; floats with 2 decimals."""
    text = [f"{c:.2f}" if isinstance(c, float) else str(c) for c in cells]
    return f"{label:<{LABEL_WIDTH}}" + "".join(f"{c:>{CELL_WIDTH}}" for c in text)


def groups(titles: Sequence[tuple[str, int]]) -> str:
    """A line naming groups of cells, each title centred over its ``width`` cells."""
    return (
        " " * (LABEL_WIDTH + CELL_WIDTH)
        + "".join(f"{title:^{width * CELL_WIDTH}}" for title, width in titles).rstrip()
    )


def percentiles(summary: Summary) -> list[float]:
    return [summary.median, summary.p95, summary.p99]


def cpu_per_read(timings: Timings, name: str) -> float:
    """Mean client CPU ms per call: a mean, so work left running after a call still counts."""
    return statistics.fmean(timings.cpu[name])


# -- the parts ---------------------------------------------------------------------------------------

DYNALITE = "dynalite"


def title(text: str, data: DataSet, server: str) -> str:
    """A table's heading, naming the data set it measured and the server it read from."""
    return f"\n== {text} [{data.name} data, {server}] =="


def compare_stores(
    ours: FeatureStore,
    feast: FeatureStore,
    endpoint_url: str,
    data: DataSet,
    plan: Plan,
    server: str,
    reference: Mapping[str, FeatureStore] | None = None,
) -> None:
    """Each shape through both stores, and as raw signed BatchGetItem calls of the same attributes.

    ``reference``: more stores that must answer alike before anything is timed (the same data
    on another server).
    """
    log(title("Read latency (ms): get_online_features, ours vs Feast's DynamoDB store", data, server))
    log(f"({data.name}: {data.n_views} views of {data.summary})")
    log(groups([("ours", 3), ("feast", 3), ("ours / feast", 3), ("floor", 2)]))
    log(line("shape", ["n", *["p50", "p95", "p99"] * 3, "p50", "ours/fl"]))
    ids = data.driver_ids(plan.entities)
    partition_keys = partition_keys_of(endpoint_url, data)
    cpu_rows: list[tuple[str, float, float, float]] = []
    p50_ratios: dict[str, tuple[float, float]] = {}  # shape -> ours / feast, ours / floor
    for label, n_entities, n_views, reps in SHAPES:
        views = data.view_names()[:n_views]
        refs = data.feature_refs(views)
        seed = SEED + n_entities * 10 + n_views
        # The floor reads other entities, drawn alike: it knows partition keys, not driver ids.
        inputs = list(
            zip(
                uniform_draws(ids, n_entities, reps(plan) + plan.warmup, seed),
                uniform_draws(partition_keys, n_entities, reps(plan) + plan.warmup, seed + 1),
                strict=True,
            )
        )
        check_same_answers({"ours": ours, "feast": feast, **(reference or {})}, refs, inputs[0][0])
        timings = time_shape(ours, feast, raw_reader(endpoint_url, views), refs, inputs, plan)
        mine, theirs, raw = (Summary.of(timings.wall[name]) for name in ("ours", "feast", "floor"))
        p50_ratios[label] = (mine.median / theirs.median, mine.median / raw.median)
        cpu_rows.append(
            (
                label,
                cpu_per_read(timings, "ours"),
                cpu_per_read(timings, "feast"),
                cpu_per_read(timings, "floor"),
            )
        )
        log(
            line(
                label,
                [
                    mine.n,
                    *percentiles(mine),
                    *percentiles(theirs),
                    *percentiles(mine.ratio(theirs)),
                    raw.median,
                    mine.median / raw.median,
                ],
            )  # fmt: skip
        )
    log("(p99 of n samples is about the n/100-th slowest one: a single hiccup of the machine moves it)")
    log(title("Client CPU per read (ms): ours vs Feast's DynamoDB store", data, server))
    log("(mean time.process_time() of this process, every thread of it, per read; the server is another)")
    log(line("shape", ["ours", "feast", "ours/fe", "floor", "ours/fl"]))
    for label, mine_cpu, theirs_cpu, floor_cpu in cpu_rows:
        log(line(label, [mine_cpu, theirs_cpu, mine_cpu / theirs_cpu, floor_cpu, mine_cpu / floor_cpu]))
    log(targets_heading(data, server))
    log(target_line("100 entities x 1 view, p50 ours / floor", p50_ratios[SHAPE_100X1][1], 1.15, False))
    log(target_line("100 entities x 5 views, p50 ours / feast", p50_ratios[SHAPE_100X5][0], 0.25, False))


def targets_heading(data: DataSet, server: str) -> str:
    """Issue 20 sets the read targets on dynalite; elsewhere the same ratios are shown beside them."""
    where = "" if server == DYNALITE else "; set for dynalite, shown here for comparison"
    return f"targets [{data.name} data, {server}] (issue 20{where}):"


def time_shape(
    ours: FeatureStore,
    feast: FeatureStore,
    floor: RawBatchGet,
    refs: list[str],
    inputs: list[tuple[list[int], list[str]]],
    plan: Plan,
) -> Timings:
    """Ours, Feast's and the floor's latencies and CPU on (driver ids, partition keys) inputs, interleaved."""
    ours_read, feast_read = online_features(ours, refs), online_features(feast, refs)
    try:
        return measure_interleaved(
            {
                "ours": lambda pair: ours_read(pair[0]),
                "feast": lambda pair: feast_read(pair[0]),
                "floor": lambda pair: floor(pair[1]),
            },
            inputs,
            plan.warmup,
        )
    finally:
        floor.close()


def partition_keys_of(endpoint_url: str, data: DataSet) -> list[str]:
    """The partition keys of the data set's entities on our table: the floor reads those."""
    return entity_partition_keys(
        endpoint_url,
        feature_stores.REGION,
        feature_stores.OUR_TABLE,
        feature_stores.PROJECT,
        data.view_names()[0],
    )


def raw_reader(endpoint_url: str, views: list[str]) -> RawBatchGet:
    """Raw signed BatchGetItem of the attributes a read of ``views`` asks for, on our table."""
    projection = view_projection(
        endpoint_url, feature_stores.REGION, feature_stores.OUR_TABLE, feature_stores.PROJECT, views
    )
    return RawBatchGet(endpoint_url, feature_stores.REGION, feature_stores.OUR_TABLE, projection)


def compare_floor(
    ours: FeatureStore, registry: Path, endpoint_url: str, data: DataSet, plan: Plan, server: str
) -> None:
    first_view = data.view_names()[0]
    log(
        title(
            f"online_read vs raw floor (ms): 100 keys, 1 view of {len(data.features)} features", data, server
        )
    )
    view: FeatureView = ours.get_feature_view(first_view)
    # The same read as one 100-key request, like the floor: separates the store's
    # own overhead from the cost of parallel sub-batches on a one-threaded emulator.
    single = FeatureStore(
        config=feature_stores.our_config(registry, endpoint_url, getitem_min_batch_concurrency=1)
    )

    def online_read(store: FeatureStore) -> Callable[[list[int]], Any]:
        def read(driver_ids: list[int]) -> Any:
            keys = [dataset.entity_key(driver_id) for driver_id in driver_ids]
            return feature_stores.online_store(store).online_read(store.config, view, keys, None)

        return read

    ids = data.driver_ids(plan.entities)
    partition_keys = partition_keys_of(endpoint_url, data)
    floor = raw_reader(endpoint_url, [first_view])
    count = plan.reps_large + plan.warmup
    # Different entities for the two, drawn alike: the floor knows partition keys, not driver ids.
    driver_draws = uniform_draws(ids, 100, count, SEED + 1)
    key_draws = uniform_draws(partition_keys, 100, count, SEED + 2)
    try:
        returned = len(floor(key_draws[0])["Responses"][feature_stores.OUR_TABLE])
        if returned != 100:
            raise SystemExit(f"the floor read {returned} of 100 items; the scan found stale keys")
        default, one_request = online_read(ours), online_read(single)
        timings = measure_interleaved(
            {
                "online_read": lambda i: default(driver_draws[i]),
                "one request": lambda i: one_request(driver_draws[i]),
                "floor": lambda i: floor(key_draws[i]),
            },
            range(count),
            plan.warmup,
        )
    finally:
        floor.close()
        feature_stores.close(single)
    names = ("online_read", "one request", "floor")
    mine, alone, raw = (Summary.of(timings.wall[name]) for name in names)
    mine_cpu, alone_cpu, raw_cpu = (cpu_per_read(timings, name) for name in names)
    log(line("", ["n", "p50", "p95", "p99", "cpu"]))
    log(line("online_read(100)", [mine.n, *percentiles(mine), mine_cpu]))
    log(line("  as 1 request of 100", [alone.n, *percentiles(alone), alone_cpu]))
    log(line("raw BatchGetItem(100)", [raw.n, *percentiles(raw), raw_cpu]))
    log(line("online_read / floor", ["", *percentiles(mine.ratio(raw)), mine_cpu / raw_cpu]))
    log(line("  1 request / floor", ["", *percentiles(alone.ratio(raw)), alone_cpu / raw_cpu]))
    log("(cpu: mean client CPU ms per read, every thread of this process)")
    log(targets_heading(data, server))
    log(target_line("online_read(100), p50 / floor", mine.median / raw.median, 1.3, False))


def racing(registry: Path, endpoint_url: str, data: DataSet, plan: Plan, server: str) -> None:
    """Racing off and on, each behind its own fault proxy so each one's requests are counted alone.

    The share of duplicated requests compares the racing store's BatchGetItem
    count with its twin's: both read the same entities, and without racing a
    read sends exactly the requests it needs, so the difference is the races.
    """
    log(
        title(
            "Request racing (ms): get_online_features 100 entities x 1 view, behind a proxy "
            f"delaying {DELAY_SHARE:.0%} of BatchGetItem by {DELAY_SECONDS * 1000:.0f} ms",
            data,
            server,
        )
    )
    ids = data.driver_ids(plan.entities)
    refs = data.feature_refs(data.view_names()[:1])
    count = plan.reps_racing + plan.warmup
    with FaultProxy(endpoint_url) as plain_proxy, FaultProxy(endpoint_url) as racing_proxy:
        proxies = (plain_proxy, racing_proxy)
        # Same registry file as the loaded store, so no apply: these are more clients of it.
        plain = FeatureStore(config=feature_stores.our_config(registry, plain_proxy.url))
        # The racer's twin, racing off, so the wait is measured as the racer will
        # run: two stores taking turns through two proxies.
        twin: FeatureStore | None = FeatureStore(config=feature_stores.our_config(registry, racing_proxy.url))
        racer: FeatureStore | None = None
        try:
            assert twin is not None
            pair = {"plain": online_features(plain, refs), "twin": online_features(twin, refs)}
            undelayed = time_interleaved(pair, uniform_draws(ids, 100, count // 2, SEED + 3), plan.warmup)
            # The wait as the seed advises: the p95 of the DynamoDB *request*
            # latency the store observes (a read of 100 keys is several
            # requests), here under the fault, as an operator would measure it.
            stats = [
                feature_stores.online_store(store).engine(store.config).reads.stats for store in (plain, twin)
            ]
            for window in stats:
                window.latencies_ms.clear()
            _set_delay_fault(proxies)
            time_interleaved(pair, uniform_draws(ids, 100, count // 2, SEED + 5), plan.warmup)
            latencies = chain(*(window.latencies_ms["BatchGetItem"] for window in stats))
            wait_ms = round(percentile(latencies, RACING_WAIT_PERCENTILE) or 10.0, 1)
            feature_stores.close(twin)
            twin = None
            log(
                f"racing wait: {wait_ms} ms (p{RACING_WAIT_PERCENTILE} of BatchGetItem request latency "
                "under the fault, racing off)"
            )
            racer = FeatureStore(
                config=feature_stores.our_config(
                    registry, racing_proxy.url, enable_request_racing=True, request_racing_wait_time=wait_ms
                )
            )
            _set_delay_fault(proxies)  # counters from zero
            samples = time_interleaved(
                {"racing off": online_features(plain, refs), "racing on": online_features(racer, refs)},
                uniform_draws(ids, 100, count, SEED + 4),
                plan.warmup,
            )
            races = feature_stores.online_store(racer).engine(racer.config).reads.stats
        finally:
            for store in (plain, twin, racer):
                if store is not None:
                    feature_stores.close(store)
        asked = plain_proxy.faults.seen["BatchGetItem"]
        sent = racing_proxy.faults.seen["BatchGetItem"]
        delayed = (plain_proxy.faults.injected["delay"], racing_proxy.faults.injected["delay"])
    off, on = Summary.of(samples["racing off"]), Summary.of(samples["racing on"])
    calm = Summary.of(undelayed["plain"])
    log(line("", ["n", "p50", "p95", "p99"]))
    log(line("no fault, racing off", [calm.n, *percentiles(calm)]))
    log(line("racing off", [off.n, *percentiles(off)]))
    log(line("racing on", [on.n, *percentiles(on)]))
    log(line("on / off", ["", *percentiles(on.ratio(off))]))
    log(f"racing on: p99 / p50 = {on.p99 / on.median:.2f}; no fault at all: {calm.p99 / calm.median:.2f}")
    extra = sent - asked
    slow_ms = DELAY_SECONDS * 1000

    def slow(name: str) -> int:
        return sum(sample >= slow_ms for sample in samples[name])

    log(f"reads taking >= {slow_ms:.0f} ms: off {slow('racing off')}, on {slow('racing on')}")
    log(
        f"races: {races.duplicates} duplicates sent, {races.duplicate_wins} won, "
        f"{races.duplicates_denied} denied by the budget, {races.duplicates_held_back} held back "
        "(late with their siblings); "
        f"racing-on reads over 2 x p50: {sum(sample > 2 * on.median for sample in samples['racing on'])}"
    )
    log(
        f"duplicated requests: {extra} extra of {asked} asked for ({extra / asked:.1%}); "
        f"delays injected: off {delayed[0]}, on {delayed[1]}"
    )


def simulated(
    registries: tuple[Path, Path],
    backend_url: str,
    data_sets: Sequence[DataSet],
    plan: Plan,
    read_latency: str,
    reference: FeatureStore,
) -> None:
    """Every shape and the floor again, both stores reading a simulated DynamoDB in front of dynalite.

    The simulator copies the loaded tables (this store's and Feast's ``<project>.<view>`` ones)
    and answers their reads from the copy; the stores are more clients of the registries the
    loaded ones wrote, so nothing is applied again. Before each shape is timed, both stores'
    answers are checked against this store's on dynalite (``reference``).
    """
    ours_registry, feast_registry = registries
    tables = feature_stores.table_names(view for data in data_sets for view in data.view_names())
    with SimulatedDynamo(backend_url, read_latency=read_latency) as simulator:
        started = time.monotonic()
        copied = simulator.snapshot(tables)
        server = f"SIMULATION {read_latency}"
        log(
            f"\nSIMULATION, not AWS: {simulator.url} answers GetItem and BatchGetItem from a copy of "
            f"dynalite's items ({sum(copied.values()):,} items of {len(copied)} tables, copied in "
            f"{time.monotonic() - started:.0f} s), each after a latency drawn from {read_latency} (ms), "
            "all at once; everything else goes to dynalite (benchmarks/simulated_dynamodb)"
        )
        simulator.reset()  # its CPU from here on: serving, not copying
        opened = [
            FeatureStore(config=feature_stores.our_config(ours_registry, simulator.url)),
            FeatureStore(config=feature_stores.feast_config(feast_registry, simulator.url)),
        ]
        try:
            ours, feast = opened
            for data in data_sets:
                compare_stores(
                    ours, feast, simulator.url, data, plan, server, {"ours on dynalite": reference}
                )
                compare_floor(ours, ours_registry, simulator.url, data, plan, server)
        finally:
            for store in opened:
                feature_stores.close(store)
        stats = simulator.stats()
    answered = sum(stats.requests.values())
    log(
        f"simulator: answered {stats.requests}; forwarded to dynalite {stats.forwarded}; "
        f"{stats.read_units:,.0f} read units; at most {stats.most_waiting} answers waiting at once; "
        f"its CPU {stats.cpu_seconds:.1f} s, {stats.cpu_seconds * 1000 / max(answered, 1):.2f} ms per "
        "request answered (its own process: not the client's)"
    )


def _set_delay_fault(proxies: Sequence[FaultProxy]) -> None:
    """Zero the proxies' counters and make them delay a few BatchGetItem requests."""
    for proxy in proxies:
        proxy.faults.reset()
        proxy.faults.update(
            delay=sometimes(DELAY_SHARE, DELAY_SECONDS), operations=frozenset({"BatchGetItem"})
        )


def settle_heap(freeze: bool) -> None:
    """Collect the set-up's garbage and, unless told not to, freeze what survives.

    Feast, pandas and botocore's service models leave ~300k long-lived
    objects; a full collection of them takes ~150 ms on this machine and
    lands on some 5% of 100-entity reads of either store at random. Freezing
    them, as a tuned server would after warm-up, keeps that process-wide pause
    out of a comparison of the two stores.
    """
    gc.collect()
    if freeze:
        gc.freeze()
    log(f"gc: {gc.get_freeze_count()} objects alive after loading frozen out of the collector")


def main(argv: Sequence[str] | None = None, server_label: str = DYNALITE) -> int:
    """``server_label``: what the tables call the server the data is loaded into."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="few repetitions: a smoke run, not a measurement"
    )
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="keep the set-up's objects in the collector: tails then include full-heap GC pauses",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=1.0,
        metavar="MS",
        help="the GIL switch interval for the run, in ms (default 1; Python's own is 5)",
    )
    parser.add_argument(
        "--data",
        choices=[*dataset.DATA_SETS, "both"],
        default="both",
        help="which data set to read: mixed types (the main one), all-numeric, or both (default)",
    )
    parser.add_argument(
        "--read-latency",
        default=DEFAULT_READ_LATENCY,
        metavar="SPEC",
        help="the simulated DynamoDB's latency per read: 'fixed:MS' or 'lognormal:p50=MS,p99=MS' "
        f"(default {DEFAULT_READ_LATENCY})",
    )
    parser.add_argument(
        "--no-simulation",
        dest="simulation",
        action="store_false",
        help="skip the reads on the simulated DynamoDB",
    )
    args = parser.parse_args(argv)
    data_sets = list(dataset.DATA_SETS.values()) if args.data == "both" else [dataset.DATA_SETS[args.data]]
    # Both stores send sub-batches from client threads and wait for them on
    # another; with Python's 5 ms interval a thread ready to run can wait that
    # long for one that is parsing. 1 ms cut online_read(100) by ~1.5 ms (~13%)
    # here; 0.2 ms was slower again. A server would set it the same way.
    sys.setswitchinterval(args.switch_interval / 1000)
    log(f"GIL switch interval: {args.switch_interval} ms (Python's default: 5 ms)")
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    feature_stores.use_fake_aws_credentials()
    server = start_dynalite()
    opened: list[FeatureStore] = []
    try:
        url = server.endpoint.url
        for data in data_sets:
            log(f"{data.name} data: {plan.entities} entities x {data.n_views} views of {data.summary}")
        log(f"{server_label} on {url}")
        with tempfile.TemporaryDirectory(prefix="feast-bench-") as tmp:
            tmp_dir = Path(tmp)
            data_dir = tmp_dir / "data"
            data_dir.mkdir()
            now = dataset.utc_now()
            for data in data_sets:
                data.write_sources(data_dir, data.driver_ids(plan.entities), SEED, now)
            # The floor and racing stores are more clients of our registry, so they need no apply.
            registry, feast_registry = tmp_dir / "registry-ours.db", tmp_dir / "registry-feast.db"
            for config in (
                feature_stores.our_config(registry, url),
                feature_stores.feast_config(feast_registry, url),
            ):
                opened.append(feature_stores.applied_store(config, data_sets, data_dir))
            ours, feast = opened
            for data in data_sets:
                log(f"loading the {data.name} data:")
                feature_stores.load({"ours": ours, "feast": feast}, data, data_dir, log)
            settle_heap(freeze=args.gc_freeze)
            for data in data_sets:
                compare_stores(ours, feast, url, data, plan, server_label)
                compare_floor(ours, registry, url, data, plan, server_label)
            racing(registry, url, data_sets[0], plan, server_label)
            if args.simulation:
                simulated((registry, feast_registry), url, data_sets, plan, args.read_latency, ours)
    finally:
        for store in opened:
            feature_stores.close(store)
        server.stop()
    log(f"\ntotal {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
