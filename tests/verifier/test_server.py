"""The real thing: uvicorn on 127.0.0.1, the clients, the ``verifier`` command, a third-party plugin."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from tests.verifier import plugins_for_tests
from verifier.client import AsyncVerifierClient, VerifierClient
from verifier.errors import VerifierHTTPError, VerifierUnavailableError
from verifier.http import create_app
from verifier.local import free_port
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PLUGIN = ROOT / "tests" / "fixtures" / "sample_plugin"


def _app() -> FastAPI:
    return create_app(
        Settings(),
        plugin_manager=create_plugin_manager(allow=["format"], plugins={"tests": plugins_for_tests}),
    )


def test_sync_client_scores_through_a_real_server(live_server: Callable[[FastAPI], str]) -> None:
    url = live_server(_app())
    with VerifierClient(url) as client:
        response = client.verify(
            [{"id": n, "completion": str(n)} for n in range(100)], rewards={"echo": 0.5}, group_size=4
        )
        names = {r.name for r in client.rewards()}
        ready = client.ready()
    assert [r.id for r in response.results] == list(range(100))
    assert [r.reward for r in response.results] == [n * 0.5 for n in range(100)]
    assert all(r.advantage is not None for r in response.results)
    assert {"echo", "format"} <= names
    assert ready.status == "ok"


@pytest.mark.anyio
async def test_async_client_scores_through_a_real_server(live_server: Callable[[FastAPI], str]) -> None:
    url = live_server(_app())
    async with AsyncVerifierClient(url) as client:
        response = await client.verify([{"completion": "<think>a</think>b"}], rewards=["format", "tag_count"])
    assert response.results[0].scores == {"format": 1.0, "tag_count": 1.0}


def test_client_raises_the_servers_error(live_server: Callable[[FastAPI], str]) -> None:
    url = live_server(_app())
    with VerifierClient(url) as client, pytest.raises(VerifierHTTPError) as info:
        client.verify([{"completion": "1"}], rewards=["missing"])
    assert info.value.status == 400 and info.value.type == "unknown_reward"
    assert "echo" in info.value.details["available"]


def test_client_retries_503_then_succeeds(live_server: Callable[[FastAPI], str]) -> None:
    attempts = []
    flaky = FastAPI()

    @flaky.post("/v1/verify")
    async def verify(request: Request) -> Response:
        attempts.append(await request.body())
        if len(attempts) < 3:
            return Response(
                '{"error": {"type": "busy", "message": "busy", "details": {}}}',
                status_code=503,
                headers={"retry-after": "0"},
            )
        return Response('{"results": [{"reward": 1.0, "scores": {"x": 1.0}}]}', media_type="application/json")

    url = live_server(flaky)
    with VerifierClient(url, backoff=0.01) as client:
        response = client.verify([{"completion": "1"}], rewards=["x"])
    assert len(attempts) == 3 and len(set(attempts)) == 1  # the same body each time
    assert response.results[0].reward == 1.0


def test_client_retries_a_proxys_plain_500_but_not_the_verifiers_own(live_server: Callable[[FastAPI], str]) -> None:
    """Ray Serve's proxy answers a plain-text 500 when the replica dies under the batch: the batch never
    finished, so it is sent again. The verifier's own 500 (its error body) is a bug and is not retried."""
    attempts = []
    behind_a_proxy = FastAPI()

    @behind_a_proxy.post("/v1/verify")
    async def verify(request: Request) -> Response:
        attempts.append(await request.body())
        if len(attempts) == 1:
            return Response("Internal Server Error", status_code=500, media_type="text/plain")
        if len(attempts) == 2:
            return Response('{"results": [{"reward": 1.0, "scores": {"x": 1.0}}]}', media_type="application/json")
        body = '{"error": {"type": "internal_error", "message": "see the log", "details": {}}}'
        return Response(body, status_code=500, media_type="application/json")

    url = live_server(behind_a_proxy)
    with VerifierClient(url, backoff=0.01) as client:
        assert client.verify([{"completion": "1"}], rewards=["x"]).results[0].reward == 1.0
        assert len(attempts) == 2 and len(set(attempts)) == 1
        with pytest.raises(VerifierHTTPError) as info:
            client.verify([{"completion": "1"}], rewards=["x"])
    assert info.value.type == "internal_error" and len(attempts) == 3


@pytest.mark.anyio
async def test_async_client_hands_httpx_at_most_max_connections_requests(
    live_server: Callable[[FastAPI], str],
) -> None:
    """Requests past the pool's size wait on the client's semaphore, not in httpx's pool queue."""
    now, peak = 0, 0
    counting = FastAPI()

    @counting.post("/v1/verify")
    async def verify() -> Response:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await asyncio.sleep(0.02)
        now -= 1
        return Response('{"results": [{"reward": 1.0, "scores": {"x": 1.0}}]}', media_type="application/json")

    url = live_server(counting)
    async with AsyncVerifierClient(url, max_connections=4) as client:
        responses = await asyncio.gather(*(client.verify([{"completion": "1"}]) for _ in range(40)))
    assert len(responses) == 40 and all(r.results[0].reward == 1.0 for r in responses)
    assert peak == 4


def test_client_gives_up_on_an_unreachable_server_with_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with (
        VerifierClient(f"http://127.0.0.1:{port}", retries=1, backoff=0.01) as client,
        pytest.raises(VerifierUnavailableError, match=str(port)),
    ):
        client.verify([{"completion": "1"}], rewards=["format"])
    with VerifierClient(f"http://127.0.0.1:{port}") as client, pytest.raises(VerifierUnavailableError):
        client.ready()


def test_client_maps_a_body_that_is_not_the_api_onto_its_own_error() -> None:
    """A proxy's page answered with 200 is the client's error, not pydantic's ``ValidationError``."""
    page = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>gateway</html>"))
    with VerifierClient("http://verifier", transport=page, retries=0) as client:
        with pytest.raises(VerifierHTTPError, match="not a VerifyResponse") as info:
            client.verify([{"completion": "1"}], rewards=["format"])
        assert info.value.type == "invalid_response"
        with pytest.raises(VerifierHTTPError, match="not a HealthResponse"):
            client.ready()


@pytest.fixture
def serve_command() -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """Start ``python -m verifier serve`` processes; all are stopped after the test."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "verifier", *args, "serve", "--port", str(port), "--log-level", "warning"],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    return process, url
            except httpx.TransportError:
                time.sleep(0.1)
        return process, url

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_serve_command_runs_the_service(
    serve_command: Callable[..., tuple[subprocess.Popen[str], str]],
) -> None:
    process, url = serve_command()
    assert process.poll() is None
    with VerifierClient(url) as client:
        response = client.verify([{"completion": "<think>x</think>y"}], rewards=["format"])
    assert response.results[0].reward == 1.0


def test_serve_command_with_two_workers(
    serve_command: Callable[..., tuple[subprocess.Popen[str], str]],
) -> None:
    process, url = serve_command(env={"VERIFIER_WORKERS": "2", "VERIFIER_MAX_BATCH_ITEMS": "1"})
    assert process.poll() is None
    with VerifierClient(url) as client, pytest.raises(VerifierHTTPError) as info:
        client.verify([{"completion": "a"}, {"completion": "b"}], rewards=["format"])
    assert info.value.status == 413  # the workers got the settings the parent resolved


def test_serve_fails_at_startup_naming_a_missing_plugin() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "verifier",
            "--allow",
            "format,nosuchplugin",
            "serve",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "nosuchplugin" in result.stderr and "not installed" in result.stderr


@pytest.fixture(scope="module")
def sample_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample plugin distribution, installed by pip into its own directory (not into the test venv)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--target",
            str(target),
            str(SAMPLE_PLUGIN),
        ],
        check=True,
        timeout=300,
        cwd=build,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    assert (target / "verifier_sample").is_dir()
    return target


@pytest.mark.slow
def test_third_party_plugin_is_discovered_through_its_entry_point(
    sample_plugin_site: Path, serve_command: Callable[..., tuple[subprocess.Popen[str], str]]
) -> None:
    env = {
        "PYTHONPATH": os.pathsep.join([str(sample_plugin_site), os.environ.get("PYTHONPATH", "")]),
        "VERIFIER_PLUGIN_OPTIONS": '{"sample": {"bonus": 0.25}}',
    }
    process, url = serve_command(env=env)
    assert process.poll() is None
    with VerifierClient(url) as client:
        listed = {r.name: r for r in client.rewards()}
        response = client.verify(
            [
                {"completion": "The answer is Paris.", "reference": "paris"},
                {"completion": "London", "reference": "paris"},
                {
                    "completion": "Paris",
                    "reference": "paris",
                    "params": {"keyword": {"case_sensitive": True}},
                },
                {"completion": "Paris", "reference": 42},
            ],
            rewards=["keyword"],
        )
    assert listed["keyword"].plugin == "sample"
    assert listed["keyword"].version == "1.2.3"
    assert "case_sensitive" in listed["keyword"].params_schema["properties"]
    assert [r.scores["keyword"] for r in response.results] == [1.25, 0.25, 0.25, None]
    assert "reference must be the keyword" in response.results[3].errors["keyword"]


def test_sample_plugin_is_absent_unless_installed(
    serve_command: Callable[..., tuple[subprocess.Popen[str], str]],
) -> None:
    _, url = serve_command()
    with VerifierClient(url) as client:
        assert "keyword" not in {r.name for r in client.rewards()}
