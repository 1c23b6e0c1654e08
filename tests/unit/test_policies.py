"""Retry and racing policies as values: no server, no clock (a socket pair for cutting attempts off)."""

from __future__ import annotations

import random
import socket

from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from feast_chalk_dynamo.dynamo.caller import RacingBudget, Siblings
from feast_chalk_dynamo.dynamo.client import (
    MAX_DELAY_SECONDS,
    ConflictBackoff,
    InFlight,
    RetryPolicy,
    retry_cause,
)


def test_delays_grow_exponentially_with_full_jitter_and_a_cap() -> None:
    delays = list(RetryPolicy(max_retries=20, scale_ms=10).delays(random.Random(1)))
    assert len(delays) == 20
    for attempt, delay in enumerate(delays):
        assert 0 <= delay <= min(MAX_DELAY_SECONDS, 0.010 * 2**attempt)
    assert max(delays[12:]) > 1.0  # late retries really do back off


def test_no_retries_means_no_delays() -> None:
    assert list(RetryPolicy(max_retries=0, scale_ms=10).delays()) == []


def test_conflict_backoff_starts_at_the_minimum_and_doubles_with_jitter() -> None:
    delays = list(ConflictBackoff(max_retries=5, min_ms=50).delays(random.Random(3)))
    assert len(delays) == 5
    for attempt, delay in enumerate(delays):
        assert 0.050 * 2**attempt <= delay < 0.050 * 2 ** (attempt + 1)
    # Jittered: two writers that conflicted do not retry on the same beat.
    other = list(ConflictBackoff(max_retries=5, min_ms=50).delays(random.Random(4)))
    assert delays != other


def test_conflict_backoff_is_capped_and_can_be_off() -> None:
    assert max(ConflictBackoff(max_retries=30, min_ms=50).delays()) <= MAX_DELAY_SECONDS
    assert list(ConflictBackoff(max_retries=0, min_ms=50).delays()) == []


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


def _cut_off(sock: socket.socket) -> bool:
    """True if ``sock`` was shut down: its peer then reads EOF at once."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False


def test_an_aborted_attempt_has_its_socket_shut_down_even_if_attached_later() -> None:
    for abort_first in (False, True):
        ours, server = socket.socketpair()
        in_flight = InFlight()
        if abort_first:
            in_flight.abort()
            in_flight.attach(ours)
        else:
            in_flight.attach(ours)
            in_flight.abort()
        assert in_flight.aborted and _cut_off(server)
        ours.close()
        server.close()


def test_a_released_attempt_leaves_its_pooled_connection_alone() -> None:
    ours, server = socket.socketpair()
    in_flight = InFlight()
    in_flight.attach(ours)
    in_flight.release()
    in_flight.abort()
    assert not _cut_off(server)
    ours.close()
    server.close()


def test_siblings_call_a_late_request_a_straggler_once_half_the_others_answered() -> None:
    assert Siblings(1).straggling()  # no siblings: late is late
    four = Siblings(4)
    assert not four.straggling()
    four.answered()
    assert not four.straggling()
    four.answered()
    assert four.straggling()
