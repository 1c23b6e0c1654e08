"""The example's windowed view, ``driver_transactions``, through the example's own ``feature_store.yaml``.

A copy of the example (as git tracks it) with its data generated is
applied; its transactions are pushed by the demo's own code
(``feature_repo_example.transactions``), then read at times a clock moves,
each read against pandas over the transactions (``checks.expected_windowed``):
values, statuses and event times, and the events dropped as late.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from feast import FeatureStore

from feature_repo_example import checks, data_gen, transactions
from feature_repo_example.features import RepoObjects, build_objects
from tests.cli_repo import Example, example
from tests.servers import REPO_ROOT, Endpoint

MISSING_DRIVER = 999_999


@dataclass
class Clock:
    """The time of the test's pushes and reads: the store's engine and the demo's code both ask it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Applied:
    repo: Example
    source: data_gen.SourceData
    objects: RepoObjects
    store: FeatureStore
    clock: Clock

    @property
    def entity_ids(self) -> list[int]:
        return [*self.source.driver_ids, MISSING_DRIVER]


@pytest.fixture
def applied(tmp_path: Path, moto_endpoint: Endpoint, table_name: str) -> Iterator[Applied]:
    repo = example(tmp_path / "feature_repo_example", moto_endpoint.url, table_name)
    source = data_gen.generate(repo.path / "data", now=datetime.now(timezone.utc))
    objects = build_objects(source.data_dir)
    store = repo.store()
    store.apply(objects.all())
    clock = Clock(source.now)
    online_store = store._get_provider().online_store
    online_store.engine(store.config).now = lambda: clock.now.timestamp()  # type: ignore[attr-defined]
    yield Applied(repo, source, objects, store, clock)
    online_store.close_engines()  # type: ignore[attr-defined]


def test_pushed_transactions_read_as_pandas_computes_them_as_the_windows_move(applied: Applied) -> None:
    objects, ids, clock = applied.objects, applied.entity_ids, applied.clock
    events = pd.read_parquet(applied.source.transactions_path)
    pushed = transactions.push(applied.store, objects, events, clock)
    assert transactions.check_late(objects, pushed) == []
    assert pushed.late > 0  # the data holds late events, and the store dropped them

    start = clock.now
    for later in (timedelta(0), timedelta(minutes=25), timedelta(hours=5), timedelta(days=2),
                  timedelta(days=6, hours=12), timedelta(days=8)):  # fmt: skip
        clock.now = start + later
        answer, at = transactions.read(applied.store, objects, ids, clock)
        matched, problems = transactions.check(objects, pushed, ids, answer, at, f"+{later}")
        assert problems == []
        assert matched == len(ids) * 2 * len(objects.windowed_outputs())  # values and event times
    # Eight days on, every window is empty: the drivers with buckets still read PRESENT, with zeros.
    counts = answer.values["count_amount_86400s"]
    assert counts[-1] is None and 0 in counts and all(count in (0, None) for count in counts)


def test_the_check_finds_what_a_wrong_answer_gets_wrong(applied: Applied) -> None:
    """The demo's check is no formality: each kind of wrong value or time is named."""
    objects, ids = applied.objects, applied.entity_ids
    view = objects.driver_transactions
    events = pd.read_parquet(applied.source.transactions_path)
    pushed = transactions.Pushed(events, applied.clock.now, {"late_events": 0})
    right = checks.expected_windowed(view, events, ids, pushed_at=pushed.began, now=applied.clock.now)
    busy = next(n for n, count in enumerate(right.values["count_amount_86400s"]) if count and count > 2)
    wrong = checks.Answer(
        values={name: list(column) for name, column in right.values.items()},
        event_ts={name: list(right.event_ts[view.name]) for name in right.values},
    )
    assert transactions.check(objects, pushed, ids, wrong, applied.clock.now, "as is")[1] == []

    wrong.values["mean_amount_3600s"][-1] = 0.0  # the driver never pushed
    wrong.values["sum_amount_86400s"][busy] += 0.01
    wrong.values["count_amount_86400s"][busy] += 1
    wrong.values["count_distinct_rider_id_604800s"][busy] += 5
    stamps = wrong.event_ts["sum_amount_3600s"]
    stamps[busy] = right.event_ts[view.name][busy] - timedelta(seconds=1)  # type: ignore[operator]

    _, problems = transactions.check(objects, pushed, ids, wrong, applied.clock.now, "wrong")
    driver = ids[busy]
    named = [
        f"driver_id={MISSING_DRIVER} mean_amount_3600s: got 0.0, want None",
        f"driver_id={driver} sum_amount_86400s: ",
        f"driver_id={driver} count_amount_86400s: ",
        f"driver_id={driver} count_distinct_rider_id_604800s: ",
        f"driver_id={driver} {view.name}:sum_amount_3600s event time ",
    ]
    assert len(problems) == len(named) and all(
        part in problem for part, problem in zip(named, problems, strict=True)
    ), problems
    assert transactions.check_late(objects, pushed) == [
        f"{view.name}: 0 events dropped as late, pandas says {checks.late_events(view, events, pushed.began)}"
    ]


PRODUCER = """
import sys
from pathlib import Path

import pandas as pd

from feast import FeatureStore

from feature_repo_example import transactions
from feature_repo_example.features import build_objects

repo = Path(sys.argv[1])
objects = build_objects(repo / "data")
events = pd.read_parquet(repo / "data" / "driver_transactions.parquet")
pushed = transactions.push(FeatureStore(repo_path=str(repo)), objects, events)
print(pushed.describe(objects.driver_transactions.name))
"""


def test_a_producer_process_exits_quietly(applied: Applied) -> None:
    """A process that pushed to a windowed view ends without a report of DataSketches objects left alive
    (the update cache kept sketches, which nanobind lists, one line each, as leaked at exit)."""
    finished = subprocess.run(
        [sys.executable, "-c", PRODUCER, str(applied.repo.path)],
        env={**os.environ, **applied.repo.variables(), "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert "driver_transactions: " in finished.stdout
    assert "leaked" not in finished.stderr, finished.stderr[-2000:]
