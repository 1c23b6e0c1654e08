"""Retry and racing policies as values: no server, no clock."""

from __future__ import annotations

import random

from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from feast_chalk_dynamo.caller import RacingBudget
from feast_chalk_dynamo.client import MAX_DELAY_SECONDS, RetryPolicy, retry_cause


def test_delays_grow_exponentially_with_full_jitter_and_a_cap() -> None:
    delays = list(RetryPolicy(max_retries=20, scale_ms=10).delays(random.Random(1)))
    assert len(delays) == 20
    for attempt, delay in enumerate(delays):
        assert 0 <= delay <= min(MAX_DELAY_SECONDS, 0.010 * 2**attempt)
    assert max(delays[12:]) > 1.0  # late retries really do back off


def test_no_retries_means_no_delays() -> None:
    assert list(RetryPolicy(max_retries=0, scale_ms=10).delays()) == []


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "BatchGetItem"
    )


def test_what_is_retried() -> None:
    assert retry_cause(client_error("ProvisionedThroughputExceededException", 400)) == "throttled"
    assert retry_cause(client_error("ThrottlingException", 400)) == "throttled"
    assert retry_cause(client_error("RequestLimitExceeded", 400)) == "throttled"
    assert retry_cause(client_error("InternalServerError", 500)) == "server error"
    assert retry_cause(client_error("HTTP502", 502)) == "server error"
    assert retry_cause(ConnectionClosedError(endpoint_url="http://x")) == "connection"
    assert retry_cause(ReadTimeoutError(endpoint_url="http://x")) == "connection"
    assert retry_cause(client_error("ValidationException", 400)) is None
    assert retry_cause(client_error("ConditionalCheckFailedException", 400)) is None
    assert retry_cause(ValueError("bug")) is None


def test_racing_budget_allows_a_burst_then_a_share_of_requests() -> None:
    budget = RacingBudget(share=0.05, burst=3)
    granted = 0
    for _ in range(1000):
        budget.earn()
        granted += budget.spend()
    assert granted <= 3 + 0.05 * 1000
    assert granted >= 0.05 * 1000 - 1
