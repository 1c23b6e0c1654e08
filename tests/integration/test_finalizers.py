"""Garbage collection may free a store at any allocation: its finalizer must never hang the process.

Each case runs in a child process with a deadline, because the failure being
guarded against is a thread waiting for a lock it holds itself: in this
process it would hang every test after it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import Endpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 60

# The outside run's reproduction: a store on a new table, a read, a refused
# (oversize) write whose traceback keeps the store in a reference cycle, then
# drop it and repeat; a low GC threshold makes collections frequent, so one
# lands while the next engine is being built.
REPRODUCTION = """
import gc, sys, uuid
from pathlib import Path
import tempfile
from feast.protos.feast.types.Value_pb2 import StringList, Value
from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.engine import ENGINES
from feast_chalk_dynamo.errors import ItemTooLarge
from tests.feast_objects import DRIVER, driver_view, repo_config
from tests.integration.test_store import NOW, key

gc.set_threshold(100, 5, 5)
url = sys.argv[1]
view = driver_view("stats")
huge = {"tags": Value(string_list_val=StringList(val=["x" * 1000] * 500))}
for i in range(int(sys.argv[2])):
    config = repo_config(Path(tempfile.mkdtemp()), url, f"t-{uuid.uuid4().hex[:8]}")
    store = ChalkDynamoOnlineStore()
    store.update(config, [], [view], [], [DRIVER], partial=False)
    store.online_read(config, view, [key(1)])
    try:
        store.online_write_batch(config, view, [(key(1), huge, NOW, None)], None)
    except ItemTooLarge as error:
        kept = error  # the traceback holds the store's frames: a cycle only the collector frees
    del store
del kept
gc.collect()
assert ENGINES.flush(), "engines queued by finalizers were not released"
print("engines left:", len(ENGINES))
"""

# Deterministic: a collection inside the engine's construction, which
# SharedEngines.acquire runs under its lock, frees a store that holds an engine.
COLLECT_WHILE_BUILDING = """
import gc, sys
from feast_chalk_dynamo import engine as engine_module
from feast_chalk_dynamo.settings import DynamoSettings
from feast_chalk_dynamo.store import ChalkDynamoOnlineStore

built = engine_module.Engine.__init__

def collecting_init(self, *args, **kwargs):
    gc.collect()
    built(self, *args, **kwargs)

store = ChalkDynamoOnlineStore()
first = DynamoSettings(table_name="first", endpoint_url=sys.argv[1])
store._held["first"] = engine_module.ENGINES.acquire(first)
store.cycle = store  # freed only by the collector
del store
engine_module.Engine.__init__ = collecting_init
second = engine_module.ENGINES.acquire(DynamoSettings(table_name="second", endpoint_url=sys.argv[1]))
assert engine_module.ENGINES.flush()
print("engines left:", len(engine_module.ENGINES))
"""


def run_child(script: str, *args: str) -> str:
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=DEADLINE_SECONDS,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the process hung for {DEADLINE_SECONDS} s: a finalizer waited on a lock")
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_collection_while_an_engine_is_built_does_not_hang(moto_endpoint: Endpoint) -> None:
    assert run_child(COLLECT_WHILE_BUILDING, moto_endpoint.url).strip() == "engines left: 1"


def test_dropping_stores_after_refused_writes_does_not_hang(moto_endpoint: Endpoint) -> None:
    assert run_child(REPRODUCTION, moto_endpoint.url, "12").strip() == "engines left: 0"


def finalizer_callbacks() -> list[tuple[Path, str]]:
    """(module, callback source) of every weakref.finalize and __del__ in the package."""
    found = []
    for path in sorted((REPO_ROOT / "feast_chalk_dynamo").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "__del__":
                found.append((path, node.name))
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("finalize"):
                found.append((path, ast.unparse(node.args[1])))
    return found


def test_the_only_finalizer_just_queues() -> None:
    """The class of bug: any finalizer that locks, blocks or does I/O. There is one, and it only queues."""
    callbacks = finalizer_callbacks()
    assert [(path.name, callback) for path, callback in callbacks] == [("store.py", "_release_later")]
    from feast_chalk_dynamo import store

    source = ast.unparse(ast.parse(Path(store.__file__).read_text()))
    body = source[source.index("def _release_later") :].split("\n\n")[0]
    assert body.strip().endswith("ENGINES.release_later(held.values())")
