"""Exceptions raised by the verifier host.

    VerifierError
    ├── ExposureError             refusing to serve a network address without API keys (startup)
    ├── PluginError               a plugin cannot be loaded or registered something invalid (startup)
    │   └── DuplicateRewardError  two plugins (or one, twice) registered the same reward name
    ├── ProfileError              a configured reward profile names an unknown reward or a bad param (startup;
    │                             also a ValueError, so the CLI reports it as a settings error)
    ├── RequestError              a request the host cannot score as sent (client's fault)
    │   ├── UnknownRewardError    a reward name nobody registered (HTTP 400)
    │   ├── UnknownProfileError   a profile name not configured (HTTP 400)
    │   ├── InvalidRequestError   a field or a reward's params fail validation (HTTP 422)
    │   └── LimitExceededError    a batch over a configured limit (HTTP 413)
    └── RewardFailure             a reward's infrastructure failed for some items (becomes a per-item error)

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


class RequestError(VerifierError):
    """The request cannot be scored as sent. ``status`` is the HTTP status the boundary answers with."""

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
