"""The errors the simulated DynamoDB answers a write with, as DynamoDB names them."""

from __future__ import annotations


class Rejected(Exception):
    """A request answered with a DynamoDB-style 400 error, ``code`` being the ``__type`` suffix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def unsupported(message: str) -> Rejected:
    """Loud rather than approximate: a benchmark should not count what the simulator cannot model."""
    return Rejected("SimulatorUnsupportedException", f"the DynamoDB simulator does not model {message}")
