"""Session-wide test setup: dummy AWS credentials, and DynamoDB-compatible servers.

Integration tests that should hold on any DynamoDB take ``dynamodb_endpoint``
(or ``ddb_client``) and so run once on moto and once on dynalite.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from tests.fault_proxy import FaultProxy
from tests.servers import DYNALITE_BIN, Endpoint, ServerProcess, start_dynalite, start_moto

REGION = "us-east-1"

# Forced rather than setdefault: with a developer's real credentials in the
# environment, a code path that drops endpoint_url would reach real AWS. The
# profile and config-file variables go too, or boto3 could still find a real
# profile. Set in pytest_configure (not a session fixture) so that code run at
# collection time sees them as well; undone in pytest_unconfigure.
_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_REAL_AWS_ENV = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
)
_env_patch = pytest.MonkeyPatch()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_transactions: skipped on a dynamodb_endpoint without TransactWriteItems",
    )
    config.addinivalue_line("markers", "needs_ttl: skipped on a dynamodb_endpoint without UpdateTimeToLive")
    for name, value in _FAKE_AWS_ENV.items():
        _env_patch.setenv(name, value)
    for name in _REAL_AWS_ENV:
        _env_patch.delenv(name, raising=False)
    _env_patch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    _env_patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


def pytest_unconfigure(config: pytest.Config) -> None:
    _env_patch.undo()


@contextmanager
def strict(server: ServerProcess) -> Iterator[Endpoint]:
    """The server behind a proxy that rejects, as AWS does, every request past DynamoDB's limits.

    moto and dynalite accept 4 KB+ expressions, oversize batches and keys;
    every integration test talks to them through this, so a request AWS
    would refuse fails the test that sent it.
    """
    try:
        with FaultProxy(server.endpoint.url, strict=True) as proxy:
            yield dataclasses.replace(server.endpoint, url=proxy.url)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[Endpoint]:
    with strict(start_moto()) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def dynalite_endpoint() -> Iterator[Endpoint]:
    if not DYNALITE_BIN.exists():
        pytest.skip(f"dynalite is not installed ({DYNALITE_BIN} missing): run `make test`, which installs it")
    with strict(start_dynalite()) as endpoint:
        yield endpoint


_CAPABILITY_MARKERS = {
    "needs_transactions": ("supports_transactions", "TransactWriteItems"),
    "needs_ttl": ("supports_ttl", "UpdateTimeToLive"),
}


@pytest.fixture(params=["moto", "dynalite"], ids=["moto", "dynalite"])
def dynamodb_endpoint(request: pytest.FixtureRequest) -> Endpoint:
    # getfixturevalue, not two fixture arguments: a run that selects only the
    # moto cases never starts dynalite, and the reverse.
    endpoint: Endpoint = request.getfixturevalue(f"{request.param}_endpoint")
    for marker, (flag, api) in _CAPABILITY_MARKERS.items():
        if request.node.get_closest_marker(marker) and not getattr(endpoint, flag):
            pytest.skip(f"{endpoint.name} does not implement {api}")
    return endpoint


@pytest.fixture
def ddb_client(dynamodb_endpoint: Endpoint) -> Any:
    # Explicit credentials, so the client works even if a test changed the environment.
    return boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_endpoint.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def table_name() -> str:
    # Unique per test because the servers live for the whole session.
    # dynalite rejects names shorter than 3 characters.
    return f"t-{uuid.uuid4().hex[:8]}"
