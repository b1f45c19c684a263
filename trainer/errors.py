"""Every exception of the ``trainer`` package: one tree, rooted at ``TrainerError``.

::

    TrainerError
    ├── RemoteRewardError         the verifier refused a batch (a 4xx: the request itself is wrong)
    ├── VerifierUnreachableError  no verifier URL answered, after retries and failover (wraps the last
    │                             ``verifier.errors`` exception, httpx's already mapped by the verifier client)
    ├── RecipeError               a recipe file is missing, malformed or names unknown fields
    ├── SamplingUnavailableError  rejection sampling: the policy endpoint did not answer after retries
    └── OpenAIError               ``trainer.serving``: a request answered with an HTTP error in OpenAI's shape
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class TrainerError(Exception):
    """Base of every error raised by the ``trainer`` package."""


class RemoteRewardError(TrainerError):
    """The verifier answered a batch with an error that another attempt would not fix."""


class VerifierUnreachableError(TrainerError):
    """Every verifier URL failed (connection errors, timeouts, 429 or 5xx) after its retries."""

    def __init__(self, urls: Sequence[str], last_error: BaseException | None) -> None:
        self.urls = list(urls)
        self.last_error = last_error
        super().__init__(
            f"no verifier answered at {', '.join(self.urls)} (last error: {last_error}). "
            "Training stops here rather than run on missing rewards; start the verifier "
            "(`verifier serve`), fix the URL, or pass on_error='skip' to score such batches None."
        )


class RecipeError(TrainerError):
    """A recipe cannot be used as written."""


class SamplingUnavailableError(TrainerError):
    """The policy endpoint did not answer (connection errors, timeouts, 429 or 5xx after retries)."""


class OpenAIError(TrainerError):
    """An error ``trainer.serving`` answers in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``)."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
