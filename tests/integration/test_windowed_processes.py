"""Windowed aggregations pushed by two real processes at once, read in a third, against pandas (issue 19).

Two Feast users in processes of their own (``tests.feast_worker``) push a
random event stream in random chunks to the ``sales`` view, whose entity key
is a string and an int; the test's own process reads every output through
``get_online_features`` for fake "now"s and holds it to the oracle
(``tests.windowed_oracle``): values, statuses and event times. Every
request goes through the strict AWS-limits proxy (the moto fixture).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feast_chalk_dynamo.items.slots import datetime_to_micros
from tests.feast_worker import Operator, Worker, worker_config
from tests.servers import Endpoint
from tests.windowed_objects import (
    HOP,
    MERCHANT,
    SALES_AGGREGATIONS,
    TERMINAL,
    output_name,
    sales_view,
    write_source,
)
from tests.windowed_oracle import Expected, agrees, expected, late

KEYS = ("merchant", "terminal")
RAW = ("amount", "qty", "rider")  # read as the newest kept event's
REFS = [f"sales:{output_name(a)}" for a in SALES_AGGREGATIONS] + [f"sales:{column}" for column in RAW]
FUNCTION = {output_name(a): a.function for a in SALES_AGGREGATIONS}
HOP_S = int(HOP.total_seconds())
LONGEST_S = int(max(a.time_window for a in SALES_AGGREGATIONS).total_seconds())
# Where every example's clock starts: a bucket boundary near the real time (the pages' TTL is real).
BASE_S = (int(datetime.now(timezone.utc).timestamp()) // HOP_S) * HOP_S


@dataclass
class Deployment:
    """The repo applied once; two pushing processes and the reader (this process), all on one table."""

    pushers: tuple[Worker, Worker]
    reader: Operator
    examples: Iterator[int]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: Endpoint) -> Iterator[Deployment]:
    repo = tmp_path_factory.mktemp("windowed-processes")
    table = f"t-windowed-{repo.name[-6:]}"
    reader = Operator(worker_config(repo, moto_endpoint.url, table, versioning=False))
    reader.store.apply([MERCHANT, TERMINAL, sales_view(write_source(repo / "sales.parquet"))])
    pushers = (Worker(repo, moto_endpoint.url, table), Worker(repo, moto_endpoint.url, table))
    try:
        yield Deployment(pushers, reader, itertools.count())
    finally:
        for worker in pushers:
            worker.stop()
        reader.close()


def read(reader: Operator, now_s: float, entities: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """Each entity's answer at ``now_s``: ``{feature: (value, status, event time µs)}``."""
    reader.engine.now = lambda: now_s
    response = reader.store.get_online_features(
        features=REFS, entity_rows=[dict(zip(KEYS, entity, strict=True)) for entity in entities]
    )
    names = list(response.proto.metadata.feature_names.val)
    answers: list[dict[str, Any]] = [{} for _ in entities]
    for name, vector in zip(names, response.proto.results, strict=True):
        if name in KEYS:
            continue
        for answer, value, status, stamp in zip(
            answers, vector.values, vector.statuses, vector.event_timestamps, strict=True
        ):
            field = value.WhichOneof("val")
            plain = getattr(value, field) if field else None
            answer[name] = (plain, FieldStatus.Name(status), stamp.seconds * 1_000_000 + stamp.nanos // 1000)
    return answers


def assert_answers(answers: list[dict[str, Any]], entities: Sequence[tuple[str, int]],
                   oracle: dict[tuple[Any, ...], Expected], context: Any) -> None:  # fmt: skip
    for entity, answer in zip(entities, answers, strict=True):
        want = oracle.get(entity)
        for name, (value, status, micros) in answer.items():
            if want is None:
                assert (value, status) == (None, "NOT_FOUND"), (entity, name, context)
                continue
            assert status == "PRESENT", (entity, name, status, context)
            assert micros == datetime_to_micros(want.event_time), (entity, name, context)
            if name in FUNCTION:
                assert agrees(FUNCTION[name], value, want.values[name], want.windows[name]), (
                    entity, name, value, want.values[name], context
                )  # fmt: skip
        if want is not None:
            raw = {column: answer[column][0] for column in RAW}
            assert raw in want.newest_rows, (entity, raw, want.newest_rows, context)


def at(seconds: int, micros: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc) + timedelta(microseconds=micros)


@st.composite
def streams(draw: st.DrawFn) -> tuple[int, list[dict[str, Any]], list[tuple[int, list[int]]], list[int]]:
    """(push time s, events, chunks (pusher, event indexes) in push order, read delays s)."""
    push_s = BASE_S + draw(st.integers(0, HOP_S - 1))
    boundary = st.integers(-LONGEST_S // HOP_S - 6, 2).map(lambda k: BASE_S + k * HOP_S - push_s)
    recent = st.integers(-2 * HOP_S, HOP_S)  # many events on the same pages: writers race for them
    offset_s = st.one_of(recent, st.integers(-LONGEST_S - 6 * 3600, 1800), boundary)  # late ones, future ones
    event = st.fixed_dictionaries({
        "merchant": st.sampled_from(["a", "b"]),
        "terminal": st.sampled_from([1, 2]),
        "offset_s": offset_s,
        "micros": st.sampled_from([0, -1, 1]),  # either side of a bucket boundary
        "amount": st.one_of(st.none(), st.integers(-4000, 4000).map(lambda n: n / 4)),
        "qty": st.one_of(st.none(), st.integers(-50, 50)),
        "rider": st.one_of(st.none(), st.sampled_from(["r1", "r2", "r3", "r4", "r5"])),
    })  # fmt: skip
    events = draw(st.lists(event, min_size=4, max_size=30))
    cuts = sorted(draw(st.sets(st.integers(1, len(events) - 1), max_size=8)))
    bounds = [0, *cuts, len(events)]
    chunks = [(draw(st.integers(0, 1)), list(range(start, end))) for start, end in itertools.pairwise(bounds)]
    delays = [0, draw(st.integers(1, LONGEST_S + 2 * HOP_S))]
    return push_s, events, chunks, delays


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(stream=streams())
def test_two_processes_pushing_at_once_read_as_pandas(
    deployment: Deployment, stream: tuple[int, list[dict[str, Any]], list[tuple[int, list[int]]], list[int]]
) -> None:
    push_s, events, chunks, delays = stream
    example = next(deployment.examples)  # each example's entities are its own
    rows = [
        {"merchant": f"x{example}-{e['merchant']}", "terminal": e["terminal"], "amount": e["amount"],
         "qty": e["qty"], "rider": e["rider"], "ts": at(push_s + e["offset_s"], e["micros"])}
        for e in events
    ]  # fmt: skip
    outputs = dict.fromkeys(FUNCTION)  # Feast wants every schema column pushed: the outputs as nulls
    pushed = [{**row, **outputs, "ts": row["ts"].isoformat()} for row in rows]
    late_before = [worker("aggregate_counts")["late_events"] for worker in deployment.pushers]

    def push(pusher: int) -> None:
        worker = deployment.pushers[pusher]
        worker("freeze_clock", push_s)
        for chunk_pusher, indexes in chunks:
            if chunk_pusher == pusher:
                worker("push", "sales_push", [pushed[index] for index in indexes])

    with ThreadPoolExecutor(2) as pool:  # the pushes run in the two worker processes, at once
        list(pool.map(push, (0, 1)))

    pushed_at = datetime.fromtimestamp(push_s, timezone.utc)
    entities = [(f"x{example}-{m}", t) for m in "abc" for t in (1, 2)]  # c: never pushed
    for delay in delays:
        now = pushed_at + timedelta(seconds=delay)
        oracle = expected(pd.DataFrame(rows), KEYS, SALES_AGGREGATIONS, HOP, now, pushed_at)
        assert_answers(read(deployment.reader, now.timestamp(), entities), entities, oracle, (delay, rows))
    late_after = [worker("aggregate_counts")["late_events"] for worker in deployment.pushers]
    assert (
        sum(late_after) - sum(late_before)
        == late(pd.DataFrame(rows), SALES_AGGREGATIONS, HOP, pushed_at).sum()
    )


def test_two_processes_merging_into_one_count_distinct_bucket_lose_no_update(deployment: Deployment) -> None:
    """Each process's update cache holds the page as it last wrote it, so a process pushing after the
    other merges into a stale version: its conditional write fails, it reads the page again and
    retries. Taking turns makes that happen on every push after each one's first (counted exactly:
    a hit, a conflict, a miss); then both push at once. Every rider, amount and count is kept."""
    push_s = BASE_S + 60
    entity = ("race", 1)
    rounds, concurrent = 4, 6
    rows: list[dict[str, Any]] = []

    def chunk(pusher: int, number: int) -> list[dict[str, Any]]:
        """Three events of new riders (the sketch changes, so the merge must be written)."""
        new = [
            {"merchant": entity[0], "terminal": entity[1], "amount": float(len(rows) + i), "qty": i,
             "rider": f"p{pusher}-{number}-{i}", "ts": at(push_s - 30 * i, 0)}
            for i in range(3)
        ]  # fmt: skip
        rows.extend(new)
        outputs = dict.fromkeys(FUNCTION)
        return [{**row, **outputs, "ts": row["ts"].isoformat()} for row in new]

    pushers = deployment.pushers
    for worker in pushers:
        worker("freeze_clock", push_s)
    before = [worker("aggregate_counts") for worker in pushers]
    for number in range(rounds):
        for pusher, worker in enumerate(pushers):
            worker("push", "sales_push", chunk(pusher, number))
    turns = [delta(before[i], pushers[i]("aggregate_counts")) for i in (0, 1)]
    for counts in turns:  # the first push reads the page; each later one finds it stale in the cache
        assert counts["cache_misses"] == rounds and counts["cache_hits"] == rounds - 1, counts
        assert counts["version_conflicts"] == rounds - 1, counts

    chunks = {pusher: [chunk(pusher, rounds + n) for n in range(concurrent)] for pusher in (0, 1)}
    with ThreadPoolExecutor(2) as pool:  # then both at once, each as fast as it can
        list(pool.map(lambda p: [pushers[p]("push", "sales_push", c) for c in chunks[p]], (0, 1)))

    now = datetime.fromtimestamp(push_s, timezone.utc)
    oracle = expected(pd.DataFrame(rows), KEYS, SALES_AGGREGATIONS, HOP, now)
    assert oracle[entity].values["count_distinct_rider_3600s"] == 2 * (rounds + concurrent) * 3
    assert_answers(read(deployment.reader, push_s, [entity]), [entity], oracle, "race")


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}
