"""Errors of the trainer side.

    TrainerError
    ├── RemoteRewardError        the verifier refused a batch (a 4xx: the request itself is wrong)
    ├── VerifierUnreachableError no verifier URL answered, after retries and failover
    └── RecipeError              a recipe file is missing, malformed or names unknown fields
"""

from __future__ import annotations

from collections.abc import Sequence


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
