"""The one error a backfill raises on purpose: bad input or a setup it cannot work with."""

from __future__ import annotations

from feast_chalk_dynamo.errors import ChalkDynamoError


class BackfillError(ChalkDynamoError):
    """Wrong repo, views, times, table or batch source: the CLI prints the message alone (exit status
    2), so it must say what to do."""
