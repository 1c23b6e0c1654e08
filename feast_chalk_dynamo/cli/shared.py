"""What every command needs: the table reached, the checkout found, errors said in a line.

A command that cannot work with what it was given (a table that is missing
or does not answer) raises ``CliError``, and a wrong repo ``repos.RepoError``
(the repo is loaded by ``repos``, which ``migrate`` shares); ``main`` prints
either message alone on stderr and exits 2, so it says what is wrong and
what to do.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError
from feast import FeatureStore

import feast_chalk_dynamo
from feast_chalk_dynamo.dynamo.client import make_client
from feast_chalk_dynamo.dynamo.tables import EXPECTED_KEYS
from feast_chalk_dynamo.errors import ChalkDynamoError
from feast_chalk_dynamo.repos import YAML, one_line
from feast_chalk_dynamo.store import ChalkDynamoOnlineStoreConfig

# A command asks a few small questions: it need not wait out the store's twelve retries.
COMMAND_RETRIES = 2
COMMAND_TIMEOUT_MS = 10_000
# Library loggers whose INFO lines tell a user of these commands nothing (botocore's "Found
# credentials in environment variables" for every client, once anything turns INFO on).
NOISY_LOGGERS = ("botocore", "boto3", "urllib3", "feast")


def add_repo_argument(parser: argparse.ArgumentParser) -> None:
    """``--repo``, as every command that reads a repo takes it."""
    parser.add_argument("--repo", type=Path, required=True, help=f"the Feast repo directory (its {YAML})")


class CliError(ChalkDynamoError):
    """A wrong repo, option, table or endpoint: printed alone on stderr, exit status 2."""


def where(settings: ChalkDynamoOnlineStoreConfig) -> str:
    return settings.endpoint_url or f"AWS {settings.region}"


def table_client(settings: ChalkDynamoOnlineStoreConfig) -> Any:
    """A client for a few small requests: few retries, and a timeout unless the yaml sets one."""
    quick = settings.model_copy(
        update={
            "max_retries": min(settings.max_retries, COMMAND_RETRIES),
            "request_timeout_ms": settings.request_timeout_ms or COMMAND_TIMEOUT_MS,
        }
    )
    return make_client(quick)


@contextmanager
def talking_to(settings: ChalkDynamoOnlineStoreConfig) -> Iterator[None]:
    """DynamoDB's failures inside as one-line ``CliError``s naming the table and the endpoint."""
    table = settings.table_name
    try:
        yield
    except ClientError as error:
        code = error.response["Error"].get("Code", "")
        if code == "ResourceNotFoundException":
            raise CliError(
                f"DynamoDB table {table!r} does not exist at {where(settings)}: check table_name, region "
                "and endpoint_url in the yaml, or provision it (README, 'Provisioning the table')"
            ) from error
        message = error.response["Error"].get("Message", "")
        raise CliError(
            f"DynamoDB at {where(settings)} refused a request on {table!r}: {code}: {message}"
        ) from error
    except (BotoConnectionError, ReadTimeoutError) as error:
        raise CliError(f"cannot reach DynamoDB at {where(settings)}: {one_line(error)}") from error
    except BotoCoreError as error:
        raise CliError(f"DynamoDB at {where(settings)}: {one_line(error)}") from error


def check_table(client: Any, settings: ChalkDynamoOnlineStoreConfig) -> None:
    """The table answers and is keyed as this store keys it (inside ``talking_to``)."""
    description = client.describe_table(TableName=settings.table_name)["Table"]
    keys = sorted(description["KeySchema"], key=lambda key: key["KeyType"])
    if keys != EXPECTED_KEYS:
        raise CliError(
            f"DynamoDB table {settings.table_name!r} at {where(settings)} is keyed "
            f"{description['KeySchema']}, not by pk and sk: it is not this store's table"
        )


def checkout_path(given: Path | None, relative: str, option: str) -> Path:
    """A directory of the source checkout (``benchmarks``).

    It is not installed with the package: found beside it when it runs from
    a checkout (``pip install -e .``), else given with ``option``.
    """
    path = given if given is not None else Path(feast_chalk_dynamo.__file__).resolve().parents[1] / relative
    if not path.is_dir():
        raise CliError(
            f"{path} does not exist: {relative} comes with a source checkout of feast_chalk_dynamo, not with "
            f"the installed package; run from a checkout (pip install -e .) or give {option}"
        )
    return path


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Library loggers held to warnings for the command, as they were after."""
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def online_views(store: FeatureStore) -> list[Any]:
    """Every view whose rows this store keeps: batch and stream views served online, and on-demand
    views that write to the online store."""
    project, registry = store.project, store.registry
    views = [*registry.list_feature_views(project), *registry.list_stream_feature_views(project)]
    on_demand = [
        view for view in registry.list_on_demand_feature_views(project) if view.write_to_online_store
    ]
    return [view for view in views if view.online and getattr(view, "enabled", True)] + on_demand
