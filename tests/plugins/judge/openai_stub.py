"""A stand-in for a GPU judge (vLLM's ``vllm serve``): an OpenAI-compatible chat-completions server that can be
told to misbehave. It speaks the real wire protocol (``/v1/models``, ``/v1/chat/completions`` with ``usage``,
OpenAI error bodies, ``Retry-After``) and records what it was sent. Runs on a real uvicorn via ``live_server``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response


@dataclass
class Reply:
    """Answer with this message content."""

    content: str


@dataclass
class Fail:
    """Answer with an HTTP error (OpenAI's error shape), optionally with ``Retry-After``."""

    status: int
    retry_after: float | None = None


@dataclass
class Garbage:
    """Answer 200 with a body that is not a chat completion."""

    body: str = "<html>upstream proxy error</html>"


@dataclass
class Hang:
    """Hold the request until the stub is released (the client's timeout is what ends it)."""


@dataclass
class Decide:
    """Choose the behaviour from the request itself (its user message), e.g. grade by what Response A holds;
    unlike a script, this does not depend on the order concurrent requests arrive in."""

    choose: Callable[[str], Reply | Fail]


Behaviour = Reply | Fail | Garbage | Hang | Decide


def field_value(message: str, name: str) -> str | None:
    """The value of template field ``name`` between its one-time-id tags in a filled message (the first
    block with a matching closing tag), or ``None``."""
    match = re.search(rf"<{name}-([0-9a-f]{{16}})>\n(.*?)\n</{name}-\1>", message, re.DOTALL)
    return match.group(2) if match else None


def user_message(body: dict[str, Any]) -> str:
    return str(next(m["content"] for m in body["messages"] if m["role"] == "user"))


@dataclass
class OpenAIStub:
    model: str = "judge-model"
    default: Behaviour = field(default_factory=lambda: Reply('{"reason": "solid", "score": 8}'))
    structured_output: bool = True
    hold_until_in_flight: int = 0  # hold each request until this many are in flight (or 10 s pass)
    script: deque[Behaviour] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    enough_in_flight: asyncio.Event = field(default_factory=asyncio.Event)

    def then(self, *behaviours: Behaviour) -> OpenAIStub:
        self.script.extend(behaviours)
        return self

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "stub"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                return await self._answer(body)
            finally:
                self.in_flight -= 1

        return app

    async def _answer(self, body: dict[str, Any]) -> Response:
        if body.get("model") != self.model:
            return error(404, f"The model `{body.get('model')}` does not exist.", "model")
        if not self.structured_output and body.get("response_format", {}).get("type", "text") != "text":
            return error(400, "response_format is not supported", "response_format")
        if self.in_flight >= self.hold_until_in_flight:
            self.enough_in_flight.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.enough_in_flight.wait(), timeout=10)
        behaviour = self.script.popleft() if self.script else self.default
        if isinstance(behaviour, Decide):
            behaviour = behaviour.choose(user_message(body))
        if isinstance(behaviour, Fail):
            headers = {} if behaviour.retry_after is None else {"retry-after": str(behaviour.retry_after)}
            return error(behaviour.status, f"failing with {behaviour.status} on purpose", None, headers)
        if isinstance(behaviour, Garbage):
            return PlainTextResponse(behaviour.body)
        if isinstance(behaviour, Hang):
            while not self.released.is_set():  # noqa: ASYNC110 (set from the test's thread, not this loop)
                await asyncio.sleep(0.02)
            return error(503, "released")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        completion_tokens = len(behaviour.content.split())
        return JSONResponse(
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": behaviour.content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )


def error(status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None) -> Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)
