"""Bearer-token authentication and the refusal to serve the network open.

A reward server that anyone on the network can call can be made to score whatever it is sent, and one that
anyone can flood stalls every trainer behind it. So: keys are required on any address but loopback unless
the operator says ``allow_open``; keys are kept as SHA-256 digests; comparison is constant-time; a 401 says
nothing about why.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request

from verifier.errors import ExposureError, UnauthorizedError
from verifier.settings import Settings

HASH_PREFIX = "sha256:"


def key_digest(key: str) -> bytes:
    """The digest a configured key is stored as; ``sha256:<hex>`` entries are digests already."""
    if key.startswith(HASH_PREFIX):
        return bytes.fromhex(key.removeprefix(HASH_PREFIX))
    return hashlib.sha256(key.encode()).digest()


def hashed_keys(settings: Settings) -> list[str]:
    """The configured keys as ``sha256:<hex>`` strings (what is handed to worker processes)."""
    return [HASH_PREFIX + key_digest(k.get_secret_value()).hex() for k in settings.api_keys]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def check_exposure(settings: Settings) -> None:
    """Raise unless the service is on loopback, has keys, or was explicitly told to run open."""
    if settings.api_keys or settings.allow_open or is_loopback(settings.host):
        return
    raise ExposureError(
        f"refusing to serve on {settings.host} without API keys: anyone who reaches it could feed rewards "
        "into your training runs. Set VERIFIER_API_KEYS (a JSON list) or, to run open on purpose, "
        "VERIFIER_ALLOW_OPEN=true"
    )


class KeyChecker:
    """Checks ``Authorization: Bearer <key>`` against the configured key digests in constant time."""

    def __init__(self, digests: Iterable[bytes]) -> None:
        self.digests = list(digests)

    def __call__(self, request: Request) -> None:
        if not self.digests:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise UnauthorizedError()
        self.check_token(token)

    def check_token(self, token: str) -> None:
        """Raise ``UnauthorizedError`` unless ``token`` is one of the keys (always true without keys)."""
        if not self.digests:
            return
        offered = hashlib.sha256(token.strip().encode()).digest()
        # Compare against every key, always, so timing says nothing about which (or whether one) matched.
        matched = False
        for digest in self.digests:
            matched |= hmac.compare_digest(offered, digest)
        if not matched:
            raise UnauthorizedError()


async def require_key(request: Request) -> None:
    # async: FastAPI runs a sync dependency in its thread pool, a thread hop per request for a dict lookup.
    checker: KeyChecker = request.app.state.key_checker
    checker(request)


Authenticated = Annotated[None, Depends(require_key)]
