"""What a migration works on: the repo, its views, Feast's tables and this store's, all checked first.

Every way the setup can be wrong (no repo, a repo not yet switched to this
store, an unknown view, a table missing on either side) is found here, before
a row is read, and said as a ``MigrationError`` naming the fix. A version of
a versioned view whose table is missing is only noted: Feast creates a
version's table when the version is applied with versioning on, so a version
made with it off has none (its rows are in the table it wrote to then).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from feast import FeatureStore, FeatureView
from feast.infra.online_stores.helpers import compute_versioned_name
from feast.repo_config import RepoConfig

from feast_chalk_dynamo.aggregates.spec import is_windowed
from feast_chalk_dynamo.dynamo.client import RetryPolicy, make_client
from feast_chalk_dynamo.dynamo.regions import FailoverClient
from feast_chalk_dynamo.migrate.errors import MigrationError
from feast_chalk_dynamo.migrate.feast_items import ENTITY_ID
from feast_chalk_dynamo.migrate.state import DESTINATION_EPOCH
from feast_chalk_dynamo.migrate.versions import Reader, version_label, versions_of
from feast_chalk_dynamo.repos import STORE_TYPE, RepoError, guarded_writes, load_store, with_online_store
from feast_chalk_dynamo.sources import join_keys
from feast_chalk_dynamo.store import ChalkDynamoOnlineStore, ChalkDynamoOnlineStoreConfig

SWITCH_HINT = "see the README, 'Switching from Feast's DynamoDB store'"
WINDOWED_NOTE = (
    "a windowed view; Feast's DynamoDB store keeps no aggregates of it (a push kept its last raw row), so "
    "migrate copies nothing: `feast-chalk-dynamo backfill` fills its buckets from its batch source"
)


@dataclass(frozen=True)
class SourceTable:
    """One view, or one version of a versioned view, and the table Feast's DynamoDB store keeps it in."""

    view: FeatureView  # as the version was defined: its features, join keys, source and number
    readers: tuple[Reader, ...]  # every definition reading the table: its rows are written for each
    table: str
    # DynamoDB's estimate (updated every few hours): for progress bars and sampling only.
    item_count: int
    version: int | None  # None when versions are not kept apart (versioning off)
    current: FeatureView  # the view as the registry has it now

    @property
    def label(self) -> str:
        return version_label(self.view.name, self.version)

    @property
    def key_views(self) -> list[FeatureView]:
        """The views whose batch sources hold this table's entity keys: the version's own and, when
        keyed alike, the view as it is now (a source changed in place makes no new version, so rows
        materialized since came from the current definition's source only)."""
        return [self.view, self.current] if join_keys(self.current) == join_keys(self.view) else [self.view]


@dataclass
class Plan:
    repo: Path
    store: FeatureStore  # the repo as its yaml configures it: reads go through this store
    settings: ChalkDynamoOnlineStoreConfig
    write_config: RepoConfig  # the same, with every write guarded
    online_store: ChalkDynamoOnlineStore
    sources: list[SourceTable]
    table_prefix: str
    source_region: str
    source_endpoint_url: str | None
    source_client: Any
    skipped: list[str]  # views and versions left out, and why

    def groups(self) -> list[list[SourceTable]]:
        """Sources by join keys: views keyed alike share an entity item and one key index."""
        grouped: dict[tuple[str, ...], list[SourceTable]] = {}
        for source in self.sources:
            grouped.setdefault(tuple(sorted(join_keys(source.view))), []).append(source)
        return list(grouped.values())

    def arguments(self, entity_files: list[Path]) -> dict[str, Any]:
        """What a resumed run must share with the run that wrote the state file.

        Tables are named by region and name; an endpoint URL is only the way
        to them (a VPC endpoint, a proxy) and may change between runs.
        """
        return {
            "project": self.store.project,
            "tables": {source.label: source.table for source in self.sources},
            "source_region": self.source_region,
            "destination": {"table": self.settings.table_name, "region": self.settings.region},
            "entities": [str(path) for path in entity_files],
            DESTINATION_EPOCH: self.destination_epoch(),
        }

    def destination_epoch(self) -> str | None:
        """The destination table's epoch (``names.MappingState``): new when the table is dropped and
        created again, so a state file's record of rows copied into the old one is never trusted."""
        engine = self.online_store.engine(self.write_config)
        engine.ready(fresh=True)
        state = engine.names.generation
        return state.epoch if state is not None else None

    def close(self) -> None:
        self.source_client.close()
        self.online_store.close_engines()
        asyncio.run(self.store.close())


def load_plan(
    repo: Path,
    views: list[str] | None,
    table_prefix: str | None,
    source_region: str | None,
    source_endpoint_url: str | None,
    segments: int,
) -> Plan:
    store, settings = _load_repo(repo)
    chosen, skipped = _views(store, views)
    prefix = f"{store.project}." if table_prefix is None else table_prefix
    region = source_region or settings.region
    endpoint = source_endpoint_url if source_endpoint_url is not None else settings.endpoint_url
    guarded = guarded_writes(settings)
    source_settings = guarded.model_copy(
        update={
            "region": region,
            "endpoint_url": endpoint,
            "num_client_connections": max(segments, guarded.client_connections),
        }
    )
    # Retried as the store's control plane is: an endpoint that does not answer is ConnectionFailed.
    single_attempts = make_client(source_settings, retries=False)
    client = FailoverClient([single_attempts], RetryPolicy.from_settings(source_settings))
    online_store = ChalkDynamoOnlineStore()
    plan = Plan(
        repo=repo,
        store=store,
        settings=settings,
        write_config=with_online_store(store.config, guarded),
        online_store=online_store,
        sources=[],
        table_prefix=prefix,
        source_region=region,
        source_endpoint_url=endpoint,
        source_client=client,
        skipped=skipped,
    )
    try:
        for view in chosen:
            _add_sources(plan, view)
        if not online_store.engine(plan.write_config).admin.exists():
            raise MigrationError(
                f"this store's table {settings.table_name!r} does not exist at "
                f"{settings.endpoint_url or 'AWS ' + settings.region}: run `feast apply` with the new "
                "feature_store.yaml first (it creates the table when create_tables_if_not_exists is on), "
                "or provision it (README, 'Provisioning the table')"
            )
    except BaseException:
        plan.close()
        raise
    return plan


def _load_repo(repo: Path) -> tuple[FeatureStore, ChalkDynamoOnlineStoreConfig]:
    not_ours = f"; switch its online_store section to type: {STORE_TYPE} first ({SWITCH_HINT}), then migrate"
    try:
        return load_store(repo, not_ours)
    except RepoError as error:
        raise MigrationError(str(error)) from error


def _views(store: FeatureStore, names: list[str] | None) -> tuple[list[FeatureView], list[str]]:
    """The views to migrate, as materialization lists them (entityless views keep their dummy key)."""
    project = store.project
    registry = store.registry
    candidates = [*registry.list_feature_views(project), *registry.list_stream_feature_views(project)]
    served = [v for v in candidates if v.online and getattr(v, "enabled", True)]
    # Feast's stores keep no aggregates of a windowed view, only the last raw row a push wrote.
    windowed = [view.name for view in served if is_windowed(view)]
    online = [view for view in served if not is_windowed(view)]
    skipped = [
        f"{view.name}: an on-demand view; migrate does not copy on-demand views"
        for view in registry.list_on_demand_feature_views(project)
        if view.write_to_online_store
    ]
    if names is None:
        chosen = online
        skipped += [f"{name}: {WINDOWED_NOTE}" for name in windowed]
    else:
        by_name = {view.name: view for view in online}
        named_windowed = [name for name in names if name in windowed]
        if named_windowed:
            raise MigrationError(f"--views names {named_windowed}: {WINDOWED_NOTE}")
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise MigrationError(
                f"--views names {unknown}, which the project {project!r} has no online feature view of; "
                f"it has {sorted(by_name)}"
            )
        chosen = [by_name[name] for name in dict.fromkeys(names)]
    if not chosen:
        raise MigrationError(f"the project {project!r} has no online feature views to migrate")
    return chosen, skipped


def _add_sources(plan: Plan, view: FeatureView) -> None:
    """The view's tables (a table per version of a versioned view); a version's missing table is noted."""
    store = plan.store
    versioning = store.config.registry.enable_online_feature_view_versioning
    missing: dict[str, str] = {}  # table -> label
    for version in versions_of(store.registry, store.project, view, versioning):
        table = plan.table_prefix + compute_versioned_name(version.view, versioning)
        count = _source_item_count(plan.source_client, table)
        if count is None:
            missing[table] = version_label(view.name, version.number)
        else:
            plan.sources.append(
                SourceTable(version.view, version.readers, table, count, version.number, current=view)
            )
    if missing and not any(source.current is view for source in plan.sources):
        raise MigrationError(
            f"Feast's table {' or '.join(map(repr, missing))} for view {view.name!r} does not exist at "
            f"{plan.source_endpoint_url or 'AWS'}: check --from-table-prefix, --from-region and "
            "--from-endpoint-url, or leave the view out with --views"
        )
    plan.skipped += [
        f"{name} ({table}): no such table, so nothing to copy (Feast creates a version's table only "
        "when the version is applied with versioning on)"
        for table, name in missing.items()
    ]


def _source_item_count(client: Any, table: str) -> int | None:
    """DynamoDB's item count of one of Feast's tables; None when there is no such table."""
    try:
        description = client.describe_table(TableName=table)["Table"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return None
    keys = description["KeySchema"]
    if keys != [{"AttributeName": ENTITY_ID, "KeyType": "HASH"}]:
        raise MigrationError(
            f"table {table!r} is keyed {keys}, not by {ENTITY_ID!r} alone: it is not a table of Feast's "
            "DynamoDB store; check --from-table-prefix"
        )
    return int(description.get("ItemCount", 0))
