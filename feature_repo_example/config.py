"""The environment variables the example's ``feature_store.yaml`` reads, for the demo and the tests.

The repo ships one ``feature_store.yaml`` whose registry, table, region and
endpoint come from the environment (Feast expands them when it loads the
file), so ``cd feature_repo_example && feast apply`` works as it does in any
Feast repo. The demo and the tests use that same file: each sets the
variables (a registry and a table of its own) for its process or its
children.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml
from feast import FeatureStore

REPO_DIR = Path(__file__).resolve().parent
YAML_PATH = REPO_DIR / "feature_store.yaml"
PROJECT: str = yaml.safe_load(YAML_PATH.read_text())["project"]

REGISTRY = "FEAST_EXAMPLE_REGISTRY"
TABLE = "FEAST_EXAMPLE_TABLE"
REGION = "FEAST_EXAMPLE_REGION"
ENDPOINT_URL = "FEAST_EXAMPLE_ENDPOINT_URL"

DEFAULT_TABLE_NAME = "feast-online-store"
DEFAULT_REGION = "us-east-1"


def variables(
    *,
    registry: Path,
    endpoint_url: str,
    table_name: str = DEFAULT_TABLE_NAME,
    region: str = DEFAULT_REGION,
) -> dict[str, str]:
    """The yaml's variables; an ``endpoint_url`` of "" is AWS's endpoint for ``region``.

    The registry path is made absolute here: Feast would take a relative one
    from the repo directory, not from where the caller stands.
    """
    return {
        REGISTRY: str(Path(registry).resolve()),
        TABLE: table_name,
        REGION: region,
        ENDPOINT_URL: endpoint_url,
    }


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block, and as they were after.

    Feast reads the variables once, when it loads the yaml (a
    ``FeatureStore``, a command run in this process): only that needs them.
    """
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def feature_store(values: Mapping[str, str], repo: Path = REPO_DIR) -> FeatureStore:
    """A ``FeatureStore`` on the yaml in ``repo`` (this directory, or a copy of it) with ``values``."""
    with environment(values):
        return FeatureStore(repo_path=str(repo))
