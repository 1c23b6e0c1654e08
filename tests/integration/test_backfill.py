"""``feast-chalk-dynamo backfill``: windowed views' buckets set from their batch sources (issue 19, point 5).

Real Feast (a repo with its own yaml and registry, the file offline store
reading a parquet batch source), moto behind the strict proxy. The oracle is
pandas over the source's events, with the store's bucket rule and a fixed
"now" for the reads: each output over a window of W reads the W / hop most
recent buckets, the current one included; the backfill sets the buckets of
``[start, end)`` that had closed when it started and are within the longest
window then.
"""

from __future__ import annotations

import io
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from feast import Entity, FeatureStore, Field, FileSource, PushSource, ValueType
from feast.aggregation import Aggregation
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.stream_feature_view import StreamFeatureView
from feast.types import Float64, Int64, String

from feast_chalk_dynamo.backfill import Options, backfill
from feast_chalk_dynamo.cli import main
from tests.fault_proxy import FaultProxy, fixed
from tests.feast_objects import STORE_TYPE, driver_view
from tests.servers import REPO_ROOT, Endpoint

HOP = timedelta(minutes=10)
DRIVER = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
CITY = Entity(name="city", join_keys=["city"], value_type=ValueType.STRING)
AGGREGATIONS = [
    Aggregation(column="amount", function="sum", time_window=timedelta(hours=1)),
    Aggregation(column="amount", function="count", time_window=timedelta(hours=1)),
    Aggregation(column="amount", function="min", time_window=timedelta(hours=1)),
    Aggregation(column="amount", function="mean", time_window=timedelta(days=1)),
    Aggregation(column="amount", function="max", time_window=timedelta(days=1)),
    Aggregation(column="amount", function="std", time_window=timedelta(days=1)),
    Aggregation(column="rider", function="count_distinct", time_window=timedelta(days=7)),
]
OUTPUTS = [a.resolved_name(a.time_window) for a in AGGREGATIONS]
INTEGERS = {"count", "count_distinct"}
CITIES = ("lisbon", "porto", "faro")
RIDERS = [f"rider-{i}" for i in range(9)]
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
REGULAR = timedelta(minutes=30)


def key_of(i: int) -> tuple[int, str]:
    """A composite entity key: an int and a string."""
    return i, CITIES[i % len(CITIES)]


def transactions(source: Path, name: str = "tx") -> StreamFeatureView:
    schema = [Field(name="driver_id", dtype=Int64), Field(name="city", dtype=String),
              Field(name="amount", dtype=Float64), Field(name="rider", dtype=String)]  # fmt: skip
    schema += [Field(name=a.resolved_name(a.time_window), dtype=Int64 if a.function in INTEGERS else Float64)
               for a in AGGREGATIONS]  # fmt: skip
    push = PushSource(name=f"{name}_push", batch_source=FileSource(path=str(source), timestamp_field="ts"))
    return StreamFeatureView(
        name=name, entities=[DRIVER, CITY], source=push, aggregations=AGGREGATIONS, timestamp_field="ts",
        schema=schema, tiling_hop_size=HOP,
    )  # fmt: skip


def bucket(moment: datetime) -> int:
    return (moment - EPOCH) // HOP


@dataclass
class Repo:
    """A Feast repo on this store: its yaml, registry and batch source in ``path``."""

    path: Path
    table: str
    now: datetime  # the reads' "now"
    source: pd.DataFrame  # the batch source's events
    stores: list[FeatureStore] = field(default_factory=list)

    def close(self) -> None:
        for store in self.stores:
            store._get_provider().online_store.close_engines()  # type: ignore[attr-defined]

    def write_yaml(self, endpoint_url: str, table: str | None = None) -> None:
        config = {
            "project": "shop",
            "provider": "local",
            "registry": str(self.path / "registry.db"),
            "online_store": {
                "type": STORE_TYPE,
                "table_name": table or self.table,
                "endpoint_url": endpoint_url,
                "create_tables_if_not_exists": True,
            },  # fmt: skip
            "offline_store": {"type": "file"},
            "entity_key_serialization_version": 3,
        }
        (self.path / "feature_store.yaml").write_text(json.dumps(config))  # JSON is YAML

    def store(self) -> FeatureStore:
        """The repo's FeatureStore, reading for ``now``; its engines closed with the repo."""
        store = FeatureStore(repo_path=str(self.path))
        self.stores.append(store)
        store._get_provider().online_store.engine(store.config).now = self.now.timestamp  # type: ignore[attr-defined]
        return store

    def backfill(self, start: datetime, end: datetime, *views: str) -> tuple[int, str]:
        """The backfill, started at ``now``: exit status and output."""
        out = io.StringIO()
        options = Options(repo=self.path, start=start, end=end, views=list(views) or None)
        return backfill(options, out, now=self.now.timestamp), out.getvalue()

    def command(self, start: datetime, end: datetime) -> list[str]:
        """The backfill as a user runs it, in a process of its own (on the wall clock)."""
        times = ["--start", start.isoformat(), "--end", end.isoformat()]
        return [sys.executable, "-m", "feast_chalk_dynamo.cli", "backfill", "--repo", str(self.path), *times]

    def pages(self, endpoint_url: str) -> int:
        """Bucket pages in the table."""
        client = boto3.client("dynamodb", endpoint_url=endpoint_url, region_name="us-east-1")
        scanned = client.get_paginator("scan").paginate(TableName=self.table, ProjectionExpression="sk")
        return sum(1 for page in scanned for item in page["Items"] if "@" in item["sk"]["S"])


def events(now: datetime, entities: int, seed: int, open_bucket: bool) -> pd.DataFrame:
    """Events of ``entities`` keys over the 30 hours before ``now``, some with null values; entity 0's
    only before the backfills' start; with ``open_bucket``, some in the bucket ``now`` is in."""
    rng = random.Random(seed)
    rows = []
    for i in range(entities):
        for _ in range(12):
            back = timedelta(hours=29, minutes=rng.randrange(60)) if i == 0 else rng.uniform(1200, 30 * 3600)
            at = now - (back if isinstance(back, timedelta) else timedelta(seconds=int(back)))
            amount = None if rng.random() < 0.1 else round(rng.uniform(1, 100), 2)
            rider = None if rng.random() < 0.1 else rng.choice(RIDERS)
            rows.append({"driver_id": key_of(i)[0], "city": key_of(i)[1], "amount": amount, "rider": rider,
                         "ts": at.replace(microsecond=0)})  # fmt: skip
    for i in range(1, entities):  # a bucket every entity has an event in, 30 minutes back
        rows.append({"driver_id": key_of(i)[0], "city": key_of(i)[1], "amount": 50.0, "rider": "regular",
                     "ts": now - REGULAR})  # fmt: skip
    if open_bucket:
        start_of_open = EPOCH + bucket(now) * HOP
        for i in range(1, entities):
            rows.append({"driver_id": key_of(i)[0], "city": key_of(i)[1], "amount": 1000.0, "rider": "late",
                         "ts": start_of_open})  # fmt: skip
    return pd.DataFrame(rows)


def make_repo(
    tmp_path: Path, endpoint: Endpoint, table: str, entities: int = 6, open_bucket: bool = True
) -> Repo:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    path = tmp_path / "repo"
    path.mkdir()
    source = events(now, entities, seed=entities, open_bucket=open_bucket)
    source.to_parquet(path / "tx.parquet")
    repo = Repo(path, table, now, source)
    repo.write_yaml(endpoint.url)
    store = FeatureStore(repo_path=str(path))
    store.apply([DRIVER, CITY, transactions(path / "tx.parquet"), driver_view("plain")])
    return repo


@pytest.fixture
def new_repo(tmp_path: Path, moto_endpoint: Endpoint, table_name: str) -> Iterator[Callable[..., Repo]]:
    """``make_repo`` for this test, each repo's engines closed after it."""
    made: list[Repo] = []

    def new(**kwargs: Any) -> Repo:
        made.append(make_repo(tmp_path, moto_endpoint, table_name, **kwargs))
        return made[-1]

    yield new
    for repo in made:
        repo.close()


@pytest.fixture
def repo(new_repo: Callable[..., Repo]) -> Repo:
    return new_repo()


# -- the oracle ---------------------------------------------------------------------------------


def applied(source: pd.DataFrame, start: datetime, end: datetime, started: datetime) -> pd.DataFrame:
    """The events a backfill started at ``started`` sets the buckets of: those of the buckets
    ``[start, end)`` overlaps that had closed then and are within the longest window (7 days)."""
    buckets = source["ts"].map(lambda ts: bucket(ts.to_pydatetime()))
    first = max(bucket(start), bucket(started) - timedelta(days=7) // HOP + 1)
    stop = min(-(-(end - EPOCH) // HOP), bucket(started))
    return source[(buckets >= first) & (buckets < stop)]


def expected(
    applied_events: pd.DataFrame, keys: list[tuple[int, str]], now: datetime
) -> dict[str, list[Any]]:
    """Each output for each key, read at ``now``: all null for an entity without an event."""
    frame = applied_events.assign(bucket=applied_events["ts"].map(lambda ts: bucket(ts.to_pydatetime())))
    answer: dict[str, list[Any]] = {name: [] for name in OUTPUTS}
    for driver_id, city in keys:
        mine = frame[(frame["driver_id"] == driver_id) & (frame["city"] == city)]
        for aggregation, name in zip(AGGREGATIONS, OUTPUTS, strict=True):
            if mine.empty:
                answer[name].append(None)
                continue
            buckets = aggregation.time_window // HOP
            window = mine[(mine["bucket"] > bucket(now) - buckets) & (mine["bucket"] <= bucket(now))]
            values = window[aggregation.column].dropna()
            answer[name].append(_aggregate(aggregation.function, values))
    return answer


def _aggregate(function: str, values: pd.Series) -> Any:
    if function == "sum":
        return float(values.sum()) if len(values) else 0
    if function in ("count", "count_distinct"):
        return int(values.count() if function == "count" else values.nunique())
    if function == "std":
        return float(values.std(ddof=1)) if len(values) >= 2 else None
    return float(getattr(values, function)()) if len(values) else None


def served(store: FeatureStore, keys: list[tuple[int, str]]) -> dict[str, list[Any]]:
    rows = [{"driver_id": driver_id, "city": city} for driver_id, city in keys]
    answer = store.get_online_features([f"tx:{name}" for name in OUTPUTS], rows).to_dict()
    return {name: answer[name] for name in OUTPUTS}


def observed(store: FeatureStore, keys: list[tuple[int, str]]) -> list[tuple[str, datetime | None]]:
    """Each entity's status and event time, as one output reads them."""
    rows = [{"driver_id": driver_id, "city": city} for driver_id, city in keys]
    proto = store.get_online_features([f"tx:{OUTPUTS[0]}"], rows).proto
    names = list(proto.metadata.feature_names.val)
    result = proto.results[names.index(OUTPUTS[0])]
    return [
        (FieldStatus.Name(status), ts.ToDatetime(tzinfo=timezone.utc) if ts.seconds else None)
        for status, ts in zip(result.statuses, result.event_timestamps, strict=True)
    ]


def expected_observed(applied_events: pd.DataFrame, keys: list[tuple[int, str]]) -> list[tuple[str, Any]]:
    """PRESENT at the newest event set, NOT_FOUND without one."""
    answer: list[tuple[str, Any]] = []
    for driver_id, city in keys:
        mine = applied_events[(applied_events["driver_id"] == driver_id) & (applied_events["city"] == city)]
        answer.append(("PRESENT", mine["ts"].max().to_pydatetime()) if len(mine) else ("NOT_FOUND", None))
    return answer


def assert_same(got: dict[str, list[Any]], want: dict[str, list[Any]]) -> None:
    for name in OUTPUTS:
        assert got[name] == [v if v is None else pytest.approx(v, rel=1e-9, abs=1e-9) for v in want[name]], (
            name
        )


def keys(repo: Repo) -> list[tuple[int, str]]:
    return sorted(set(zip(repo.source["driver_id"], repo.source["city"], strict=True))) + [(99, "nowhere")]


def totals(output: str) -> tuple[int, int, int]:
    """The report's total: entities, buckets set, events read."""
    line = next(line for line in output.splitlines() if line.startswith("total: "))
    numbers = [int(word.replace(",", "")) for word in line.split() if word.replace(",", "").isdigit()]
    return numbers[1], numbers[2], numbers[3]


def oracle_totals(events_set: pd.DataFrame) -> tuple[int, int, int]:
    pairs = events_set.assign(bucket=events_set["ts"].map(lambda ts: bucket(ts.to_pydatetime())))
    entities = pairs[["driver_id", "city"]].drop_duplicates()
    return len(entities), len(pairs[["driver_id", "city", "bucket"]].drop_duplicates()), len(pairs)


# -- tests ----------------------------------------------------------------------------------------


def test_a_backfill_run_twice_gives_pandas_answer_and_leaves_the_open_bucket_to_pushes(repo: Repo) -> None:
    start, end = repo.now - timedelta(hours=26), repo.now + timedelta(hours=1)
    store = repo.store()
    events_set = applied(repo.source, start, end, repo.now)
    want = expected(events_set, keys(repo), repo.now)
    outputs = []
    for _ in range(2):
        code, output = repo.backfill(start, end)
        assert code == 0, output
        assert_same(served(store, keys(repo)), want)
        assert observed(store, keys(repo)) == expected_observed(events_set, keys(repo))
        outputs.append(output)
    assert outputs[0] == outputs[1]
    assert totals(outputs[0]) == oracle_totals(applied(repo.source, start, end, repo.now))
    open_from = (EPOCH + bucket(repo.now) * HOP).isoformat().replace("+00:00", "Z")
    assert f"not set: from {open_from}, buckets still open when the run started" in outputs[0]
    # The open bucket's events (amount 1000, rider "late") are in none of the answers.
    assert max(v for v in served(store, keys(repo))["max_amount_86400s"] if v is not None) < 1000


def test_a_backfill_sets_whole_buckets_replacing_what_they_held_and_later_pushes_add_to_them(
    new_repo: Callable[..., Repo],
) -> None:
    """Pushed before, by this process (whose update cache then holds the page): replaced by the
    backfill, run as a user runs it, in a process of its own. Pushed after: added to it, though this
    process's cached page is out of date."""
    repo = new_repo(open_bucket=False)
    store = repo.store()
    start, end = repo.now - timedelta(hours=26), repo.now
    target = key_of(1)
    closed = repo.now - REGULAR  # a bucket the backfill sets: the source has an event of each entity in it
    before = [{"amount": 0.5, "rider": "pushed-before", "ts": closed}]
    push(store, target, before)

    finished = subprocess.run(
        repo.command(start, end), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr

    started = repo.now  # the command ran on the wall clock, later: no event is in a bucket open then
    assert_same(
        served(store, keys(repo)), expected(applied(repo.source, start, end, started), keys(repo), repo.now)
    )
    writer = store._get_provider().online_store.engine(store.config).aggregates  # type: ignore[attr-defined]
    conflicts = writer.counts.version_conflicts

    after = [
        {"amount": 0.25, "rider": "pushed-after", "ts": closed},  # into a bucket the backfill set
        {"amount": 7.0, "rider": "pushed-after", "ts": repo.now},  # into the open bucket
    ]
    push(store, target, after)
    push(store, key_of(50), after)  # an entity the source does not have
    pushed = pd.DataFrame(
        [{"driver_id": k[0], "city": k[1], **event} for k in (target, key_of(50)) for event in after]
    )
    every = pd.concat([applied(repo.source, start, end, started), pushed], ignore_index=True)
    assert writer.counts.version_conflicts > conflicts  # the cached page was out of date, and not trusted
    assert_same(
        served(store, [*keys(repo), key_of(50)]), expected(every, [*keys(repo), key_of(50)], repo.now)
    )


def push(store: FeatureStore, key: tuple[int, str], rows: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame([{"driver_id": key[0], "city": key[1], **row} for row in rows])
    for name in OUTPUTS:
        frame[name] = None
    store.push("tx_push", frame)


def test_a_backfill_killed_half_way_and_run_again_gives_pandas_answer(
    new_repo: Callable[..., Repo], moto_endpoint: Endpoint
) -> None:
    repo = new_repo(entities=20, open_bucket=False)
    start, end = repo.now - timedelta(hours=26), repo.now
    with FaultProxy(moto_endpoint.url) as slow:
        slow.faults.update(operations=frozenset({"UpdateItem"}), delay=fixed(0.2))
        repo.write_yaml(slow.url)
        process = subprocess.Popen(
            repo.command(start, end), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            wait_for(lambda: repo.pages(moto_endpoint.url) > 0, process)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.communicate(timeout=30)
    killed_at = repo.pages(moto_endpoint.url)
    repo.write_yaml(moto_endpoint.url)

    code, output = repo.backfill(start, end)

    assert code == 0, output
    assert 0 < killed_at < repo.pages(moto_endpoint.url)
    want = expected(applied(repo.source, start, end, repo.now), keys(repo), repo.now)
    assert_same(served(repo.store(), keys(repo)), want)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()[0].decode()
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.01)


# -- a wrong setup ------------------------------------------------------------------------------


@pytest.fixture
def error(repo: Repo, capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., str]]:
    def error(*args: str, at: Path | None = None, printed: bool = False) -> str:
        times = {"--start": (repo.now - timedelta(hours=26)).isoformat(), "--end": repo.now.isoformat()}
        for option, value in times.items():
            if option not in args:
                args = (*args, option, value)
        try:
            code = main(["backfill", "--repo", str(at or repo.path), *args])
        except SystemExit as exited:  # a bad option, said by argparse
            code = exited.code
        out = capsys.readouterr()
        assert code == 2, out
        assert printed or out.out == ""
        assert len(out.err.splitlines()) == 1 and out.err.startswith("error: "), out.err
        return out.err

    yield error
    assert (
        repo.pages(json.loads((repo.path / "feature_store.yaml").read_text())["online_store"]["endpoint_url"])
        == 0
    )


def test_each_wrong_setup_is_one_line_and_exit_status_2(
    repo: Repo, tmp_path: Path, moto_endpoint: Endpoint, error: Callable[..., str]
) -> None:
    assert "is not a directory" in error(at=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert "has no feature_store.yaml" in error(at=tmp_path / "empty")
    sqlite = tmp_path / "sqlite"
    sqlite.mkdir()
    (sqlite / "feature_store.yaml").write_text(json.dumps(
        {"project": "shop", "provider": "local", "registry": str(tmp_path / "other.db"),
         "online_store": {"type": "sqlite"}, "entity_key_serialization_version": 3}
    ))  # fmt: skip
    assert "uses the online store 'sqlite'" in error(at=sqlite)
    assert "--views names 'nope', which the project 'shop' has no online feature view of" in error(
        "--views", "nope"
    )
    assert "view 'plain' has no aggregations" in error("--views", "tx,plain")
    assert "--views names no view" in error("--views", ",")
    assert "argument --start: 'yesterday' is not an ISO 8601 time" in error("--start", "yesterday")
    assert "argument --end: expected one argument" in error("--end")
    later = (repo.now + timedelta(hours=1)).isoformat()
    assert "is not before --end" in error("--start", later, "--end", repo.now.isoformat())
    latest = (repo.now + timedelta(hours=2)).isoformat()
    assert "is not before the time the backfill started" in error("--start", later, "--end", latest)
    month_ago = (repo.now - timedelta(days=30)).isoformat(), (repo.now - timedelta(days=29)).isoformat()
    assert "and was within the longest window then ('tx': 7 days, 0:00:00)" in error(
        "--start", month_ago[0], "--end", month_ago[1]
    )
    repo.write_yaml(moto_endpoint.url, table="t-missing")
    missing = error()
    assert "this store's table 't-missing' does not exist" in missing and "run `feast apply`" in missing
    repo.write_yaml(moto_endpoint.url)


def test_a_batch_source_that_cannot_be_read_is_one_line_naming_the_view(
    repo: Repo, error: Callable[..., str]
) -> None:
    store = FeatureStore(repo_path=str(repo.path))
    store.apply([transactions(repo.path / "gone.parquet", name="lost")])
    said = error("--views", "lost", printed=True)
    assert "could not read the events of view 'lost' from its batch source" in said


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["backfill", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in ("--repo", "--views", "--start", "--end", "closed before the run started", "Idempotent"):
        assert option in " ".join(text.split())


def test_a_backfill_reads_no_bucket_page_it_replaces(repo: Repo, moto_endpoint: Endpoint) -> None:
    """Setting replaces whatever a page holds: there is nothing to read first (a consistent read of
    a page of sketches costs more read units than most writes of it)."""
    with FaultProxy(moto_endpoint.url) as counting:
        repo.write_yaml(counting.url)
        code, output = repo.backfill(repo.now - timedelta(hours=26), repo.now)
        seen = dict(counting.faults.seen)
    repo.write_yaml(moto_endpoint.url)
    assert code == 0, output
    assert seen.get("GetItem", 0) == 0, seen
    assert repo.pages(moto_endpoint.url) > 0
