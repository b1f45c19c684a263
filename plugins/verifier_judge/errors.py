"""Errors of the judge client. Each becomes ``null`` plus an error for the items it concerns, never 0.0.

    JudgeError
    ├── JudgeUnavailable   no endpoint answered (connection errors, timeouts, 429 or 5xx after retries)
    └── JudgeRejected      an endpoint refused the request (a 4xx that another attempt would not fix)
"""

from __future__ import annotations


class JudgeError(Exception):
    """Base of the judge client's errors."""


class JudgeUnavailable(JudgeError):
    """Every endpoint failed after its retries."""


class JudgeRejected(JudgeError):
    """The endpoint answered with a client error: the request itself is wrong (unknown model, too long, ...)."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(f"judge endpoint refused the request (HTTP {status}): {message}")
        self.status = status
        self.message = message
        self.param = param
