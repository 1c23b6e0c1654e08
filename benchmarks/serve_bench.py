"""``make bench-serve``: CPU per request of a real ``feast serve``, each store as a share of the ceiling's.

Python serving is CPU-bound, so requests per CPU-second set how many pods a
fleet needs. Each candidate runs as a real ``feast serve`` on 127.0.0.1, first
with one worker, then with as many as Feast starts when asked to choose
(``--workers -1``: 2 x cores + 1; its default is 1):

* ``ceiling``: ``benchmarks.ceiling_store``, every read answered from rows
  built once, so what is left is Feast's own HTTP, protos and JSON;
* this store with its namespace cache off, then on;
* Feast's DynamoDB store, on the same endpoint as ours;
* Feast's Redis store, on a redis-server the bench starts (skipped, and said
  so, without the binary).

A separate load process (``serve_load``) keeps ``--in-flight`` requests in
flight over keep-alive HTTP for a bounded time, after a warm-up, each request
for 10 drivers x 5 views of the mixed data set (20 features a view), the
drivers drawn Zipf s = 1.1 from 100,000. Only the drivers some request asks for
are written, into every store alike, before the servers start. Every server's
answer to the same request is checked against the ceiling's first.

Reported per candidate: requests/s and p50/p99 latency (noisy on a shared
2-core machine), and the figure that holds there: CPU seconds per 1,000
requests of the server's processes (the gunicorn master and its workers, from
``/proc``), with requests per CPU-second as a share of the ceiling's; beside
them the CPU of the loader, of the DynamoDB endpoint and of redis-server, as a
share of one core, to show none of them was the bottleneck. Then the targets of
issue 20, met or missed. Nothing is asserted; every process started is stopped.

The DynamoDB endpoint (``--endpoint``): ``dynalite``, or ``simulated``: the
simulator of ``benchmarks.simulated_dynamodb`` in front of dynalite, which
answers reads itself with DynamoDB's latency once it has them (issue 20, point
1) and forwards them to dynalite until then; its banner and counts say which.
Data is loaded into dynalite directly either way.

What is left, per request, between this store and the ceiling: ``--profile``
samples the one-worker server of the ceiling and of this store (cache off and
on) under the same load with py-spy, and prints CPU-ms per request by where it
goes. py-spy is not a dependency; install it in a scratch venv and name it::

    python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy
    python -m benchmarks.serve_bench --profile --py-spy /tmp/pyspy/bin/py-spy
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from feast.repo_config import RepoConfig

from benchmarks import dataset, feature_stores, redis_server, serve_profile
from benchmarks.cache_bench import CACHE_MAX_LRU_SIZE, CACHE_TTL_SECONDS
from benchmarks.proc_cpu import tree_cpu_seconds
from benchmarks.simulated_dynamodb import SimulatedDynamo
from benchmarks.timing import Summary, target_line
from benchmarks.write_bench import div, num
from feature_repo_example import demo
from tests.servers import HOST, REPO_ROOT, start_dynalite

SEED = 20250301
DATA = dataset.MIXED  # 5 views of 20 mixed features: the shape issue 20's outside run served
POPULATION = 100_000
ENTITIES_PER_REQUEST = 10
ZIPF_S = 1.1
# issue 20's targets: requests per CPU-second as a share of the ceiling's; p99 against the ceiling's.
CACHE_OFF_TARGET = 0.8
CACHE_ON_TARGET = 0.95
P99_TARGET = 1.2

CEILING, OURS_OFF, OURS_ON, FEAST_DYNAMO, FEAST_REDIS = (
    "ceiling", "ours, cache off", "ours, cache on", "feast dynamodb", "feast redis",
)  # fmt: skip
# feast serve's --workers: one, then Feast's own choice (its auto setting, 2 x cores + 1).
WORKERS = (("1", "1 worker"), ("-1", f"{2 * (os.cpu_count() or 1) + 1} workers (feast serve -w -1)"))
# --quick's second run: more than one worker (a tree of processes to measure), but not five,
# whose boot (each imports Feast) is most of a smoke run's time on 2 cores.
QUICK_WORKERS = (WORKERS[0], ("2", "2 workers (--quick)"))
# Not Feast's defaults, for every candidate alike: no access log (a line per request is the
# server's cost, not the store's), and no recycling of a worker every 1,000 requests (a new
# worker reloads the registry and starts with an empty cache: steady state is measured).
SERVE_OPTIONS = ("--max-requests", "0")
# Where both DynamoDB stores read: the simulated DynamoDB (dynalite's items, DynamoDB's
# latency, answered concurrently) by default; dynalite serves one request at a time.
ENDPOINTS = ("dynalite", "simulated")
DEFAULT_ENDPOINT = "simulated"
SETTLE_SECONDS = 60.0  # a server still busy this long after it answers is measured anyway, and said so
SETTLED_CORE_SHARE = 0.05


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much to do. --quick is a smoke run of the harness, not a measurement."""

    requests: int  # distinct requests drawn; the load cycles through them if it outlasts them
    workers: tuple[tuple[str, str], ...]  # feast serve's --workers, and its label, for each pass
    warmup: float  # seconds of load before the measured window, not counted
    seconds: float  # seconds of load measured, per candidate and worker count
    in_flight: int


FULL = Plan(requests=6_000, workers=WORKERS, warmup=5.0, seconds=25.0, in_flight=8)
QUICK = Plan(requests=200, workers=QUICK_WORKERS, warmup=1.0, seconds=2.0, in_flight=8)


@dataclasses.dataclass(frozen=True)
class Measured:
    """One candidate's run at one worker count."""

    requests: int
    seconds: float
    summary: Summary  # latency of the answered requests, ms
    cpu: dict[str, float]  # CPU seconds in the window: "server", "loader", and each side process
    errors: dict[str, int]

    @property
    def per_cpu_second(self) -> float:
        return self.requests / self.cpu["server"] if self.cpu["server"] else float("inf")


def log(message: str) -> None:
    print(message, flush=True)


# -- configurations ----------------------------------------------------------------------------


def configs(tmp_dir: Path, endpoint_url: str, redis: str | None) -> dict[str, RepoConfig]:
    """Every candidate's repo config, its DynamoDB stores on ``endpoint_url``."""
    cache = [
        {"namespace": view, "ttl_seconds": CACHE_TTL_SECONDS, "max_lru_size": CACHE_MAX_LRU_SIZE}
        for view in DATA.view_names()
    ]
    # One writer of fresh rows: unguarded bulk writes are safe, and dynalite's guarded
    # fallback is one conditional update at a time (see cache_bench.our_knobs).
    plain = {"check_ts_for_bulk_writes": False}
    ours = tmp_dir / "registry-ours.db"
    found = {
        CEILING: feature_stores.repo_config(
            tmp_dir / "registry-ceiling.db",
            {
                "type": "benchmarks.ceiling_store.CeilingOnlineStore",
                "rows_dir": str(tmp_dir / "ceiling-rows"),
            },
        ),
        OURS_OFF: feature_stores.our_config(ours, endpoint_url, **plain),
        OURS_ON: feature_stores.our_config(ours, endpoint_url, **plain, cached_namespaces=cache),
        FEAST_DYNAMO: feature_stores.feast_config(tmp_dir / "registry-feast.db", endpoint_url),
    }
    if redis is not None:
        found[FEAST_REDIS] = feature_stores.repo_config(
            tmp_dir / "registry-redis.db", {"type": "redis", "connection_string": redis}
        )
    return found


def load_stores(loading: dict[str, RepoConfig], data_dir: Path) -> None:
    """Apply the views to every registry and write the rows into every store (ours once: one table)."""
    stores = {
        name: feature_stores.applied_store(config, [DATA], data_dir) for name, config in loading.items()
    }
    try:
        log("loading:")
        feature_stores.load(stores, DATA, data_dir, log)
    finally:
        for store in stores.values():
            feature_stores.close(store)


# -- one server under load -------------------------------------------------------------------------


@contextlib.contextmanager
def serving(repo: Path, log_path: Path, workers: str) -> Iterator[tuple[demo.ManagedProcess, int]]:
    """``feast serve`` of ``repo`` for the ``with`` block, once it answers and its workers are idle."""
    processes: list[demo.ManagedProcess] = []
    try:
        server, port = demo.start_feast_serve(
            repo, log_path, demo.child_env(), processes, ("--workers", workers, *SERVE_OPTIONS)
        )
        settle(server.proc.pid)
        yield server, port
    finally:
        for process in processes:
            process.stop()


def settle(pid: int) -> None:
    """Wait (bounded) until the server's processes are idle: every worker has booted and loaded."""
    deadline = time.monotonic() + SETTLE_SECONDS
    last = tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = tree_cpu_seconds(pid)
        if now - last <= SETTLED_CORE_SHARE * 0.5:
            return
        last = now
    log(f"  (the server was still busy {SETTLE_SECONDS:.0f} s after answering: measured anyway)")


def fetch(port: int, body: bytes) -> dict[str, Any]:
    """The server's answer, by feature: its values, statuses and event times, whatever its column order.

    The order of the columns is not the request's: it varies between two
    processes of the same server (it follows a set's, with Python's per-process hash seed).
    """
    request = urllib.request.Request(
        f"http://{HOST}:{port}/get-online-features",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    return dict(zip(answer["metadata"]["feature_names"], answer["results"], strict=True))


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two JSON documents first differ (``results[3].values[1]: 2 != 3``), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            found = first_difference(a.get(key), b.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if a == b else f"{path.lstrip('.')}: {str(a)[:80]} != {str(b)[:80]}"


def start_load(
    port: int, requests_file: Path, plan: Plan, watched: dict[str, int]
) -> subprocess.Popen[bytes]:
    """The load process (``serve_load``), on its way: warm-up, then ``plan.seconds`` measured."""
    command = [
        sys.executable, "-m", "benchmarks.serve_load",
        "--port", str(port),
        "--requests", str(requests_file),
        "--in-flight", str(plan.in_flight),
        "--warmup", str(plan.warmup),
        "--seconds", str(plan.seconds),
        *(f"--watch={name}={pid}" for name, pid in watched.items()),
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=demo.child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def finish_load(load: subprocess.Popen[bytes], plan: Plan) -> Measured:
    """What the load process measured, once it is done (it bounds its own run; this waits a minute more)."""
    try:
        out, err = load.communicate(timeout=plan.warmup + plan.seconds + 120)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    if load.returncode != 0:
        raise RuntimeError(f"the load process failed ({load.returncode}):\n{err.decode()[-3000:]}")
    report = orjson.loads(out)
    latencies = report["latencies_ms"]
    if len(latencies) < 2:
        raise RuntimeError(f"the load got {len(latencies)} answers; errors: {report['errors']}")
    errors = sum(report["errors"].values())
    return Measured(
        requests=len(latencies) + errors,
        seconds=report["seconds"],
        summary=Summary.of(latencies),
        cpu=report["cpu_seconds"],
        errors=report["errors"],
    )


# -- output ----------------------------------------------------------------------------------------

LABEL_WIDTH, CELL_WIDTH = 17, 10
COLUMNS = ("req/s", "p50 ms", "p99 ms", "CPU s/1k", "req/CPU-s", "/ceiling")
SIDE = ("loader", "dynalite", "simulator", "redis")  # processes beside the server, as watched


def line(label: str, cells: Sequence[str]) -> str:
    return f"{label:<{LABEL_WIDTH}}" + "".join(f"{cell:>{CELL_WIDTH}}" for cell in cells)


def print_table(title: str, runs: dict[str, Measured]) -> None:
    log(f"\n{title}")
    side = [name for name in SIDE if any(name in run.cpu for run in runs.values())]
    log(line("", [*COLUMNS, *(f"{s} %" for s in side), "errors"]))
    ceiling = runs.get(CEILING)
    for name, run in runs.items():
        cells = [
            num(run.requests / run.seconds, 1),
            num(run.summary.median, 1),
            num(run.summary.p99, 1),
            num(1000 * run.cpu["server"] / run.requests, 2),
            num(run.per_cpu_second, 1),
            num(div(run.per_cpu_second, ceiling.per_cpu_second if ceiling else None), 2),
            *(num(100 * run.cpu[s] / run.seconds, 0) if s in run.cpu else "" for s in side),
            str(sum(run.errors.values())),
        ]
        log(line(name, cells))
    log(
        "(CPU s/1k: CPU seconds of the server's processes per 1,000 requests; /ceiling: requests per "
        "CPU-second as a share of the ceiling's; %: share of one core over the window)"
    )
    for name, run in runs.items():
        for error, count in run.errors.items():
            log(f"  ERRORS {name}: {count} x {error}")


def print_targets(label: str, runs: dict[str, Measured]) -> None:
    ceiling = runs[CEILING]
    log(f"targets, {label} (requests per CPU-second as a share of the ceiling's; p99 / the ceiling's):")
    for name, target in ((OURS_OFF, CACHE_OFF_TARGET), (OURS_ON, CACHE_ON_TARGET)):
        run = runs[name]
        log(
            target_line(
                f"{name}, req/CPU-s / ceiling's", run.per_cpu_second / ceiling.per_cpu_second, target, True
            )
        )
    for name in (OURS_OFF, OURS_ON):
        log(
            target_line(
                f"{name}, p99 / ceiling's", runs[name].summary.p99 / ceiling.summary.p99, P99_TARGET, False
            )
        )
    others = [
        f"{name} {runs[name].per_cpu_second / ceiling.per_cpu_second:.2f}"
        for name in (FEAST_DYNAMO, FEAST_REDIS)
        if name in runs
    ]
    log(f"  for comparison, req/CPU-s / ceiling's: {', '.join(others)} (no target)")


# -- the run -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Setup:
    """What every server run shares: the repos to serve, the requests, and the processes beside the server."""

    repos: dict[str, Path]
    requests_file: Path
    probe: bytes  # the first request's body: every server's answer to it is compared with the ceiling's
    watched: dict[str, int]  # side processes whose CPU is reported: dynalite, simulator, redis
    logs: Path


def serve_and_load(
    setup: Setup, name: str, workers: str, plan: Plan, reference: dict[str, Any] | None
) -> tuple[Measured, dict[str, Any]]:
    """One candidate's server under the load; and its answer to the probe."""
    repo = setup.repos[name]
    with serving(repo, setup.logs / f"serve-{repo.name}-{workers}.log", workers) as (server, port):
        answer = fetch(port, setup.probe)
        difference = first_difference(reference, answer) if reference is not None else None
        if difference:
            log(f"  ANSWERS DIFFER: {name} does not answer as the ceiling does: {difference}")
        load = start_load(port, setup.requests_file, plan, {"server": server.proc.pid, **setup.watched})
        return finish_load(load, plan), answer


def measure_all(setup: Setup, plan: Plan, endpoint: str) -> list[str]:
    """Every candidate at each worker count: tables and targets; the runs whose answers differed."""
    mismatched: list[str] = []
    for workers, label in plan.workers:
        runs: dict[str, Measured] = {}
        reference: dict[str, Any] | None = None
        for name in setup.repos:
            runs[name], answer = serve_and_load(setup, name, workers, plan, reference)
            reference = reference or answer
            if answer != reference:
                mismatched.append(f"{name}, {label}")
        print_table(
            f"== Serving, {endpoint}: feast serve, {label}, {plan.in_flight} requests in flight ==", runs
        )
        print_targets(label, runs)
    return mismatched


def profile(setup: Setup, plan: Plan, py_spy: str) -> None:
    """What is left between this store and the ceiling: their one-worker servers sampled by py-spy."""
    names = (CEILING, OURS_OFF, OURS_ON)
    sampled = max(1, int(plan.seconds) - 2)
    places: dict[str, Counter[tuple[str, str]]] = {}
    hot: dict[str, list[tuple[str, float]]] = {}
    for name in names:
        repo = setup.repos[name]
        with serving(repo, setup.logs / f"profile-{repo.name}.log", "1") as (server, port):
            load = start_load(port, setup.requests_file, plan, {"server": server.proc.pid})
            time.sleep(plan.warmup + 1)  # py-spy's window inside the load's measured one
            raw_path = setup.logs / f"profile-{repo.name}.txt"
            serve_profile.record(py_spy, server.proc.pid, sampled, raw_path)
            run = finish_load(load, plan)
        raw = raw_path.read_text()
        cpu_ms = 1000 * run.cpu["server"] / run.requests
        places[name] = serve_profile.breakdown(raw, cpu_ms)
        hot[name] = serve_profile.hottest(raw, cpu_ms, top=6)
    log(
        f"\n== What is left: CPU-ms per request of a one-worker feast serve, by place "
        f"(py-spy --gil, {sampled} s at {serve_profile.RATE} Hz; /proc's CPU split by the samples' shares) =="
    )
    log(profile_line("", [*names, "off - ceil", "on - ceil"]))
    keys = sorted({key for counts in places.values() for key in counts})
    rows = [(f"{key[0]}: {key[1]}", [places[n][key] for n in names]) for key in keys]
    rows = [(label, values) for label, values in rows if max(values) >= 0.05]
    for part in (serve_profile.READ, serve_profile.REST):
        sums = [sum(ms for (where, _), ms in places[n].items() if where == part) for n in names]
        rows.append((f"{part}, in all", sums))
    rows.append(("total", [sum(places[n].values()) for n in names]))
    for label, values in rows:
        differences = [f"{values[1] - values[0]:+.2f}", f"{values[2] - values[0]:+.2f}"]
        log(profile_line(label, [f"{v:.2f}" for v in values] + differences))
    for name in (OURS_OFF, OURS_ON):
        log(f"hottest innermost frames, {name} (ms per request):")
        for frame, ms in hot[name]:
            log(f"  {ms:5.2f}  {frame}")


def profile_line(label: str, cells: Sequence[str]) -> str:
    return f"{label:<76}" + "".join(f"{cell:>17}" for cell in cells)


def prepare(cleanup: contextlib.ExitStack, plan: Plan, endpoint: str) -> Setup:
    """Servers beside feast serve, the data written into every store, and a repo per candidate."""
    backend = start_dynalite()
    cleanup.callback(backend.stop)
    watched = {"dynalite": backend.pid}
    tmp_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="feast-serve-bench-")))
    redis: str | None = None
    binary = redis_server.binary()
    if binary is None:
        log("redis-server not found on PATH: Feast's Redis store is skipped (`make bench` installs it)")
    else:
        running = cleanup.enter_context(redis_server.running_redis(binary))
        redis, watched["redis"] = running.connection_string, running.pid

    draws = dataset.zipf_draws(DATA.driver_ids(POPULATION), ENTITIES_PER_REQUEST, plan.requests, ZIPF_S, SEED)
    written = sorted({driver for request in draws for driver in request})
    data_dir = tmp_dir / "data"
    data_dir.mkdir()
    DATA.write_sources(data_dir, written, SEED, dataset.utc_now())
    log(
        f"{plan.requests:,} requests of {ENTITIES_PER_REQUEST} drivers x {DATA.n_views} views "
        f"({len(DATA.features)} mixed features a view), drivers Zipf s={ZIPF_S} over {POPULATION:,}; "
        f"the {len(written):,} drivers they ask for are written"
    )
    loading = configs(tmp_dir, backend.endpoint.url, redis)
    load_stores({name: config for name, config in loading.items() if name != OURS_ON}, data_dir)

    url = backend.endpoint.url
    if endpoint == "simulated":
        sim = cleanup.enter_context(SimulatedDynamo(backend.endpoint.url))
        assert sim.pid is not None  # started by enter_context
        # The stores are loaded: copy their tables, so that the simulator answers their reads
        # itself, after DynamoDB's latency (it refuses writes to them from now on).
        sim.snapshot(feature_stores.table_names(DATA.view_names()))
        url, watched["simulator"] = sim.url, sim.pid
        cleanup.callback(log_simulator, sim)  # before it stops: the ExitStack unwinds in reverse
        log(f"DynamoDB endpoint: SIMULATED, benchmarks.simulated_dynamodb on {sim.url}, backend dynalite")
    else:
        log(f"DynamoDB endpoint: dynalite on {url}, a single-threaded emulator, not DynamoDB's latency")
    features = DATA.feature_refs(DATA.view_names())
    requests_file = tmp_dir / "requests.json"
    requests_file.write_bytes(
        orjson.dumps({"features": features, "join_key": dataset.JOIN_KEY, "entity_lists": draws})
    )
    return Setup(
        repos={
            name: feature_stores.write_repo(
                tmp_dir / "repos" / name.replace(", ", "-").replace(" ", "-"), config
            )
            for name, config in configs(tmp_dir, url, redis).items()
        },
        requests_file=requests_file,
        probe=orjson.dumps(
            {"features": features, "entities": {dataset.JOIN_KEY: draws[0]}, "full_feature_names": True}
        ),
        watched=watched,
        logs=tmp_dir,
    )


def log_simulator(sim: SimulatedDynamo) -> None:
    """Which requests the simulator answered itself and which dynalite did: what "SIMULATED" covered."""
    stats = sim.stats()
    log(
        f"\nsimulator: answered {dict(stats.requests) or 'nothing'}; "
        f"forwarded to dynalite {dict(stats.forwarded)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="a few seconds a candidate: a smoke run, not a measurement"
    )
    parser.add_argument(
        "--endpoint",
        choices=ENDPOINTS,
        default=DEFAULT_ENDPOINT,
        help=f"where both DynamoDB stores read (default {DEFAULT_ENDPOINT})",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help=f"seconds measured per candidate and worker count (default {FULL.seconds:g})",
    )
    parser.add_argument("--in-flight", type=int, help=f"requests kept in flight (default {FULL.in_flight})")
    parser.add_argument(
        "--profile", action="store_true", help="then sample the one-worker servers with py-spy"
    )
    parser.add_argument(
        "--py-spy", default="py-spy", metavar="PATH", help="the py-spy executable (default: on PATH)"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.seconds is not None:
        plan = dataclasses.replace(plan, seconds=args.seconds)
    if args.in_flight is not None:
        plan = dataclasses.replace(plan, in_flight=args.in_flight)
    if args.profile and shutil.which(args.py_spy) is None:
        parser.error(f"--profile needs py-spy: {args.py_spy!r} not found (see this module's docstring)")
    started = time.monotonic()
    feature_stores.use_fake_aws_credentials()
    with contextlib.ExitStack() as cleanup:
        setup = prepare(cleanup, plan, args.endpoint)
        log(
            f"\nfeast serve on {HOST} ({' '.join(SERVE_OPTIONS)} --no-access-log); "
            f"{plan.in_flight} requests in flight over keep-alive HTTP, "
            f"{plan.warmup:g} s of warm-up, then {plan.seconds:g} s measured; "
            f"cache: ttl_seconds={CACHE_TTL_SECONDS}, max_lru_size={CACHE_MAX_LRU_SIZE:,} per view"
        )
        endpoint = "SIMULATED DynamoDB" if args.endpoint == "simulated" else "dynalite"
        mismatched = measure_all(setup, plan, endpoint)
        if args.profile:
            profile(setup, plan, args.py_spy)
    log(f"\ntotal {time.monotonic() - started:.0f} s")
    if mismatched:
        log(f"ANSWERS DIFFER from the ceiling's: {'; '.join(mismatched)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
