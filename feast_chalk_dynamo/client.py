"""The DynamoDB client and the retry policy, shared by reads, writes and the registry.

Knows DynamoDB requests and nothing of Feast.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from feast_chalk_dynamo.settings import DynamoSettings

# Backoff never sleeps longer than this between two attempts, however many
# retries the budget allows: past it, waiting longer only hides an outage.
MAX_DELAY_SECONDS = 20.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter.

    Attempt ``n`` (from 0) waits a uniform random time in
    ``[0, min(MAX_DELAY, scale_ms * 2**n / 1000)]`` seconds. Full jitter
    spreads the retries of many clients that were throttled together.
    """

    max_retries: int
    scale_ms: float

    def delays(self) -> Iterator[float]:
        for attempt in range(self.max_retries):
            yield random.uniform(0, min(MAX_DELAY_SECONDS, self.scale_ms * 2**attempt / 1000))

    @classmethod
    def from_settings(cls, settings: DynamoSettings) -> RetryPolicy:
        return cls(max_retries=settings.max_retries, scale_ms=settings.retry_scale_factor)


def make_client(settings: DynamoSettings) -> Any:
    """A low-level client: its plain-dict responses are far cheaper than the resource API's."""
    timeout = settings.request_timeout_ms / 1000 if settings.request_timeout_ms else None
    config = Config(
        region_name=settings.region,
        max_pool_connections=settings.client_connections,
        retries={"total_max_attempts": settings.max_retries + 1, "mode": "standard"},
        **({"connect_timeout": timeout, "read_timeout": timeout} if timeout else {}),
    )
    return boto3.session.Session().client("dynamodb", endpoint_url=settings.endpoint_url, config=config)
