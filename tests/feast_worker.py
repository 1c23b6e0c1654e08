"""A Feast user in a process of its own, driven one command at a time: apply, teardown, write, read.

State that outlives a process (name mappings, their generations, a table
dropped and re-created) is only tested honestly with several real processes.
Starting Feast costs seconds, so each worker is started once per test and
then driven over a pipe: one JSON command per line in, one JSON answer per
line out. Every worker of a test shares one repo (its registry file and the
table), as the processes of one deployment do.

``Operator`` is the Feast side and is also used in the test's own process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.repo_config import RepoConfig
from feast.types import Float64, Int64, String

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.dynamo.metrics import AGGREGATES
from feast_chalk_dynamo.engine import Engine
from tests.feast_objects import repo_config

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "workers"
DTYPES = {"Float64": Float64, "Int64": Int64, "String": String}
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
DRIVER = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)

# view name -> {feature name -> dtype name}
Schemas = dict[str, dict[str, str]]


def worker_config(repo: Path, endpoint_url: str, table: str, versioning: bool, **knobs: Any) -> RepoConfig:
    """The deployment's config: one registry file and one table, whatever process reads it."""
    registry = {
        "registry_type": "file",
        "path": str(repo / "registry.db"),
        "cache_ttl_seconds": 0,
        "enable_online_feature_view_versioning": versioning,
    }
    return repo_config(repo, endpoint_url, table, PROJECT, registry, **knobs)


def view_of(name: str, features: dict[str, str]) -> FeatureView:
    schema = [Field(name="driver_id", dtype=Int64)]
    schema += [Field(name=feature, dtype=DTYPES[dtype]) for feature, dtype in features.items()]
    return FeatureView(
        name=name,
        entities=[DRIVER],
        schema=schema,
        source=FileSource(path=f"/nonexistent/{name}.parquet", timestamp_field="ts"),
        ttl=timedelta(days=1),
    )


class Operator:
    """What one process of the deployment does, through Feast's own API."""

    def __init__(self, config: RepoConfig) -> None:
        self.config = config
        self._store: FeatureStore | None = None

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            self._store = FeatureStore(config=self.config)
        return self._store

    def apply(self, schemas: Schemas) -> None:
        """``feast apply`` of exactly these views: views the registry has and these lack are deleted."""
        store = self.store
        wanted = [view_of(name, features) for name, features in schemas.items()]
        try:
            existing = store.list_feature_views()
        except Exception:  # noqa: BLE001 - no registry yet (a fresh repo, or torn down)
            existing = []
        doomed = [view for view in existing if view.name not in schemas]
        store.apply([DRIVER, *wanted], objects_to_delete=doomed, partial=False)

    def teardown(self) -> None:
        """``feast teardown``: the store's data (and the table, if the store made it) and the registry."""
        self.store.teardown()
        self._store = None

    def write(self, view: str, rows: list[dict[str, Any]]) -> None:
        """``write_to_online_store`` of rows of ``view`` (each with ``driver_id``, ``ts`` and features)."""
        frame = pd.DataFrame(rows)
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        self.store.refresh_registry()
        self.store.write_to_online_store(view, frame)

    def push(self, source: str, rows: list[dict[str, Any]]) -> None:
        """``store.push`` of rows (each with ``ts`` and every column of the views it feeds, outputs of
        windowed views as nulls) to a push source, as a stream consumer does."""
        frame = pd.DataFrame(rows)
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
        self.store.refresh_registry()
        self.store.push(source, frame)

    def freeze_clock(self, epoch_seconds: float) -> None:
        """The store's "now" (where windows end, before which an event is late) held at this time."""
        self.engine.now = lambda: epoch_seconds

    def aggregate_counts(self) -> dict[str, int]:
        """What this process's bucket writes did (``AggregateCounts``: cache hits, conflicts …)."""
        counts = self.engine.aggregates.counts
        return {name: getattr(counts, name) for name in AGGREGATES}

    @property
    def engine(self) -> Engine:
        online_store: ChalkDynamoOnlineStore = self.store._get_provider().online_store  # type: ignore[attr-defined]
        return online_store.engine(self.config)

    def read(self, refs: list[str], drivers: list[int]) -> dict[str, list[Any]]:
        """``get_online_features`` as a server does it, with the registry as it stands now.

        Values by full feature name (``view__feature``), as ``to_dict`` gives
        them, with each one's event time (``<name>__ts``, epoch s) and status
        (``<name>__status``: PRESENT, NOT_FOUND …).
        """
        self.store.refresh_registry()
        response = self.store.get_online_features(
            features=refs, entity_rows=[{"driver_id": d} for d in drivers], full_feature_names=True
        )
        answer = response.to_dict(include_event_timestamps=True)
        names = response.proto.metadata.feature_names.val
        for name, vector in zip(names, response.proto.results, strict=True):
            answer[f"{name}__status"] = [FieldStatus.Name(status) for status in vector.statuses]
        return answer

    def versions(self) -> dict[str, dict[int, dict[str, str]]]:
        """Every version the registry's history has of each view, with its schema (view -> N -> schema)."""
        store = self.store
        store.refresh_registry()
        found: dict[str, dict[int, dict[str, str]]] = {}
        for view in store.list_feature_views():
            for record in store.list_feature_view_versions(view.name):
                number = int(record["version_number"])
                version = store.registry.get_feature_view_by_version(view.name, PROJECT, number)
                found.setdefault(view.name, {})[number] = {
                    field.name: _DTYPE_NAMES[field.dtype] for field in version.features
                }
        return found

    def close(self) -> None:
        if self._store is not None:
            self._store._get_provider().online_store.close_engines()  # type: ignore[attr-defined]


def main() -> None:
    """The worker process: commands on stdin, answers on stdout, until stdin closes."""
    repo, endpoint_url, table, versioning, knobs = sys.argv[1:6]
    operator = Operator(
        worker_config(Path(repo), endpoint_url, table, versioning == "1", **json.loads(knobs))
    )
    for line in sys.stdin:
        command = json.loads(line)
        try:
            answer = {"ok": getattr(operator, command["op"])(*command.get("args", ()))}
        except Exception as error:  # noqa: BLE001 - handed to the test, which decides
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer, default=str), flush=True)
    operator.close()


class Worker:
    """The test's handle on a worker process."""

    def __init__(
        self, repo: Path, endpoint_url: str, table: str, versioning: bool = False, **knobs: Any
    ) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.feast_worker", str(repo), endpoint_url, table,
             "1" if versioning else "0", json.dumps(knobs)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def __call__(self, op: str, *args: Any) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited ({self._process.wait()}) during {op}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"worker failed {op}: {answer['error']}")
        return answer["ok"]

    def stop(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


if __name__ == "__main__":
    main()
