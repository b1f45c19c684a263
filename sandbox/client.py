"""A client for one or more ``sandbox serve`` instances: spreads requests, fails over, reports down.

Imports no web framework (httpx only). Every request is one ``ExecRequest`` (a program compiled once and
its runs) to ``POST /v1/execute``, or one ``PairRequest`` to ``POST /v1/pair``; a server that cannot be
reached or answers 5xx is skipped for a while and the request goes to the next. When none answers,
``SandboxUnavailable`` is raised.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from pydantic import BaseModel

from r1_failover import Rotation
from sandbox.errors import InvalidRequest, SandboxUnavailable, UnsupportedLanguage
from sandbox.types import BackendHealth, ExecRequest, ExecResponse, Executor, PairRequest, PairResponse

COOLDOWN_S = 5.0


class SandboxClient(Executor):
    """The servers at ``urls`` as one ``Executor``."""

    name = "remote"

    def __init__(self, urls: Sequence[str], *, timeout_s: float = 300.0, max_connections: int = 64) -> None:
        if not urls:
            raise ValueError("at least one sandbox URL is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._rotation = Rotation(self.urls, cooldown_s=COOLDOWN_S)
        self.last_error = ""

    async def start(self) -> None:
        """Nothing to start here: the servers run on their own, and ``health`` says which answer."""

    async def execute(self, request: ExecRequest) -> ExecResponse:
        return ExecResponse.model_validate_json(await self._post("/v1/execute", request))

    async def execute_pair(self, request: PairRequest) -> PairResponse:
        return PairResponse.model_validate_json(await self._post("/v1/pair", request))

    async def _post(self, path: str, request: BaseModel) -> bytes:
        errors: list[str] = []
        for url in self._rotation.order():
            try:
                response = await self._client.post(f"{url}{path}", content=wire_body(request),
                                                   headers={"content-type": "application/json"})  # fmt: skip
            except httpx.HTTPError as exc:
                errors.append(f"{url}: {type(exc).__name__}: {exc}")
                self._rotation.failed(url)
                continue
            if response.status_code >= 500:
                errors.append(f"{url}: HTTP {response.status_code} {response.text[:200]}")
                self._rotation.failed(url)
                continue
            if response.status_code >= 400:
                raise _request_error(url, response)
            self._rotation.succeeded(url)
            self.last_error = ""
            return response.content
        self.last_error = "; ".join(errors)
        raise SandboxUnavailable(f"no sandbox server answered: {self.last_error}")

    async def health(self) -> BackendHealth:
        """Healthy if any server is; ``degraded`` when some are down or not isolated."""
        states: list[BackendHealth] = []
        problems: list[str] = []
        for url in self.urls:
            try:
                response = await self._client.get(f"{url}/v1/health", timeout=5.0)
                states.append(BackendHealth.model_validate_json(response.content))
            except (httpx.HTTPError, ValueError) as exc:
                problems.append(f"{url}: {type(exc).__name__}")
        up = [s for s in states if s.status != "down"]
        if not up:
            return BackendHealth(
                status="down", backend=self.name, isolated=False, message="; ".join(problems)
            )
        isolated = all(s.isolated for s in up)
        degraded = bool(problems) or any(s.status == "degraded" for s in up)
        languages = sorted(set.intersection(*(set(s.languages) for s in up)))
        message = "; ".join(problems + [f"{s.backend}: {s.message}" for s in up if s.status == "degraded"])
        return BackendHealth(status="degraded" if degraded else "ok", backend=self.name, isolated=isolated,
                             message=message, languages=languages)  # fmt: skip

    async def aclose(self) -> None:
        await self._client.aclose()


def wire_body(request: BaseModel) -> str:
    """The request as JSON without the fields left at their defaults: a server of an older version, whose
    models forbid fields it does not know (``RunSpec.fetch_files``...), still takes what it can run."""
    return request.model_dump_json(exclude_defaults=True)


def _request_error(url: str, response: httpx.Response) -> InvalidRequest:
    """The server's 4xx as our exception: ``UnsupportedLanguage`` when it says so, else ``InvalidRequest``."""
    try:
        error = response.json()["error"]
        message, details = str(error["message"]), dict(error.get("details") or {})
        kind = error.get("type")
    except (ValueError, KeyError, TypeError):
        return InvalidRequest(f"{url}: HTTP {response.status_code}: {response.text[:500]}")
    if kind == "unsupported_language":
        return UnsupportedLanguage(str(details.get("language", "?")), str(details.get("reason", message)))
    return InvalidRequest(f"{url}: {message}")
