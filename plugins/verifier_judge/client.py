"""An async client for OpenAI-compatible chat completions over several endpoints.

Per endpoint: a concurrency limit (semaphore), an optional rate limit (token bucket), retries with exponential
backoff on connection errors, timeouts, 429 and 5xx (honouring ``Retry-After``). Across endpoints: each call
starts at the next endpoint (round robin) and fails over to the others; ``JudgeUnavailable`` only when all
failed. A 4xx other than 429 is the request's fault and is raised at once as ``JudgeRejected``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from r1_failover import Rotation
from verifier import Health
from verifier_judge.errors import JudgeRejected, JudgeUnavailable
from verifier_judge.metrics import record_call
from verifier_judge.options import EndpointOptions, ServerOptions

T = TypeVar("T")
RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
# No cool-down: each call starts at the next endpoint in turn, whatever failed before (as this client always
# did; a cool-down would spare later calls a failing endpoint's retries).
COOLDOWN_S = 0.0


class RateLimiter:
    """A token bucket: ``rate`` requests per second on average, bursts of up to ``max(1, rate)``."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # FIFO: waiters take tokens in arrival order
            while True:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await self._sleep((1.0 - self._tokens) / self.rate)


@dataclass
class ChatReply:
    content: str
    usage: dict[str, int]
    endpoint: str


@dataclass
class EndpointState:
    options: EndpointOptions
    headers: dict[str, str]
    semaphore: asyncio.Semaphore
    limiter: RateLimiter | None
    structured_output: bool = True  # cleared when the endpoint refuses response_format
    last_error: str | None = None
    models: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.options.url.rstrip("/")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_of(response: httpx.Response) -> tuple[str, str | None]:
    """Message and ``param`` of an OpenAI-shaped error body (``{"error": {...}}``), or the raw text."""
    try:
        body = response.json()
        error = body["error"] if isinstance(body, dict) and "error" in body else body
        if isinstance(error, dict):
            param = error.get("param")
            return str(error.get("message", error)), param if isinstance(param, str) else None
        return str(error)[:500], None
    except ValueError:
        return response.text[:500], None


def _refuses_response_format(status: int, message: str, param: str | None) -> bool:
    return status == 400 and (param == "response_format" or "response_format" in message)


def _reply_of(data: Any, url: str) -> ChatReply:
    """Content and usage of a chat-completion body; raises ValueError when it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise ValueError("no choices in the response")
    first = data["choices"][0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise ValueError("the first choice has no message")
    content = message.get("content")
    usage_raw = data.get("usage")
    if not isinstance(usage_raw, dict):
        usage_raw = {}
    usage = {
        k: int(usage_raw[k])
        for k in ("prompt_tokens", "completion_tokens", "total_tokens")
        if isinstance(usage_raw.get(k), int)
    }
    return ChatReply(content if isinstance(content, str) else "", usage, url)


class ChatClient:
    """Requests to a set of endpoints that serve the same model (chat completions, pooling)."""

    def __init__(
        self,
        options: ServerOptions,
        *,
        where: str = "endpoints",
        transport: httpx.AsyncBaseTransport | None = None,
        reward: str = "judge",
    ) -> None:
        self.options = options
        self.where = where
        self.reward = reward  # labels this client's calls in the metrics
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self.endpoints: list[EndpointState] = []
        for endpoint in options.endpoints:
            key = endpoint.api_key or options.api_key
            headers = {"authorization": f"Bearer {key.get_secret_value()}"} if key else {}
            limiter = RateLimiter(endpoint.requests_per_second) if endpoint.requests_per_second else None
            self.endpoints.append(
                EndpointState(endpoint, headers, asyncio.Semaphore(endpoint.max_concurrency), limiter)
            )
        # By index: two endpoints may share a URL (with different keys).
        self._rotation = Rotation(range(len(self.endpoints)), cooldown_s=COOLDOWN_S)

    async def __aenter__(self) -> ChatClient:
        # Fresh semaphores and buckets per opening: asyncio primitives belong to the loop that uses them.
        for endpoint in self.endpoints:
            endpoint.semaphore = asyncio.Semaphore(endpoint.options.max_concurrency)
            rate = endpoint.options.requests_per_second
            endpoint.limiter = RateLimiter(rate) if rate else None
        limit = sum(e.options.max_concurrency for e in self.endpoints) or 1
        self._http = httpx.AsyncClient(
            timeout=self.options.timeout_s,
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
            transport=self._transport,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("the judge client is not open (the reward's lifespan was not entered)")
        return self._http

    async def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        response_format: Mapping[str, Any] | None = None,
        sampling: Mapping[str, Any] | None = None,
    ) -> ChatReply:
        """One chat completion (``n`` = 1); ``response_format`` is dropped for endpoints that refused it."""

        def body(endpoint: EndpointState) -> dict[str, Any]:
            out: dict[str, Any] = {"model": self.options.model, "messages": list(messages), "n": 1, **(sampling or {})}
            if response_format is not None and endpoint.structured_output:
                out["response_format"] = dict(response_format)
            return out

        return await self.request("/v1/chat/completions", body, _reply_of)

    async def request(
        self, path: str, body: Callable[[EndpointState], dict[str, Any]], parse: Callable[[Any, str], T]
    ) -> T:
        """POST ``body(endpoint)`` to ``path``, starting at the next endpoint and failing over to the others;
        ``parse(json, endpoint url)`` raises ValueError for a 200 that is not the expected answer."""
        if not self.endpoints:
            raise JudgeUnavailable(f"no endpoints configured ({self.where})")
        failures: list[str] = []
        for index in self._rotation.order():
            try:
                reply = await self._request_on(self.endpoints[index], path, body, parse)
            except JudgeUnavailable as exc:
                failures.append(str(exc))
                self._rotation.failed(index)
                continue
            self._rotation.succeeded(index)
            return reply
        raise JudgeUnavailable("no endpoint answered: " + "; ".join(failures))

    async def _request_on(
        self,
        endpoint: EndpointState,
        path: str,
        make_body: Callable[[EndpointState], dict[str, Any]],
        parse: Callable[[Any, str], T],
    ) -> T:
        url = f"{endpoint.url}{path}"
        last = "no attempt"
        attempt = 0
        while attempt <= self.options.retries:
            wait: float | None = None
            body = make_body(endpoint)
            try:
                if endpoint.limiter is not None:
                    await endpoint.limiter.acquire()
                async with endpoint.semaphore:
                    response = await self.http.post(url, json=body, headers=endpoint.headers)
            except httpx.TransportError as exc:  # connection refused/reset, timeouts, protocol errors
                last = f"{type(exc).__name__}: {exc}".rstrip(": ")
            else:
                if response.status_code == 200:
                    try:
                        reply = parse(response.json(), endpoint.url)
                    except ValueError as exc:  # a 200 that is not the answer: a broken server or proxy
                        last = f"malformed response: {exc}; body starts {response.text[:200]!r}"
                    else:
                        endpoint.last_error = None
                        return reply
                elif response.status_code in RETRY_STATUSES:
                    message, _ = _error_of(response)
                    last = f"HTTP {response.status_code}: {message}"
                    wait = _retry_after(response)
                else:
                    message, param = _error_of(response)
                    if "response_format" in body and _refuses_response_format(response.status_code, message, param):
                        # Ask again in plain text, now and from now on; a changed request, not a spent attempt
                        # (it happens once per endpoint: the next body has no response_format).
                        endpoint.structured_output = False
                        record_call(self.reward, endpoint.url, "retried")
                        continue
                    record_call(self.reward, endpoint.url, "error")
                    raise JudgeRejected(response.status_code, message, param)
            attempt += 1
            if attempt <= self.options.retries:
                record_call(self.reward, endpoint.url, "retried")
                backoff = self.options.backoff_s * 2 ** (attempt - 1)
                await asyncio.sleep(min(self.options.max_backoff_s, wait if wait is not None else backoff))
        endpoint.last_error = last
        record_call(self.reward, endpoint.url, "error")
        raise JudgeUnavailable(f"{endpoint.url}: {last} (after {self.options.retries + 1} attempts)")

    async def probe(self, timeout_s: float = 5.0) -> Health:
        """``GET /v1/models`` on every endpoint: down when none answers, degraded when some fail or do not list
        the configured model."""
        if not self.endpoints:
            # Installed but not configured is not a fault of this service: items asking for it get null + error.
            return Health("ok", f"no endpoints configured ({self.where}): not in use")
        problems: list[str] = []
        answered = 0
        for endpoint in self.endpoints:
            try:
                response = await self.http.get(f"{endpoint.url}/v1/models", headers=endpoint.headers, timeout=timeout_s)
                response.raise_for_status()
                data = response.json().get("data", [])
                endpoint.models = [str(m.get("id")) for m in data if isinstance(m, dict)]
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                endpoint.last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                problems.append(f"{endpoint.url}: {endpoint.last_error}")
                continue
            answered += 1
            endpoint.last_error = None
            if self.options.model not in endpoint.models:
                problems.append(f"{endpoint.url} does not serve model {self.options.model!r} ({endpoint.models})")
        if answered == 0:
            return Health("down", "; ".join(problems))
        if problems:
            return Health("degraded", "; ".join(problems))
        return Health("ok", f"{answered} endpoint(s) serving {self.options.model!r}")
