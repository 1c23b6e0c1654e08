"""A Feast repo that uses this store, loaded for the commands: one set of checks, one kind of error.

``feast-chalk-dynamo``'s subcommands and ``migrate`` all start from
``--repo``; a wrong one (no directory, no ``feature_store.yaml``, a yaml
that does not load, another online store) must be said the same way by each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feast import FeatureStore
from feast.repo_config import RepoConfig, load_repo_config

from feast_chalk_dynamo.errors import ChalkDynamoError
from feast_chalk_dynamo.settings import refuse_unset_variables
from feast_chalk_dynamo.store import ChalkDynamoOnlineStoreConfig

YAML = "feature_store.yaml"
STORE_TYPE = "feast_chalk_dynamo.ChalkDynamoOnlineStore"
USING_IT = f", not this one (type: {STORE_TYPE}); see the README, 'Using it'"


class RepoError(ChalkDynamoError):
    """The repo cannot be used: the message says what is wrong and what to do."""


def one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def load_config(repo: Path) -> tuple[RepoConfig, ChalkDynamoOnlineStoreConfig]:
    """The repo's configuration, without its registry (``config`` needs nothing more)."""
    yaml = _checked_yaml(repo)
    try:
        config = load_repo_config(repo, yaml)
    except Exception as error:
        raise RepoError(f"could not load {yaml}: {one_line(error)}") from error
    return config, _settings(repo, config, USING_IT)


def load_store(repo: Path, not_ours: str = USING_IT) -> tuple[FeatureStore, ChalkDynamoOnlineStoreConfig]:
    """The repo's FeatureStore (its registry: views, entities) and this store's settings.

    ``not_ours`` ends the message for a repo on another online store.
    """
    _checked_yaml(repo)
    try:
        store = FeatureStore(repo_path=str(repo))
    except Exception as error:
        raise RepoError(f"could not load the Feast repo {repo}: {one_line(error)}") from error
    return store, _settings(repo, store.config, not_ours)


def with_online_store(config: RepoConfig, online_store: Any) -> RepoConfig:
    """``config`` with another ``online_store`` section, the registry and the rest shared."""
    copied = config.model_copy(update={"online_config": online_store})
    copied._online_store = online_store  # RepoConfig caches the built section; the copy shares the cache
    return copied


def guarded_writes(settings: ChalkDynamoOnlineStoreConfig) -> ChalkDynamoOnlineStoreConfig:
    """The settings with every write guarded, bulk ones too: for a command that writes rows which may be
    older than what a live writer put there meanwhile (a row never replaces a newer one)."""
    return settings.model_copy(update={"only_write_newer_values": True, "check_ts_for_bulk_writes": True})


def _checked_yaml(repo: Path) -> Path:
    if not repo.is_dir():
        raise RepoError(f"{repo} is not a directory: give the Feast repo that holds {YAML}")
    yaml = repo / YAML
    if not yaml.is_file():
        raise RepoError(f"{repo} has no {YAML}: give the Feast repo that holds it")
    return yaml


def _settings(repo: Path, config: RepoConfig, not_ours: str) -> ChalkDynamoOnlineStoreConfig:
    try:
        # Before the registry is read: Feast makes an empty one where a file is missing.
        refuse_unset_variables("registry", config.registry.path)
    except ValueError as error:
        raise RepoError(f"{repo / YAML}: {error}") from error
    try:
        settings = config.online_store
    except Exception as error:  # Feast builds the section lazily: a misspelt knob fails here
        raise RepoError(f"{repo / YAML}: its online_store section is invalid: {one_line(error)}") from error
    if not isinstance(settings, ChalkDynamoOnlineStoreConfig):
        kind = getattr(settings, "type", type(settings).__name__)
        raise RepoError(f"{repo / YAML} uses the online store {kind!r}{not_ours}")
    return settings
