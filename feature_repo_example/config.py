"""Render the example repo's feature_store.yaml into a run directory.

The repo directory itself holds no feature_store.yaml: the DynamoDB endpoint's
port is chosen at run time, so each run (demo or test) writes its own config and
points Feast at it with ``feast -f`` or ``FeatureStore(fs_yaml_file=...)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

TEMPLATE_PATH = Path(__file__).resolve().parent / "feature_store.yaml.template"
PROJECT = "driver_ranking"
DEFAULT_TABLE_NAME = "feast-online-store"
DEFAULT_REGION = "us-east-1"


def render_feature_store_yaml(
    *,
    registry_path: Path,
    endpoint_url: str,
    table_name: str = DEFAULT_TABLE_NAME,
    region: str = DEFAULT_REGION,
    project: str = PROJECT,
) -> str:
    """Return the config text; every value is JSON-quoted, which YAML accepts."""
    template = Template(TEMPLATE_PATH.read_text())
    return template.substitute(
        project=json.dumps(project),
        registry_path=json.dumps(str(Path(registry_path).resolve())),
        table_name=json.dumps(table_name),
        region=json.dumps(region),
        endpoint_url=json.dumps(endpoint_url),
    )


def write_feature_store_yaml(
    run_dir: Path,
    *,
    endpoint_url: str,
    table_name: str = DEFAULT_TABLE_NAME,
    region: str = DEFAULT_REGION,
) -> Path:
    """Write ``run_dir/feature_store.yaml`` with the registry kept in ``run_dir``.

    Keeping the registry beside the config means deleting the run directory
    resets Feast's state along with the (ephemeral) DynamoDB endpoint.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "feature_store.yaml"
    path.write_text(
        render_feature_store_yaml(
            registry_path=run_dir / "registry.db",
            endpoint_url=endpoint_url,
            table_name=table_name,
            region=region,
        )
    )
    return path
