"""State that outlives a process or a table: name mappings across teardown, re-apply and retypes (issue 17).

Every process here is a real Feast user in a process of its own
(``tests.feast_worker``), sharing one registry file and one table on a
strict server, as the processes of one deployment do.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from tests.feast_worker import Worker, iso, view_of, worker_config
from tests.integration.test_store import key
from tests.servers import Endpoint

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def workers(tmp_path: Path, moto_endpoint: Endpoint, table_name: str) -> Iterator[tuple[Worker, Worker]]:
    """Two processes of one deployment; the reader checks the mapping's generation before every call."""
    reader = Worker(tmp_path, moto_endpoint.url, table_name, mapping_refresh_seconds=0)
    operator = Worker(tmp_path, moto_endpoint.url, table_name)
    yield reader, operator
    reader.stop()
    operator.stop()


def test_a_reader_never_serves_another_views_values_after_the_table_is_re_created(
    workers: tuple[Worker, Worker],
) -> None:
    """The outside run's repro: the new table restarts the generation and the ids at the reader's numbers."""
    reader, operator = workers
    reader("apply", {"va": {"a": "Float64", "s": "String"}, "vb": {"b": "Float64"}})
    old = [
        {"driver_id": d, "a": float(d), "s": f"va-{d}", "ts": iso(NOW - timedelta(hours=1))} for d in (1, 2)
    ]
    reader("write", "va", old)
    assert reader("read", ["va:a", "va:s"], [1, 2])["va__a"] == [1.0, 2.0]

    operator("teardown")  # the store made the table and it is now empty: dropped
    vz = {"z": "Float64", "z2": "String", "z3": "Int64"}
    operator("apply", {"vz": vz, "va": {"a": "Float64", "s": "String"}, "vb": {"b": "Float64"}})
    operator(
        "write",
        "vz",
        [{"driver_id": d, "z": 777.0, "z2": "from-vz", "z3": 5, "ts": iso(NOW)} for d in (1, 2)],
    )
    operator("write", "va", [{"driver_id": 1, "a": 10.0, "s": "new-va", "ts": iso(NOW)}])

    answer = reader("read", ["va:a", "va:s"], [1, 2])
    assert answer["va__a"] == [10.0, None]
    assert answer["va__s"] == ["new-va", None]


def test_a_pinned_version_never_serves_an_older_value_under_a_newer_timestamp(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    """The outside run's repro: an unchanged re-apply sets the version back to 0 with the new schema."""
    user = Worker(tmp_path, moto_endpoint.url, table_name, versioning=True)
    try:
        user("apply", {"v": {"a": "Int64"}})
        user("write", "v", [{"driver_id": 1, "a": 7, "ts": iso(NOW - timedelta(minutes=10))}])
        user("apply", {"v": {"a": "String"}})  # version 1
        user("write", "v", [{"driver_id": 1, "a": "one", "ts": iso(NOW - timedelta(minutes=5))}])
        user("apply", {"v": {"a": "String"}})  # unchanged: Feast 0.67 sets the current version back to 0
        user("write", "v", [{"driver_id": 1, "a": "zero-now", "ts": iso(NOW - timedelta(minutes=1))}])
        # Feast's stores serve "zero-now" (a string, under v0's Int64 declaration); this store answers
        # nothing for what the newest row cannot supply as the declared type, never the older 7.
        answer = user("read", ["v@v0:a"], [1])
        assert (answer["v@v0__a"], answer["v@v0__a__status"]) == ([None], ["NOT_FOUND"])
    finally:
        user.stop()


# -- the classes: any sequence of applies, teardowns and writes, from two processes ------------

VIEWS = ["va", "vb", "vz"]
SCHEMAS = st.dictionaries(
    st.sampled_from(VIEWS),
    st.dictionaries(
        st.sampled_from(["a", "s", "z"]), st.sampled_from(["Float64", "Int64", "String"]), min_size=1
    ),
    min_size=1,
)
ACTORS = st.sampled_from([0, 1])
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("apply"), ACTORS, SCHEMAS),
        st.tuples(st.just("teardown"), ACTORS, st.none()),
        st.tuples(st.just("write"), ACTORS, st.tuples(st.sampled_from(VIEWS), st.sampled_from([1, 2]))),
    ),
    min_size=2,
    max_size=7,
)
Row = tuple[int, dict[str, tuple[str, Any]]]  # (write number, feature -> (dtype, value))


def value_of(dtype: str, number: int) -> Any:
    """What write ``number`` stores in a feature of ``dtype``: each write's values say which write it was."""
    return {"Float64": number + 0.5, "Int64": number, "String": f"w{number}"}[dtype]


def written_at(number: int) -> datetime:
    return NOW - timedelta(hours=1) + timedelta(seconds=number)


class Deployment:
    """What this store promises a sequence leaves: the newest row of each view, holding every feature
    it was written with that the view still has with the same dtype; nothing after a teardown."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, str]] = {}
        self.rows: dict[tuple[str, int], Row] = {}

    def apply(self, schemas: dict[str, dict[str, str]]) -> None:
        self.rows = {
            (view, driver): (number, {f: v for f, v in features.items() if schemas[view].get(f) == v[0]})
            for (view, driver), (number, features) in self.rows.items()
            if view in schemas
        }
        self.schemas = schemas

    def teardown(self) -> None:
        self.schemas, self.rows = {}, {}

    def write(self, view: str, driver: int, number: int) -> dict[str, Any]:
        features = {f: (dtype, value_of(dtype, number)) for f, dtype in self.schemas[view].items()}
        self.rows[(view, driver)] = (number, features)
        return {
            "driver_id": driver,
            "ts": iso(written_at(number)),
            **{f: v for f, (_, v) in features.items()},
        }

    def expected(self, drivers: list[int]) -> dict[str, list[Any]]:
        answer: dict[str, list[Any]] = {}
        for view, schema in self.schemas.items():
            for feature in schema:
                rows = [self.rows.get((view, driver)) for driver in drivers]
                answer[f"{view}__{feature}"] = [
                    row[1].get(feature, (None, None))[1] if row else None for row in rows
                ]
                answer[f"{view}__{feature}__ts"] = [
                    int(written_at(row[0]).timestamp()) if row else 0 for row in rows
                ]
                answer[f"{view}__{feature}__status"] = [
                    "PRESENT" if row and feature in row[1] else "NOT_FOUND" for row in rows
                ]
        return answer


@settings(max_examples=5, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@example(  # the outside run's sequence: the other process drops and re-creates the table
    steps=[("apply", 0, {"va": {"a": "Float64", "s": "String"}, "vb": {"z": "Float64"}}),
           ("write", 0, ("va", 1)), ("teardown", 1, None),
           ("apply", 1, {"vz": {"z": "Float64", "s": "String", "a": "Int64"},
                         "va": {"a": "Float64", "s": "String"}}),
           ("write", 1, ("vz", 1)), ("write", 1, ("va", 2))]
)  # fmt: skip
@example(  # found here: an apply made on a mapping a few seconds old described a namespace another
    # process had just removed, with no id, and the next write put the rows where no reader looked
    steps=[("apply", 1, {"va": {"a": "String"}, "vb": {"s": "Int64"}}), ("apply", 0, {"vz": {"a": "Int64"}}),
           ("apply", 1, {"va": {"a": "String", "z": "Float64"}}), ("write", 0, ("va", 1))]
)  # fmt: skip
@given(steps=STEPS)
def test_two_processes_read_what_the_sequence_leaves_whatever_it_was(
    workers: tuple[Worker, Worker], steps: list[tuple[str, int, Any]]
) -> None:
    """Every read by either process, after every step, is the model's answer: values and event times."""
    processes = list(workers)
    processes[1]("teardown")  # each example starts on no table at all
    deployment = Deployment()
    for number, (op, actor, argument) in enumerate(steps):
        process = processes[actor]
        if op == "apply":
            process("apply", argument)
            deployment.apply(argument)
        elif op == "teardown":
            process("teardown")
            deployment.teardown()
        elif argument[0] in deployment.schemas:
            view, driver = argument
            process("write", view, [deployment.write(view, driver, number)])
        if not deployment.schemas:
            continue
        refs = [f"{view}:{feature}" for view, schema in deployment.schemas.items() for feature in schema]
        expected = deployment.expected([1, 2])
        for reader in processes:
            answer = reader("read", refs, [1, 2])
            assert {name: answer[name] for name in expected} == expected, (steps[: number + 1], answer)


def write_number(value: Any) -> int:
    """Which write a value came from (``value_of`` inverted)."""
    if isinstance(value, str):
        return int(value.removeprefix("w"))
    return int(value) if isinstance(value, int) else int(value - 0.5)


VERSIONED_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("apply"), st.dictionaries(st.sampled_from(["a", "b"]),
                                                     st.sampled_from(["Int64", "String"]), min_size=1)),
        st.tuples(st.just("write"), st.sampled_from([1, 2])),
    ),
    min_size=3,
    max_size=8,
)  # fmt: skip


@settings(max_examples=5, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@example(  # the outside run's sequence: retyped, then re-applied unchanged (Feast sets version 0 again)
    steps=[("apply", {"a": "Int64"}), ("write", 1), ("apply", {"a": "String"}), ("write", 1),
           ("apply", {"a": "String"}), ("write", 1)]
)  # fmt: skip
@given(steps=VERSIONED_STEPS)
def test_no_version_serves_an_older_value_under_a_newer_timestamp(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str, steps: list[tuple[str, Any]]
) -> None:
    """The README's promise with versioning on, over applies that retype and unchanged re-applies.

    Every value a write stores says which write it was, and so does its
    event time: every value any version serves must be of the write its row's
    time names. (Feast's stores serve a value written under another dtype as
    written; this store answers nothing for it.)
    """
    user = Worker(tmp_path, moto_endpoint.url, table_name, versioning=True)
    try:
        user("teardown")
        schema: dict[str, str] = {}
        for number, (op, argument) in enumerate(steps):
            if op == "apply":
                schema = argument
                user("apply", {"v": schema})
            elif schema:
                row = {"driver_id": argument, "ts": iso(written_at(number))}
                user("write", "v", [{**row, **{f: value_of(dtype, number) for f, dtype in schema.items()}}])
            if not schema:
                continue
            versions = user("versions")["v"]
            # A call per version: Feast refuses two versions' same-named features in one call.
            calls = [[f"v:{f}" for f in schema]]
            calls += [[f"v@v{n}:{f}" for f in fields] for n, fields in versions.items()]
            base = written_at(0).timestamp()
            for refs in calls:
                answer = user("read", refs, [1, 2])
                for name in answer:
                    if name == "driver_id" or name.endswith(("__ts", "__status")):
                        continue
                    for value, ts in zip(answer[name], answer[f"{name}__ts"], strict=True):
                        if value is not None:
                            assert write_number(value) == ts - base, (steps[: number + 1], refs, answer)
    finally:
        user.stop()


def test_a_process_behind_another_processes_retype_finds_nothing_rather_than_the_old_value(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    """A server reads with the mapping and view it had before another process retyped a feature (it
    checks neither for a while): the retyped feature's old id is gone from every row written since."""

    operator = Worker(tmp_path, moto_endpoint.url, table_name)
    server = ChalkDynamoOnlineStore()
    try:
        operator("apply", {"v": {"a": "Int64", "b": "String"}})
        operator("write", "v", [{"driver_id": 1, "a": 7, "b": "x", "ts": iso(NOW - timedelta(minutes=10))}])
        config = worker_config(tmp_path, moto_endpoint.url, table_name, False, mapping_refresh_seconds=3600)
        before = view_of("v", {"a": "Int64", "b": "String"})  # what the server's registry still says
        assert server.online_read(config, before, [key(1)])[0][1]["a"].int64_val == 7

        operator("apply", {"v": {"a": "String", "b": "String"}})
        operator("write", "v", [{"driver_id": 1, "a": "seven", "b": "y", "ts": iso(NOW)}])

        ts, values = server.online_read(config, before, [key(1)])[0]
        assert ts == NOW and values["b"].string_val == "y"
        assert "a" not in values  # NOT_FOUND: not 7 under the new row's time
    finally:
        server.close_engines()
        operator.stop()


def test_a_new_table_empties_a_servers_caches(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    """Cached rows of a dropped table are not served from the new one, whose ids repeat the old ones."""

    operator = Worker(tmp_path, moto_endpoint.url, table_name)
    server = ChalkDynamoOnlineStore()
    cached = [{"namespace": "va", "ttl_seconds": 3600}]
    config = worker_config(tmp_path, moto_endpoint.url, table_name, False, cached_namespaces=cached,
                           mapping_refresh_seconds=0)  # fmt: skip
    view = view_of("va", {"a": "Float64"})
    try:
        operator("apply", {"va": {"a": "Float64"}})
        operator("write", "va", [{"driver_id": 1, "a": 1.0, "ts": iso(NOW - timedelta(minutes=10))}])
        assert server.online_read(config, view, [key(1)])[0][1]["a"].double_val == 1.0  # now cached
        operator("teardown")
        operator("apply", {"va": {"a": "Float64"}})  # the same ids, in a new table
        operator("write", "va", [{"driver_id": 1, "a": 2.0, "ts": iso(NOW)}])
        assert server.online_read(config, view, [key(1)])[0][1]["a"].double_val == 2.0
        assert server.namespace_counters(config)["va"]["cache_hits"] == 0
    finally:
        server.close_engines()
        operator.stop()


def test_a_new_table_drops_a_servers_bloom_filters(
    tmp_path: Path, moto_endpoint: Endpoint, table_name: str
) -> None:
    """A filter of the dropped table would answer a key written to the new one as absent (a wrong
    answer) until its next refresh: the new table's filter is loaded instead."""
    filtered = {"bloom_filters": [{"namespace": "va", "expected_keys": 1000}]}
    operator = Worker(tmp_path, moto_endpoint.url, table_name, **filtered)
    server = ChalkDynamoOnlineStore()
    config = worker_config(tmp_path, moto_endpoint.url, table_name, False, mapping_refresh_seconds=0,
                           bloom_filter_refresh_seconds=3600, **filtered)  # fmt: skip
    view = view_of("va", {"a": "Float64"})
    try:
        operator("apply", {"va": {"a": "Float64"}})
        operator("write", "va", [{"driver_id": 1, "a": 1.0, "ts": iso(NOW)}])
        server.online_read(config, view, [key(1)])
        blooms = server.engine(config).blooms
        assert blooms is not None and blooms.wait_loaded(30)
        assert server.online_read(config, view, [key(2)])[0] == (None, None)  # absent, by the filter
        skips = server.namespace_counters(config)["va"]["bloom_skips"]
        assert skips == 1

        operator("teardown")
        operator("apply", {"va": {"a": "Float64"}})  # the same ids, in a new table
        operator("write", "va", [{"driver_id": 2, "a": 2.0, "ts": iso(NOW)}])
        assert server.online_read(config, view, [key(2)])[0][1]["a"].double_val == 2.0
    finally:
        server.close_engines()
        operator.stop()
