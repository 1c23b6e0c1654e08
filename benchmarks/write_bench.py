"""``make bench-write``: write throughput of this store against Feast's DynamoDB store.

The same 5 views x 20 mixed-type features are written three ways:

(a) dynalite, a local emulator: ``online_write_batch`` called directly (store
    level) and ``FeatureStore.materialize`` (end to end), for each write mode
    of this store and for Feast's store; beside the raw floor, the very
    requests this store sent replayed bare at the same concurrency, and the
    discard store's materialize (Feast's pipeline alone). dynalite applies
    writes one at a time, so this part measures the client against it.
(b) a SIMULATED DynamoDB (``benchmarks.simulated_dynamodb``): data writes
    answered after 8 ms with unlimited concurrency, as DynamoDB would from
    the same region; throughput, and write units per row by DynamoDB's rules,
    here and for ``feature_repo_example``.
(c) the same simulation answering at once: client CPU per row.

Turns of all candidates are interleaved and medians reported; only ratios
within one run mean anything on this shared machine. Nothing is asserted and
nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks import dataset, feature_stores
from benchmarks.dataset import Row
from benchmarks.simulated_dynamodb import SimulatedDynamo
from benchmarks.timing import target_line
from benchmarks.write_example import example_write_units
from benchmarks.write_floor import RawWriteReplay, Recorder
from benchmarks.write_runs import (
    Candidate,
    Sample,
    WarningLog,
    build,
    close_all,
    interleave,
    materialize_turn,
    median_cpu,
    median_rate,
    round_trip_mismatches,
    write_turn,
)
from tests.servers import start_dynalite

SEED = 20240602
SIM_DELAY_MS = 8.0
DATA = dataset.MIXED

# Targets (printed beside the measurements; nothing is asserted).
TARGET_VS_FLOOR = 0.8  # (a) ours >= 0.8x the raw floor's rows/s
TARGET_BULK_VS_FEAST = 10.0  # (b) transactional bulk >= 10x Feast's rows/s, store level
TARGET_E2E_VS_CEILING = 0.8  # (b) end to end >= 0.8x the discard ceiling
TARGET_CPU_VS_FEAST = 0.5  # (c) ours <= 0.5x Feast's CPU per row

# This store's write modes: (label, online_store knobs).
MODES: list[tuple[str, dict[str, Any]]] = [
    ("transactional bulk", {}),  # check_ts_for_bulk_writes: true, the default
    ("unguarded", {"check_ts_for_bulk_writes": False}),
    ("per-row guarded", {"bulk_write_min_rows": 1_000_000_000}),  # no call is bulk
]
DEFAULT_MODE = f"ours: {MODES[0][0]}"
FEAST_LABEL = "feast: dynamodb"
CEILING_LABEL = "ceiling: discard store"


@dataclass(frozen=True)
class Plan:
    """How much to do: the full run takes about six minutes on 2 cores, --quick under two."""

    entities: int  # rows of one view, so of each store-level call (one row per driver)
    rounds: int  # store-level turns per candidate; turn i writes view i mod 5
    e2e_rounds: int  # materialize turns per candidate
    wcu_entities: int  # entities written from empty to count write units
    cpu_rounds: int  # turns per candidate at zero delay (c)
    warmup_rows: int  # per view, before any timed turn: connections, names, mode discovery
    check_rows: int  # per view, read back to check what was stored


FULL = Plan(
    entities=2000, rounds=4, e2e_rounds=2, wcu_entities=200, cpu_rounds=3, warmup_rows=50, check_rows=50
)
QUICK = Plan(
    entities=500, rounds=3, e2e_rounds=1, wcu_entities=100, cpu_rounds=2, warmup_rows=50, check_rows=20
)
# Only for the smoke test: every table printed, nothing measured.
SMOKE = Plan(entities=40, rounds=1, e2e_rounds=1, wcu_entities=20, cpu_rounds=1, warmup_rows=20, check_rows=5)


@dataclass(frozen=True)
class Data:
    """The run's data, built once: parquet files for materialize, Feast rows for online_write_batch."""

    tmp_dir: Path
    data_dir: Path
    rows: dict[str, list[Row]]
    now: datetime

    @property
    def window(self) -> tuple[datetime, datetime]:
        return dataset.materialize_window(self.now)


def log(message: str) -> None:
    print(message, flush=True)


# -- output ----------------------------------------------------------------------------------------

LABEL_WIDTH, CELL_WIDTH = 36, 11


def line(label: str, cells: Sequence[str]) -> str:
    return f"{label:<{LABEL_WIDTH}}" + "".join(f"{cell:>{CELL_WIDTH}}" for cell in cells)


def num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def requests_note(candidate: Candidate) -> str:
    sent = ", ".join(f"{op} x{n:,}" for op, n in candidate.requests.most_common())
    return f"  {candidate.label}: {sent or 'nothing'} for {candidate.rows_sent:,} rows"


def fell_back(candidate: Candidate) -> bool:
    """The transactional mode sent per-row UpdateItems instead (an endpoint without transactions)."""
    return (
        candidate.label == DEFAULT_MODE
        and candidate.requests["UpdateItem"] > candidate.requests["TransactWriteItems"]
    )


def failures(candidates: Sequence[Candidate]) -> None:
    for candidate in candidates:
        if candidate.failure:
            log(f"  FAILED {candidate.label}: {candidate.failure}")


def print_warnings(warnings: WarningLog) -> None:
    for message, count in warnings.take().most_common():
        log(f"  store warning (x{count}): {message[:300]}")


# -- candidates ------------------------------------------------------------------------------------


def our_candidates(
    data: Data, endpoint_url: str, part: str, skipped: list[str], built: list[Candidate]
) -> list[Candidate]:
    """This store in each mode; a mode whose knob this version rejects is skipped, with the reason.

    Each is also added to ``built`` as soon as it exists, so the caller closes
    it even when a later one fails to build.
    """
    candidates = []
    for index, (label, knobs) in enumerate(MODES):
        registry = data.tmp_dir / f"registry-{part}-ours-{index}.db"
        config = feature_stores.our_config(registry, endpoint_url, **knobs)
        try:
            config.online_store  # noqa: B018  # Feast validates the online_store section lazily, here
        except Exception as error:
            skipped.append(
                f"ours: {label} skipped: this store rejects {sorted(knobs)}: {str(error).splitlines()[0]}"
            )
            continue
        candidates.append(build(f"ours: {label}", config, DATA, data.data_dir, ours=True))
        built.append(candidates[-1])
    return candidates


def feast_candidate(data: Data, endpoint_url: str, part: str) -> Candidate:
    config = feature_stores.feast_config(data.tmp_dir / f"registry-{part}-feast.db", endpoint_url)
    return build(FEAST_LABEL, config, DATA, data.data_dir, ours=False)


def ceiling_candidate(data: Data, part: str) -> Candidate:
    config = feature_stores.discard_config(data.tmp_dir / f"registry-{part}-discard.db")
    return build(CEILING_LABEL, config, DATA, data.data_dir, ours=False)


# -- turns -----------------------------------------------------------------------------------------


def warm_up(candidates: Sequence[Candidate], data: Data, plan: Plan) -> None:
    """A small bulk write of every view: opens connections, loads names, finds the endpoint's modes."""
    for candidate in candidates:
        for view, rows in data.rows.items():
            write_turn(candidate, view, rows[: plan.warmup_rows])
        candidate.reset_counts()


def store_rounds(
    candidates: Sequence[Candidate],
    data: Data,
    rounds: int,
    floor: Callable[[Candidate, int], None] | None = None,
    requests: Callable[[], Counter[str]] | None = None,
) -> None:
    """``rounds`` turns of each candidate, one view per turn; a floor turn right after each of ours."""
    views = list(data.rows)
    groups = [[(c, False), (c, True)] if c.ours and floor else [(c, False)] for c in candidates]
    for turn in range(rounds):
        view = views[turn % len(views)]
        for candidate, is_floor in interleave(groups, turn):
            if is_floor:
                assert floor is not None
                floor(candidate, len(data.rows[view]))
            else:
                write_turn(candidate, view, data.rows[view], record=floor is not None, requests=requests)


def e2e_rounds(candidates: Sequence[Candidate], data: Data, rounds: int, all_views: bool) -> None:
    """Materialize turns: all views per turn, or one view per turn (a view is one online_write_batch)."""
    views = list(data.rows)
    start, end = data.window
    for turn in range(rounds):
        chosen = views if all_views else [views[turn % len(views)]]
        rows = sum(len(data.rows[view]) for view in chosen)
        for candidate in interleave([[c] for c in candidates], turn):
            materialize_turn(candidate, start, end, chosen, rows)


# -- (a) dynalite ----------------------------------------------------------------------------------


def part_dynalite(data: Data, plan: Plan, warnings: WarningLog, summary: dict[str, float | None]) -> None:
    server = start_dynalite()
    candidates: list[Candidate] = []
    try:
        url = server.endpoint.url
        skipped: list[str] = []
        ours = our_candidates(data, url, "a", skipped, candidates)
        feast = feast_candidate(data, url, "a")
        candidates.append(feast)
        ceiling = ceiling_candidate(data, "a")
        candidates.append(ceiling)
        threads = ours[0].engine().settings.client_threads if ours else 1
        log(f"\n[a] dynalite on {url}; this store's client threads: {threads}")
        warm_up([*ours, feast], data, plan)
        replay = RawWriteReplay(url, feature_stores.REGION, threads)
        floors: dict[str, list[Sample]] = {c.label: [] for c in ours}
        outcomes: dict[str, Counter[str]] = {c.label: Counter() for c in ours}
        for candidate in ours:
            candidate.recorder = Recorder(candidate.engine().writes.listeners)

        def floor(candidate: Candidate, rows: int) -> None:
            assert candidate.recorder is not None
            if candidate.failure or not candidate.recorder.calls:
                return
            requests = candidate.recorder.calls.pop()
            candidate.recorder.calls.clear()
            try:
                result = replay.replay(requests)
            except Exception as error:  # shown with the answers; the bench goes on
                outcomes[candidate.label][f"replay FAILED: {str(error)[:200]}"] += 1
                return
            floors[candidate.label].append(Sample(rows, result.seconds, result.cpu_seconds))
            outcomes[candidate.label].update(result.outcomes)

        store_rounds([*ours, feast], data, plan.rounds, floor=floor)
        feast_rate = median_rate(feast.samples)
        log(
            f"\n== (a) dynalite, store level: online_write_batch of {plan.entities:,} rows per call, "
            f"{plan.rounds} turns each, interleaved (medians) =="
        )
        log(
            line(
                "", ["rows/s", "CPU us/row", "req/row", "floor r/s", "floor CPU", "ours/floor", "ours/Feast"]
            )
        )
        for candidate in [*ours, feast]:
            rate = median_rate(candidate.samples)
            floor_samples = floors.get(candidate.label, [])
            floor_rate = median_rate(floor_samples)
            label = candidate.label + (" *" if fell_back(candidate) else "")
            log(
                line(
                    label,
                    [
                        num(rate),
                        num(median_cpu(candidate.samples)),
                        num(candidate.requests_per_row(), 2),
                        num(floor_rate),
                        num(median_cpu(floor_samples)),
                        ratio(rate, floor_rate),
                        ratio(rate, feast_rate) if candidate is not feast else "",
                    ],
                )
            )
            if candidate.ours:
                summary[f"a {candidate.label} / floor"] = div(rate, floor_rate)
        for note in skipped:
            log(f"  {note}")
        if any(fell_back(c) for c in ours):
            log("  * dynalite has no TransactWriteItems: the store fell back to a guarded UpdateItem per row")
        log(
            "  requests this store sent in the timed turns (floor: the same requests, replayed by "
            f"{threads} threads on kept-alive http.client connections, json.dumps + SigV4Auth):"
        )
        for candidate in ours:
            log(requests_note(candidate))
            answered = ", ".join(f"{k} x{v:,}" for k, v in outcomes[candidate.label].most_common())
            log(f"    floor answers: {answered or '-'}")
        failures(candidates)
        print_warnings(warnings)
        check_round_trip([*ours, feast], data, plan)

        for candidate in candidates:
            candidate.reset_counts()
        e2e_rounds(candidates, data, plan.e2e_rounds, all_views=False)
        print_e2e(
            f"(a) dynalite, end to end: FeatureStore.materialize of one view ({plan.entities:,} rows) "
            f"per turn, {plan.e2e_rounds} turns each",
            [*ours, feast],
            feast,
            ceiling,
        )
        failures(candidates)
        print_warnings(warnings)
    finally:
        close_all(candidates)
        server.stop()


def check_round_trip(candidates: Sequence[Candidate], data: Data, plan: Plan) -> None:
    """Read back what was written; every mode of ours wrote the same values, so one of ours suffices."""
    ours = next((c for c in candidates if c.ours and not c.failure), None)
    checked = [c for c in (ours, *[c for c in candidates if not c.ours]) if c is not None]
    log(
        f"  round trip: online_read of {plan.check_rows} entities x {len(data.rows)} views "
        "against the protos written (lists, Map, strings included):"
    )
    for candidate in checked:
        problems = []
        for view, rows in data.rows.items():
            problems += round_trip_mismatches(candidate, view, rows[: plan.check_rows])
        verdict = "identical" if not problems else f"{len(problems)} mismatches, e.g. {problems[0][:200]}"
        log(f"    {candidate.label}: {verdict}")


def print_e2e(title: str, stores: Sequence[Candidate], feast: Candidate, ceiling: Candidate) -> None:
    ceiling_rate, feast_rate = median_rate(ceiling.samples), median_rate(feast.samples)
    log(f"\n== {title} ==")
    log(line("", ["rows/s", "CPU us/row", "/ceiling", "ours/Feast"]))
    for candidate in [*stores, ceiling]:
        rate = median_rate(candidate.samples)
        log(
            line(
                candidate.label,
                [
                    num(rate),
                    num(median_cpu(candidate.samples)),
                    ratio(rate, ceiling_rate),
                    ratio(rate, feast_rate) if candidate.ours else "",
                ],
            )
        )
    log("  ceiling: the same materialize into a store that discards the rows (Feast's pipeline alone)")


# -- (b) and (c): the simulation -------------------------------------------------------------------


def part_simulation(data: Data, plan: Plan, warnings: WarningLog, summary: dict[str, float | None]) -> None:
    backend = start_dynalite()
    candidates: list[Candidate] = []
    try:
        with SimulatedDynamo(backend.endpoint.url, delay_ms=SIM_DELAY_MS) as sim:
            log(f"\n[b] SIMULATED DynamoDB on {sim.url} ({SIM_DELAY_MS:g} ms a data write), backend dynalite")
            skipped: list[str] = []
            ours = our_candidates(data, sim.url, "b", skipped, candidates)
            feast = feast_candidate(data, sim.url, "b")
            candidates.append(feast)
            ceiling = ceiling_candidate(data, "b")
            candidates.append(ceiling)
            stores = [*ours, feast]

            def sim_requests() -> Counter[str]:
                return Counter(sim.stats().requests)

            write_units_from_empty(sim, stores, data, plan)
            for note in skipped:
                log(f"  {note}")

            for candidate in stores:
                candidate.reset_counts()
            store_rounds(stores, data, plan.rounds, requests=sim_requests)
            feast_rate = median_rate(feast.samples)
            log(
                f"\n== (b) SIMULATION, store level: online_write_batch of {plan.entities:,} rows per call, "
                f"{plan.rounds} turns each (medians) =="
            )
            log(line("", ["rows/s", "CPU us/row", "req/row", "ours/Feast"]))
            for candidate in stores:
                rate = median_rate(candidate.samples)
                log(
                    line(
                        candidate.label,
                        [
                            num(rate),
                            num(median_cpu(candidate.samples)),
                            num(div(sum(candidate.requests.values()), candidate.rows_sent), 3),
                            ratio(rate, feast_rate) if candidate.ours else "",
                        ],
                    )
                )
                if candidate.label == DEFAULT_MODE:
                    summary["b transactional bulk / Feast"] = div(rate, feast_rate)
            if ours:
                threads = ours[0].engine().settings.client_threads
                log(
                    f"  per-row modes: a request per row, {threads} in flight (num_client_threads) at "
                    f"{SIM_DELAY_MS:g} ms: at most {threads * 1000 / SIM_DELAY_MS:,.0f} rows/s; "
                    "Feast's store sends BatchWriteItems of 25, one at a time"
                )
            failures(stores)
            print_warnings(warnings)

            default = [c for c in ours if c.label == DEFAULT_MODE]
            for candidate in candidates:
                candidate.reset_counts()
            e2e_rounds([*default, feast, ceiling], data, plan.e2e_rounds, all_views=True)
            total = sum(len(rows) for rows in data.rows.values())
            print_e2e(
                f"(b) SIMULATION, end to end: FeatureStore.materialize of all {len(data.rows)} views "
                f"({total:,} rows) per turn, {plan.e2e_rounds} turns each",
                [*default, feast],
                feast,
                ceiling,
            )
            if default:
                summary["b end to end / ceiling"] = div(
                    median_rate(default[0].samples), median_rate(ceiling.samples)
                )
            failures(candidates)
            print_warnings(warnings)

            modes = [(label, knobs) for label, knobs in MODES if f"ours: {label}" in {c.label for c in ours}]
            example = example_write_units(sim, data.tmp_dir, modes, data.now)
            log("\n== (b) SIMULATION, feature_repo_example: write units of one materialize, from empty ==")
            log(line("", ["rows", "WCU", "WCU/row", "req/row"]))
            for result in example:
                if result.failure:
                    log(f"  FAILED {result.label}: {result.failure}")
                    continue
                requests = sum(result.requests.values())
                log(
                    line(
                        result.label,
                        [
                            num(result.rows),
                            num(result.write_units),
                            num(result.units_per_row, 2),
                            num(div(requests, result.rows), 3),
                        ],
                    )
                )
            log(
                "  its two views as the demo builds them (data_gen + build_objects over 50 drivers), "
                "applied and materialized into the simulator; rows: what Feast handed to online_write_batch"
            )
            print_warnings(warnings)

            sim.set_delay(0)
            part_client_cost(stores, data, plan, summary, sim_requests)
            print_warnings(warnings)
    finally:
        close_all(candidates)
        backend.stop()


def write_units_from_empty(sim: Any, stores: Sequence[Candidate], data: Data, plan: Plan) -> None:
    """Each candidate writes every view of the first entities into an emptied simulator, view by view."""
    views = list(data.rows)
    log(
        f"\n== (b) SIMULATION, write units per row: {plan.wcu_entities} entities x {len(views)} views "
        "written from empty, one call per view, in this order =="
    )
    log(line("", ["WCU/row", *[f"{view} WCU/r" for view in views], "req/row", "items"]))
    for candidate in stores:
        sim.reset()
        per_view = []
        for view in views:
            before = sim.stats().write_units
            write_turn(candidate, view, data.rows[view][: plan.wcu_entities])
            per_view.append((sim.stats().write_units - before) / plan.wcu_entities)
        stats = sim.stats()
        rows = plan.wcu_entities * len(views)
        log(
            line(
                candidate.label,
                [
                    num(stats.write_units / rows, 2),
                    *[num(units, 2) for units in per_view],
                    num(sum(stats.requests.values()) / rows, 3),
                    num(stats.items),
                ],
            )
        )
    failures(stores)
    log(
        "  ours keeps an entity's views in one item, so a later view's update is charged on the whole item; "
        "a transaction costs twice"
    )


def part_client_cost(
    stores: Sequence[Candidate],
    data: Data,
    plan: Plan,
    summary: dict[str, float | None],
    requests: Callable[[], Counter[str]],
) -> None:
    for candidate in stores:
        candidate.reset_counts()
    store_rounds(stores, data, plan.cpu_rounds, requests=requests)
    feast = next(c for c in stores if c.label == FEAST_LABEL)
    feast_cpu = median_cpu(feast.samples)
    log(
        f"\n== (c) SIMULATION at 0 ms, client cost: CPU per row of online_write_batch "
        f"({plan.entities:,} rows per call, {plan.cpu_rounds} turns each, medians) =="
    )
    log(line("", ["CPU us/row", "rows/s", "ours/Feast"]))
    for candidate in stores:
        cpu = median_cpu(candidate.samples)
        log(
            line(
                candidate.label,
                [
                    num(cpu),
                    num(median_rate(candidate.samples)),
                    ratio(cpu, feast_cpu) if candidate.ours else "",
                ],
            )
        )
        if candidate.ours:
            summary[f"c {candidate.label} CPU / Feast"] = div(cpu, feast_cpu)
    log("  CPU: time.process_time() of this process (every thread of it; the simulator is another process)")
    failures(stores)


# -- main ------------------------------------------------------------------------------------------


def legend(plan: Plan) -> None:
    log("== Write throughput: this store vs Feast's DynamoDB store ==")
    log(
        f"data: {plan.entities:,} drivers x {DATA.n_views} views x {len(DATA.features)} features per view "
        f"({DATA.summary}), a row per driver and view"
    )
    log("(a) dynalite: a local emulator applying writes one at a time; the floor is this store's own")
    log("    requests replayed bare. It measures the clients against dynalite, not DynamoDB.")
    log(f"(b) SIMULATION: data writes answered after {SIM_DELAY_MS:g} ms with unlimited concurrency,")
    log("    conditions not evaluated, write units counted by DynamoDB's rules (simulated_dynamodb).")
    log("(c) SIMULATION answering at once: what the client itself spends per row.")
    log(
        f"targets: (a) ours >= {TARGET_VS_FLOOR}x raw floor; (b) transactional bulk >= "
        f"{TARGET_BULK_VS_FEAST:g}x Feast rows/s at store level, end to end >= {TARGET_E2E_VS_CEILING}x the "
        f"discard ceiling; (c) ours <= {TARGET_CPU_VS_FEAST}x Feast CPU/row"
    )


def print_targets(summary: dict[str, float | None]) -> None:
    log("\n== Targets (ratios from the tables above; (b) and (c) are SIMULATION) ==")
    for name, value in summary.items():
        if name.startswith("a "):
            log(target_line(name, value, TARGET_VS_FLOOR, at_least=True))
        elif name.startswith("b transactional"):
            log(target_line(name, value, TARGET_BULK_VS_FEAST, at_least=True))
        elif name.startswith("b end"):
            log(target_line(name, value, TARGET_E2E_VS_CEILING, at_least=True))
        elif name.startswith("c "):
            log(target_line(name, value, TARGET_CPU_VS_FEAST, at_least=False))


def prepare(tmp_dir: Path, plan: Plan) -> Data:
    now = dataset.utc_now()
    data_dir = tmp_dir / "data"
    data_dir.mkdir()
    DATA.write_sources(data_dir, DATA.driver_ids(plan.entities), SEED, now)
    _, views = dataset.definitions([DATA], data_dir)
    return Data(tmp_dir, data_dir, {view.name: dataset.feast_rows(data_dir, view) for view in views}, now)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="fewer rows and turns: a smoke run, not a measurement"
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=1.0,
        metavar="MS",
        help="the GIL switch interval for the run, in ms (default 1, as make bench; Python's own is 5)",
    )
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # the smoke test's tiny run
    args = parser.parse_args(argv)
    sys.setswitchinterval(args.switch_interval / 1000)
    plan = SMOKE if args.smoke else QUICK if args.quick else FULL
    started = time.monotonic()
    feature_stores.use_fake_aws_credentials()
    warnings = WarningLog()
    store_logger = logging.getLogger("feast_chalk_dynamo")
    store_logger.addHandler(warnings)
    summary: dict[str, float | None] = {}
    legend(plan)
    log(f"GIL switch interval: {args.switch_interval} ms; cores: {os.cpu_count()}")
    try:
        with tempfile.TemporaryDirectory(prefix="feast-bench-write-") as tmp:
            data = prepare(Path(tmp), plan)
            part_dynalite(data, plan, warnings, summary)
            log(f"\n(a) took {time.monotonic() - started:.0f} s")
            part_simulation(data, plan, warnings, summary)
    finally:
        store_logger.removeHandler(warnings)
    print_targets(summary)
    log(f"\ntotal {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
