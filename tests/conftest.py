"""Shared fixtures: an anyio backend, a real uvicorn server on 127.0.0.1, an in-process app client."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.system import require_bwrap

# The verdict cache is process-wide: left on, a test that counts real work (sandbox runs, programs in flight,
# worker deaths) would see another test's verdicts reused. Tests of the cache turn it on themselves
# (tests/verifier/test_verdict_cache.py); set the variable to run the whole suite with it on.
os.environ.setdefault("VERIFIER_VERDICT_CACHE_BYTES", "0")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server bound to 127.0.0.1 (a free port); yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture
def live_server() -> Iterator[Callable[[FastAPI], str]]:
    """Start real servers for the apps a test hands in; all are stopped after the test."""
    stack: list[contextmanager[str]] = []  # type: ignore[valid-type]

    def start(app: FastAPI) -> str:
        cm = serve_in_thread(app)
        url = cm.__enter__()
        stack.append(cm)
        return url

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)  # type: ignore[attr-defined]


@asynccontextmanager
async def app_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling ``app`` in-process, with the app's lifespan entered."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://verifier.test") as client:
            yield client


@pytest.fixture(scope="session")
def bubblewrap() -> None:
    """A working bubblewrap (use through ``tests.system.needs_bwrap``): skipped without one, failed when required."""
    require_bwrap()
