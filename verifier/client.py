"""Python clients for the verifier API, sync and async, on httpx.

    with VerifierClient("http://127.0.0.1:8000") as client:
        response = client.verify([{"completion": "<think>...</think> 42"}], rewards=["format"])

A batch is scored by one POST. Scoring is a pure function of the request, so a failed attempt is safe to
retry: connection errors, 429 and 502/503/504 are retried with exponential backoff (honouring Retry-After),
and so is a 500 that does not carry the verifier's error body: that one comes from a proxy in front of it
(Ray Serve's, when the replica scoring the batch died under it), so the batch never finished anywhere.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from verifier.advantages import ScaleRewards
from verifier.errors import VerifierHTTPError, VerifierUnavailableError
from verifier.schemas import (
    HealthResponse,
    Item,
    Params,
    ProfileInfo,
    ProfilesResponse,
    RewardInfo,
    RewardsResponse,
    VerifyResponse,
    Weights,
)

DEFAULT_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = frozenset({429, 502, 503, 504})

_Model = TypeVar("_Model", bound=BaseModel)


class ClientSettings(BaseSettings):
    """Where a trainer-side integration (``verifier.verl``) reaches the verifier, from ``VERIFIER_URL``,
    ``VERIFIER_REWARDS``, ``VERIFIER_PROFILE`` and ``VERIFIER_API_KEY``; the caller's own arguments beat them."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    # Exactly these names, as verl's users set them (case-sensitive, as the environment is).
    url: str = Field(DEFAULT_URL, validation_alias="VERIFIER_URL")
    rewards: str | None = Field(None, validation_alias="VERIFIER_REWARDS")
    profile: str | None = Field(None, validation_alias="VERIFIER_PROFILE")
    api_key: SecretStr | None = Field(None, validation_alias="VERIFIER_API_KEY")

    @classmethod
    def current(cls) -> ClientSettings:
        """The settings for the environment as it is now. Reward functions ask once per sample, and building
        settings costs about a millisecond, so one is built per distinct set of ``VERIFIER_*`` variables."""
        return _client_settings(tuple(os.environ.get(name) for name in _CLIENT_VARIABLES))


_CLIENT_VARIABLES = ("VERIFIER_URL", "VERIFIER_REWARDS", "VERIFIER_PROFILE", "VERIFIER_API_KEY")


@functools.lru_cache(maxsize=8)
def _client_settings(environment: tuple[str | None, ...]) -> ClientSettings:
    # ``environment`` is the cache key only: pydantic-settings reads the variables itself.
    return ClientSettings()


def encode_verify(
    items: Sequence[Item | Mapping[str, Any]],
    rewards: Weights | None = None,
    params: Params | None = None,
    group_size: int | None = None,
    scale_rewards: ScaleRewards = "group",
    profile: str | None = None,
    cache: bool = True,
) -> bytes:
    """The JSON body of a ``/v1/verify`` request (``cache=False``: bypass the verdict cache)."""
    body: dict[str, Any] = {
        "items": [i.model_dump(exclude_none=True) if isinstance(i, Item) else i for i in items],
    }
    if profile is not None:
        body["profile"] = profile
    if rewards is not None:
        body["rewards"] = rewards
    if params is not None:
        body["params"] = params
    if group_size is not None:
        body["group_size"] = group_size
        body["scale_rewards"] = scale_rewards
    if not cache:
        body["cache"] = False
    return orjson.dumps(body)


def _raise_for_error(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        raise VerifierHTTPError(response.status_code, error["type"], error["message"], error.get("details"))
    except (ValueError, KeyError, TypeError):
        raise VerifierHTTPError(response.status_code, "http_error", response.text[:500]) from None


def _decode(model: type[_Model], response: httpx.Response) -> _Model:
    """The body as ``model``. One that is not (a proxy's page, another service) is an error, not pydantic's."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise VerifierHTTPError(
            response.status_code, "invalid_response", f"not a {model.__name__}: {response.text[:200]!r}"
        ) from exc


def retryable(response: httpx.Response) -> bool:
    """Worth sending again: overload, a gateway's failure, or a proxy's 500 for a replica that died."""
    if response.status_code in RETRY_STATUSES:
        return True
    if response.status_code != 500:
        return False
    try:
        return not isinstance(response.json().get("error"), dict)
    except (ValueError, AttributeError):
        return True


def _retry_delay(attempt: int, backoff: float, response: httpx.Response | None) -> float:
    if response is not None:
        retry_after = response.headers.get("retry-after", "")
        if retry_after.replace(".", "", 1).isdigit():
            return min(float(retry_after), 60.0)
    return float(backoff * 2**attempt)


class _Base:
    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = 600.0,
        retries: int = 3,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.headers = {"content-type": "application/json", **(headers or {})}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"


class VerifierClient(_Base):
    """Blocking client. Reuse one instance: it pools connections."""

    def __init__(
        self, base_url: str = DEFAULT_URL, *, transport: httpx.BaseTransport | None = None, **kwargs: Any
    ) -> None:
        super().__init__(base_url, **kwargs)
        self._http = httpx.Client(
            base_url=self.base_url, timeout=self.timeout, transport=transport, headers=self.headers
        )

    def verify(
        self,
        items: Sequence[Item | Mapping[str, Any]],
        *,
        rewards: Weights | None = None,
        params: Params | None = None,
        group_size: int | None = None,
        scale_rewards: ScaleRewards = "group",
        profile: str | None = None,
        cache: bool = True,
    ) -> VerifyResponse:
        """Score a batch; one result per item, in order."""
        body = encode_verify(items, rewards, params, group_size, scale_rewards, profile, cache)
        return _decode(VerifyResponse, self._request("POST", "/v1/verify", body))

    def rewards(self) -> list[RewardInfo]:
        return _decode(RewardsResponse, self._request("GET", "/v1/rewards")).rewards

    def profiles(self) -> list[ProfileInfo]:
        return _decode(ProfilesResponse, self._request("GET", "/v1/profiles")).profiles

    def ready(self) -> HealthResponse:
        """The ``/readyz`` report (also when it is 503)."""
        try:
            response = self._http.get("/readyz")
        except httpx.TransportError as exc:
            raise VerifierUnavailableError(f"GET {self.base_url}/readyz: {exc!r}") from exc
        return _decode(HealthResponse, response)

    def _request(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        for attempt in range(self.retries + 1):
            response: httpx.Response | None = None
            try:
                response = self._http.request(method, path, content=body)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise VerifierUnavailableError(f"{method} {self.base_url}{path}: {exc!r}") from exc
            if response is not None and (not retryable(response) or attempt == self.retries):
                _raise_for_error(response)
                return response
            time.sleep(_retry_delay(attempt, self.backoff, response))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VerifierClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncVerifierClient(_Base):
    """Asyncio client with the same methods as ``VerifierClient``.

    At most ``max_connections`` requests are handed to httpx at once; the others wait on a semaphore. httpx's
    connection pool rescans every queued request each time a connection frees, which made 2,000 requests in
    flight on one client cost 4.5x the CPU per request of 16 (``bench/cluster_load.py``); a semaphore wakes
    one waiter in O(1).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, **kwargs)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, transport=transport, headers=self.headers, limits=limits
        )
        self._gate = asyncio.Semaphore(max_connections)

    async def verify(
        self,
        items: Sequence[Item | Mapping[str, Any]],
        *,
        rewards: Weights | None = None,
        params: Params | None = None,
        group_size: int | None = None,
        scale_rewards: ScaleRewards = "group",
        profile: str | None = None,
        cache: bool = True,
    ) -> VerifyResponse:
        """Score a batch; one result per item, in order."""
        body = encode_verify(items, rewards, params, group_size, scale_rewards, profile, cache)
        return _decode(VerifyResponse, await self._request("POST", "/v1/verify", body))

    async def rewards(self) -> list[RewardInfo]:
        return _decode(RewardsResponse, await self._request("GET", "/v1/rewards")).rewards

    async def profiles(self) -> list[ProfileInfo]:
        return _decode(ProfilesResponse, await self._request("GET", "/v1/profiles")).profiles

    async def ready(self) -> HealthResponse:
        try:
            response = await self._http.get("/readyz")
        except httpx.TransportError as exc:
            raise VerifierUnavailableError(f"GET {self.base_url}/readyz: {exc!r}") from exc
        return _decode(HealthResponse, response)

    async def _request(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        for attempt in range(self.retries + 1):
            response: httpx.Response | None = None
            try:
                async with self._gate:
                    response = await self._http.request(method, path, content=body)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise VerifierUnavailableError(f"{method} {self.base_url}{path}: {exc!r}") from exc
            if response is not None and (not retryable(response) or attempt == self.retries):
                _raise_for_error(response)
                return response
            await asyncio.sleep(_retry_delay(attempt, self.backoff, response))
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncVerifierClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
