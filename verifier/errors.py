"""Every exception of the ``verifier`` package: one tree, rooted at ``VerifierError``.

::

    VerifierError
    ├── ExposureError             refusing to serve a network address without API keys (startup)
    ├── PluginError               a plugin cannot be loaded or registered something invalid (startup)
    │   └── DuplicateRewardError  two plugins (or one, twice) registered the same reward name
    ├── ProfileError              a configured reward profile names an unknown reward or a bad param (startup;
    │                             also a ValueError, so the CLI reports it as a settings error)
    ├── NotReadyError             the service has not finished starting, or is stopping (HTTP 503 not_ready)
    ├── RequestError              the service answers a request with an error status instead of scores
    │   ├── UnknownRewardError    a reward name nobody registered (HTTP 400)
    │   ├── UnknownProfileError   a profile name not configured (HTTP 400)
    │   ├── UnauthorizedError     no valid API key (HTTP 401)
    │   ├── LimitExceededError    a batch over a configured limit (HTTP 413)
    │   ├── InvalidRequestError   a field or a reward's params fail validation (HTTP 422)
    │   ├── OverloadedError       too many items or bytes in flight, retry later (HTTP 429 + Retry-After)
    │   ├── UnscoredError         items no reward could score, where the protocol has no null (OpenRLHF's
    │   │                         route: HTTP 502; ``verifier.verl`` raises it for a null reward)
    │   └── ShuttingDownError     the service is draining for shutdown (HTTP 503)
    ├── RewardFailure             a reward's infrastructure failed for some items (becomes a per-item error;
    │                             plugins derive theirs from it)
    ├── BatchFailedError          a shared batch failed outside any reward: a bug (its requests get HTTP 500)
    ├── VerifierHTTPError         client side: the verifier answered with an error status (after retries)
    ├── VerifierUnavailableError  client side: the verifier could not be reached (after retries)
    └── LocalVerifierError        ``verifier.local``: the local ``verifier serve`` did not start

They all live here, the HTTP layer's and the clients' included: none needs more than the standard library,
and one module keeps the tree whole (``verifier.http.errors`` maps them onto the one error body; the clients
map httpx's exceptions onto ``VerifierUnavailableError`` and ``VerifierHTTPError``).

A wrong or unparseable model output is never an exception: it is a score. A reward that cannot run
(a dead pool, an unreachable endpoint) raises ``RewardFailure`` or any other exception, and the host turns
it into ``null`` plus an error message for the affected items only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class VerifierError(Exception):
    """Base class of every error the verifier raises on purpose."""


class ExposureError(VerifierError):
    """The service would listen beyond loopback with no API keys and was not told to run open."""


class PluginError(VerifierError):
    """A plugin failed to load or registered something invalid; raised at startup, never per request."""

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"plugin {plugin!r}: {message}")
        self.plugin = plugin


class DuplicateRewardError(PluginError):
    """Two registrations share a reward name."""


class ProfileError(VerifierError, ValueError):
    """A reward profile in the settings cannot be used as written; raised at startup, never per request."""

    def __init__(self, profile: str, message: str) -> None:
        super().__init__(f"profile {profile!r}: {message}")
        self.profile = profile


class NotReadyError(VerifierError):
    """The app has not finished starting (or is stopping)."""


class RequestError(VerifierError):
    """The request is answered with an error instead of scores. ``status`` is the HTTP status the boundary answers
    with, ``type`` the error body's type."""

    status = 400
    type = "bad_request"

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class UnknownRewardError(RequestError):
    type = "unknown_reward"

    def __init__(self, names: Sequence[str], available: Sequence[str]) -> None:
        unknown = ", ".join(repr(n) for n in names)
        super().__init__(
            f"unknown reward {unknown}; available: {', '.join(available) or '(none)'}",
            {"unknown": list(names), "available": list(available)},
        )


class UnknownProfileError(RequestError):
    type = "unknown_profile"

    def __init__(self, name: str, available: Sequence[str]) -> None:
        super().__init__(
            f"unknown profile {name!r}; available: {', '.join(available) or '(none)'}",
            {"unknown": name, "available": list(available)},
        )


class InvalidRequestError(RequestError):
    status = 422
    type = "invalid_request"

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            f"{where}: {first.get('msg')}{more}" if where else f"{first.get('msg')}{more}",
            {"errors": [dict(e) for e in errors]},
        )


class LimitExceededError(RequestError):
    status = 413
    type = "limit_exceeded"

    def __init__(self, limit: str, value: int, maximum: int) -> None:
        super().__init__(
            f"{limit} is {value}, over the configured maximum of {maximum}",
            {"limit": limit, "value": value, "maximum": maximum},
        )


class RewardFailure(VerifierError):
    """A reward could not score some items for a reason outside the model's control."""


class UnauthorizedError(RequestError):
    status = 401
    type = "unauthorized"

    def __init__(self) -> None:
        super().__init__("a valid API key is required (Authorization: Bearer <key>)")


class OverloadedError(RequestError):
    status = 429
    type = "overloaded"

    def __init__(self, limit: str, in_flight: int, asked: int, maximum: int, retry_after: int) -> None:
        super().__init__(
            f"{in_flight} {limit} are already being scored and this request brings {asked} (at most {maximum}); "
            "retry later",
            {"limit": limit, "value": in_flight + asked, "maximum": maximum, "retry_after": retry_after},
        )
        self.retry_after = retry_after


class ShuttingDownError(RequestError):
    status = 503
    type = "shutting_down"

    def __init__(self) -> None:
        super().__init__("the verifier is shutting down; retry on another replica or after restart")


class UnscoredError(RequestError):
    """Items got no reward (every reward that applies failed for them) where the caller cannot take a null: a
    0.0 in their place would be learnt from."""

    status = 502
    type = "unscored_items"


class BatchFailedError(VerifierError):
    """A shared batch failed outside any reward (a bug, not a request's fault); its requests get a 500."""


class VerifierHTTPError(VerifierError):
    """The verifier answered with an error (after retries, for retryable ones)."""

    def __init__(
        self, status: int, type_: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"HTTP {status} {type_}: {message}")
        self.status = status
        self.type = type_
        self.message = message
        self.details = dict(details or {})


class VerifierUnavailableError(VerifierError):
    """The verifier could not be reached (after retries)."""


class LocalVerifierError(VerifierError):
    """The local ``verifier serve`` exited at startup or did not become ready in time."""
