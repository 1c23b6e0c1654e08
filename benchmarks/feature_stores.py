"""The stores the benchmarks compare, configured alike, and how the data set is loaded into them.

Every store gets the same Feast definitions and the same rows (``dataset``),
so a difference between them comes from the online store and not from what
it holds.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from feast import FeatureStore
from feast.repo_config import RepoConfig

from benchmarks.dataset import DataSet, definitions, feast_rows

PROJECT = "bench"
REGION = "us-east-1"
OUR_TABLE = "bench-chalk"
OUR_TYPE = "feast_chalk_dynamo.ChalkDynamoOnlineStore"


def table_names(views: Iterable[str]) -> list[str]:
    """The tables both stores read for ``views``: ours (one for every view), Feast's (one per view)."""
    return [OUR_TABLE, *(f"{PROJECT}.{view}" for view in views)]


# Forced, not setdefault: with real credentials in the environment a store
# that dropped its endpoint_url would reach AWS. Same values as tests/conftest.py.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
REAL_AWS_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def use_fake_aws_credentials() -> None:
    os.environ.update(FAKE_AWS_ENV)
    for name in REAL_AWS_ENV:
        os.environ.pop(name, None)


# -- configurations -------------------------------------------------------------------------------


def our_config(registry: Path, endpoint_url: str, **knobs: Any) -> RepoConfig:
    """This store; ``knobs`` go into the online_store section (pydantic rejects unknown ones)."""
    return repo_config(
        registry,
        {
            "type": OUR_TYPE,
            "table_name": OUR_TABLE,
            "endpoint_url": endpoint_url,
            "create_tables_if_not_exists": True,
            **knobs,
        },
    )


def feast_config(registry: Path, endpoint_url: str) -> RepoConfig:
    """Feast's built-in store: one table per view, ``<project>.<view>``, created on apply."""
    return repo_config(registry, {"type": "dynamodb", "region": REGION, "endpoint_url": endpoint_url})


def discard_config(registry: Path) -> RepoConfig:
    """An online store that drops what it is given: Feast's materialize pipeline alone."""
    return repo_config(registry, {"type": "benchmarks.discard_store.DiscardOnlineStore"})


def repo_config(registry: Path, online_store: dict[str, Any], project: str = PROJECT) -> RepoConfig:
    # materialization_config left at its default: online_write_batch_size None
    # hands each view's rows to the online store in one call, as a user gets.
    return RepoConfig(
        project=project,
        provider="local",
        registry=str(registry),
        online_store=online_store,
        entity_key_serialization_version=3,
    )


def write_repo(repo_dir: Path, config: RepoConfig) -> Path:
    """A repo directory whose ``feature_store.yaml`` is ``config``, for the ``feast`` CLI (``serve``)."""
    repo_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "project": config.project,
        "provider": config.provider,
        "registry": config.registry_config,
        "online_store": config.online_config,
        "entity_key_serialization_version": config.entity_key_serialization_version,
    }
    (repo_dir / "feature_store.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return repo_dir


# -- stores ---------------------------------------------------------------------------------------


def applied_store(config: RepoConfig, data_sets: Sequence[DataSet], data_dir: Path) -> FeatureStore:
    """A store with the data sets' driver and views applied, their sources in ``data_dir``."""
    store = FeatureStore(config=config)
    driver, views = definitions(data_sets, data_dir)
    store.apply([driver, *views])
    return store


def load(
    stores: Mapping[str, FeatureStore], data: DataSet, data_dir: Path, log: Callable[[str], None]
) -> None:
    """The data set's rows (``write_sources`` first) into every store, through its ``online_write_batch``.

    A view at a time: its rows converted once, then handed to each store in
    turn, so only one view's protos are in memory and every store gets the same.
    """
    spent = dict.fromkeys(stores, 0.0)
    started = time.monotonic()
    rows = 0
    first = next(iter(stores.values()))
    for name in data.view_names():
        view_rows = feast_rows(data_dir, first.get_feature_view(name))
        for label, store in stores.items():
            write_started = time.monotonic()
            online_store(store).online_write_batch(
                store.config, store.get_feature_view(name), view_rows, None
            )
            spent[label] += time.monotonic() - write_started
        rows += len(view_rows)
        log(f"  {name}: {len(view_rows):,} rows into {len(stores)} stores")
    rates = ", ".join(f"{label} {rows / seconds:,.0f} rows/s" for label, seconds in spent.items())
    log(f"  loaded in {time.monotonic() - started:.0f} s ({rates})")


def online_store(store: FeatureStore) -> Any:
    """The store's OnlineStore object, for calling ``online_read`` and ``online_write_batch`` directly."""
    return store._get_provider().online_store


def close(store: FeatureStore) -> None:
    """Release the online store's clients and pools (Feast's public, async, close)."""
    asyncio.run(store.close())
