"""A real verifier on 127.0.0.1 for the trainer tests, optionally failing its first requests."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
import verifier_format
from fastapi import FastAPI

from tests.trainer import reward_plugins
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class CountingApp:
    """ASGI wrapper: counts ``POST /v1/verify`` requests and answers the first ``fail_first`` of them with
    ``fail_status`` (as an overloaded or crashing replica would), then lets requests through."""

    def __init__(self, app: FastAPI, *, fail_first: int = 0, fail_status: int = 503) -> None:
        self.app = app
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.verify_requests = 0
        self.item_counts: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/verify" and scope["method"] == "POST":
            self.verify_requests += 1
            if self.verify_requests <= self.fail_first:
                body = b'{"error": {"type": "unavailable", "message": "failing on purpose", "details": {}}}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.fail_status,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            receive = self._counting(receive)
        await self.app(scope, receive, send)

    def _counting(self, receive: Receive) -> Receive:
        chunks: list[bytes] = []

        async def wrapped() -> Any:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                import orjson

                self.item_counts.append(len(orjson.loads(b"".join(chunks))["items"]))
            return message

        return wrapped


def verifier_app() -> FastAPI:
    pm = create_plugin_manager(
        load_entrypoints=False, plugins={"format": verifier_format, "trainer_tests": reward_plugins}
    )
    return create_app(Settings(log_level="warning"), plugin_manager=pm)


@pytest.fixture
def start_verifier(live_server: Callable[[Any], str]) -> Callable[..., tuple[str, CountingApp]]:
    """Start a real verifier (uvicorn on 127.0.0.1); returns its URL and its request counter."""

    def start(fail_first: int = 0, fail_status: int = 503) -> tuple[str, CountingApp]:
        app = CountingApp(verifier_app(), fail_first=fail_first, fail_status=fail_status)
        return live_server(app), app

    return start


@pytest.fixture
def verifier_url(start_verifier: Callable[..., tuple[str, CountingApp]]) -> str:
    return start_verifier()[0]


@pytest.fixture
def dead_url() -> str:
    """A 127.0.0.1 URL where nothing listens (connections are refused at once)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
