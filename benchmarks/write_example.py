"""Write units per row of ``feature_repo_example`` materialized into the simulated endpoint.

The example repo is what the demo runs: two views of different shapes
(3 scalars; 7 lists, maps, JSON, a struct) over 50 drivers, with several
rows per driver in the window. It is built as the demo builds it
(``data_gen.generate`` into a directory, ``build_objects`` over it), applied
to a temporary registry and materialized once per candidate, each from an
empty simulated table, so the write units are what a first load costs.
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from feast import FeatureStore

from benchmarks import feature_stores
from benchmarks.simulated_dynamodb import SimulatedDynamo
from benchmarks.write_runs import count_rows
from feature_repo_example import data_gen
from feature_repo_example.config import PROJECT
from feature_repo_example.features import build_objects

EXAMPLE_TABLE = "bench-write-example"


@dataclass(frozen=True)
class ExampleWrite:
    label: str
    rows: int  # handed to online_write_batch by Feast's materialization
    write_units: int
    requests: Counter[str]
    failure: str | None = None

    @property
    def units_per_row(self) -> float | None:
        return self.write_units / self.rows if self.rows else None


def online_stores(endpoint_url: str, modes: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict]]:
    """(label, online_store section) for each mode of this store and for Feast's."""
    ours = [
        (
            f"ours: {label}",
            {
                "type": feature_stores.OUR_TYPE,
                "table_name": EXAMPLE_TABLE,
                "endpoint_url": endpoint_url,
                "create_tables_if_not_exists": True,
                **knobs,
            },
        )
        for label, knobs in modes
    ]
    feast = (
        "feast: dynamodb",
        {"type": "dynamodb", "region": feature_stores.REGION, "endpoint_url": endpoint_url},
    )
    return [*ours, feast]


def example_write_units(
    sim: SimulatedDynamo, tmp_dir: Path, modes: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> list[ExampleWrite]:
    data_dir = tmp_dir / "example-data"
    source = data_gen.generate(data_dir, now=now)
    results = []
    for index, (label, online_store) in enumerate(online_stores(sim.url, modes)):
        objects = build_objects(data_dir)  # fresh objects: apply mutates them
        start = source.now - max(view.ttl for view in objects.feature_views() if view.ttl)
        store = FeatureStore(
            config=feature_stores.repo_config(tmp_dir / f"registry-example-{index}.db", online_store, PROJECT)
        )
        try:
            store.apply(objects.all())
            rows = count_rows(store)
            sim.reset()  # from an empty table: the sizes of earlier candidates' items forgotten
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                store.materialize(start, source.now, objects.materialized())
            stats = sim.stats()
            results.append(ExampleWrite(label, rows[0], stats.write_units, Counter(stats.requests)))
        except Exception as error:  # reported in the table
            results.append(ExampleWrite(label, 0, 0, Counter(), f"{type(error).__name__}: {error}"[:200]))
        finally:
            feature_stores.close(store)
    return results
