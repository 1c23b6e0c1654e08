"""The migration's resume file: commits, atomic saves, and refusing a state of another migration."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.migrate.counts import Counts, NotCopied
from feast_chalk_dynamo.migrate.errors import MigrationError
from feast_chalk_dynamo.migrate.state import (
    MAX_EXAMPLES,
    MigrationState,
    load,
    resume_or_start,
    save,
)

ARGUMENTS: dict[str, Any] = {"project": "p", "tables": {"v": "p.v"}, "entities": []}
TABLES = {"p.v": "v", "p.w": "w"}


def key(entity_id: str) -> dict[str, Any]:
    return {"entity_id": {"S": entity_id}}


counts = st.builds(
    Counts,
    read=st.integers(0, 10_000),
    written=st.integers(0, 10_000),
    stale=st.integers(0, 10_000),
    unresolved=st.integers(0, 10_000),
)
# Pages of one table: (segment, next key or None, counts, unresolved ids).
pages = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.none() | st.text(min_size=1, max_size=32).map(key),
        counts,
        st.lists(st.text(max_size=8), max_size=4),
    ),
    max_size=30,
)


@given(pages)
def test_commits_survive_a_save_and_load_and_sum_up(
    tmp_path_factory: pytest.TempPathFactory, page_list: list[Any]
) -> None:
    path = tmp_path_factory.mktemp("state") / "state.json"
    state = MigrationState.new(ARGUMENTS, 3, TABLES)
    table = state.tables["p.v"]
    expected = Counts()
    examples: list[str] = []
    for segment, next_key, page_counts, unresolved in page_list:
        if table.segments[segment].done:
            with pytest.raises(ValueError):
                table.commit(segment, next_key, page_counts, unresolved)
            continue
        table.commit(segment, next_key, page_counts, unresolved)
        expected.add(page_counts)
        examples += unresolved
        save(path, state)
        assert table.segments[segment].start_key == next_key
        assert table.segments[segment].done is (next_key is None)

    loaded = load(path) if page_list else state
    assert loaded == state
    assert loaded is not None and loaded.totals() == expected
    assert loaded.tables["p.v"].unresolved_examples == examples[:MAX_EXAMPLES]
    assert not loaded.tables["p.w"].done and not loaded.done


def test_a_page_with_rows_not_written_cannot_be_recorded_as_done() -> None:
    table = MigrationState.new(ARGUMENTS, 1, TABLES).tables["p.v"]
    with pytest.raises(ValueError, match="not done"):
        table.commit(0, None, Counts(read=3, written=2, not_written=1), [])
    assert table.segments[0].start_key is None and not table.segments[0].done
    assert table.counts == Counts()


def test_a_table_is_done_when_every_segment_is() -> None:
    state = MigrationState.new(ARGUMENTS, 2, {"p.v": "v"})
    table = state.tables["p.v"]
    table.commit(0, key("a"), Counts(read=1, written=1), [])
    table.commit(0, None, Counts(read=1, written=1), [])
    assert not table.done
    table.commit(1, None, Counts(), [])
    assert table.done and state.done


def test_a_save_that_fails_leaves_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    state = MigrationState.new(ARGUMENTS, 1, TABLES)
    save(path, state)
    before = path.read_bytes()
    state.tables["p.v"].commit(0, key("x"), Counts(read=5, written=5), [])

    def interrupted(src: Any, dst: Any) -> None:
        raise KeyboardInterrupt  # killed between writing the new file and putting it in place

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(path, state)
    assert path.read_bytes() == before
    monkeypatch.undo()
    save(path, state)
    assert load(path) == state
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_no_file_starts_a_fresh_state_and_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state, resumed = resume_or_start(path, ARGUMENTS, 4, TABLES, restart=False)
    assert not resumed
    assert load(path) == state == MigrationState.new(ARGUMENTS, 4, TABLES)


def test_the_same_arguments_resume(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state, _ = resume_or_start(path, ARGUMENTS, 4, TABLES, restart=False)
    state.tables["p.v"].commit(2, key("k"), Counts(read=7, written=6, stale=1), [])
    save(path, state)
    resumed, was_resumed = resume_or_start(path, dict(ARGUMENTS), 4, TABLES, restart=False)
    assert was_resumed and resumed == state


def test_another_segment_count_is_refused_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    resume_or_start(path, ARGUMENTS, 4, TABLES, restart=False)
    with pytest.raises(MigrationError, match=r"--segments 4 to resume it, or --restart"):
        resume_or_start(path, ARGUMENTS, 8, TABLES, restart=False)


def test_other_arguments_are_refused_naming_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    resume_or_start(path, ARGUMENTS, 4, TABLES, restart=False)
    changed = {**ARGUMENTS, "entities": ["/data/pushed.parquet"]}
    with pytest.raises(MigrationError, match=r"entities: \[\] then, \['/data/pushed.parquet'\] now"):
        resume_or_start(path, changed, 4, TABLES, restart=False)


def test_restart_replaces_whatever_was_there(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state, _ = resume_or_start(path, ARGUMENTS, 4, TABLES, restart=False)
    state.tables["p.v"].commit(0, None, Counts(read=1, written=1), [])
    save(path, state)
    fresh, resumed = resume_or_start(path, {"other": True}, 2, TABLES, restart=True)
    assert not resumed and fresh == MigrationState.new({"other": True}, 2, TABLES) == load(path)


@pytest.mark.parametrize("text", ["not json", json.dumps({"format": 99}), json.dumps({"format": 1})])
def test_an_unreadable_state_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(MigrationError, match=r"--restart to start over, or --state"):
        resume_or_start(path, ARGUMENTS, 4, TABLES, restart=False)


def test_values_not_copied_and_unstorable_rows_are_recorded_with_their_first_examples(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = MigrationState.new(ARGUMENTS, 2, TABLES)
    table = state.tables["p.v"]
    for segment in (0, 1):
        page = NotCopied()
        for n in range(4):
            page.add("v:rate", f"driver_id={segment}{n}: int64_val is no double")
        page.add("v@v0:y, v:y", f"driver_id={segment}: int64_val cannot be string_val")
        table.commit(
            segment, None, Counts(read=5, written=4, unstorable=1), [], page, [f"driver_id={segment}: big"]
        )
    save(path, state)
    loaded = load(path)
    assert loaded == state and loaded is not None
    not_copied = loaded.tables["p.v"].not_copied
    assert not_copied.counts == {"v:rate": 8, "v@v0:y, v:y": 2} and not_copied.total == 10
    assert not_copied.examples["v:rate"] == [f"driver_id={s}{n}: int64_val is no double" for s, n in
                                             [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]]  # fmt: skip
    assert len(not_copied.examples["v:rate"]) == MAX_EXAMPLES
    assert loaded.tables["p.v"].unstorable_examples == ["driver_id=0: big", "driver_id=1: big"]
    assert loaded.totals().unstorable == 2


def test_a_state_file_written_before_values_were_typed_resumes(tmp_path: Path) -> None:
    """It has no values not copied, no unstorable rows and no count of them: none were made."""
    path = tmp_path / "state.json"
    state, _ = resume_or_start(path, ARGUMENTS, 1, TABLES, restart=False)
    older = state.to_json()
    for table in older["tables"].values():
        del table["not_copied"], table["unstorable_examples"], table["counts"]["unstorable"]
    path.write_text(json.dumps(older))
    resumed, was_resumed = resume_or_start(path, ARGUMENTS, 1, TABLES, restart=False)
    assert was_resumed and resumed == state
