"""Every exception of the judge plugin: one tree, under the host's ``verifier.RewardFailure``.

::

    verifier.RewardFailure
    └── JudgeError           base of the judge client's errors
        ├── JudgeUnavailable no endpoint answered (connection errors, timeouts, 429 or 5xx after retries)
        └── JudgeRejected    an endpoint refused the request (a 4xx that another attempt would not fix)

The client (``verifier_judge.client``) is the one boundary where httpx's exceptions and an endpoint's error
bodies become these. Each becomes ``null`` plus an error for the items it concerns, never 0.0: the rewards
catch them per item, and one that escapes is an infrastructure failure the host reports per item too.
"""

from __future__ import annotations

from verifier import RewardFailure


class JudgeError(RewardFailure):
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
