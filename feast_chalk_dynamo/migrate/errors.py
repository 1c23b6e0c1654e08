"""The one error a migration raises on purpose: bad input or a setup it cannot work with."""

from __future__ import annotations

from feast_chalk_dynamo.errors import ChalkDynamoError


class MigrationError(ChalkDynamoError):
    """Wrong repo, options, tables or state file: nothing was migrated by the call that raised it.

    The CLI prints the message alone (exit status 2), so it must say what to do.
    """
