"""``sandbox serve --backend docker``: the real command in its own process, and the app on a live server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from sandbox.docker_backend import DockerBackend
from sandbox.docker_pool import DockerOptions, process_identity
from sandbox.service import create_app
from sandbox.types import ExecRequest, ExecResponse, ExecStatus, Program, RunSpec
from tests.sandbox.docker_support import containers_of
from tests.system import require_docker
from verifier.local import free_port

pytestmark = pytest.mark.docker


def test_execute_and_run_code_through_the_docker_backend(live_server: Callable[[FastAPI], str]) -> None:
    require_docker()
    url = live_server(create_app(lambda: DockerBackend(DockerOptions(warm_containers=1, max_containers=2))))
    source = "#include <iostream>\nint main(){ long a; std::cin >> a; std::cout << a * a << std::endl; }"
    request = ExecRequest(
        program=Program(language="cpp", source=source), runs=[RunSpec(stdin="3"), RunSpec(stdin="-4")]
    )
    response = httpx.post(f"{url}/v1/execute", json=request.model_dump(mode="json"), timeout=60)
    body = ExecResponse.model_validate_json(response.content)
    assert body.compile is not None and body.compile.status is ExecStatus.OK
    assert [r.stdout for r in body.runs] == ["9\n", "16\n"]
    fusion = httpx.post(
        f"{url}/run_code", json={"code": "while True: pass", "language": "python", "run_timeout": 0.5}, timeout=60
    ).json()
    assert (fusion["status"], fusion["run_result"]["status"]) == ("Failed", "TimeLimitExceeded")
    health = httpx.get(f"{url}/v1/health").json()
    assert (health["status"], health["backend"], health["isolated"]) == ("ok", "docker", True)


def test_sandbox_serve_backend_docker_command_serves_and_cleans_up() -> None:
    require_docker()
    port = free_port()
    command = [sys.executable, "-m", "sandbox.cli", "serve", "--backend", "docker", "--port", str(port)]
    command += ["--warm-containers", "1", "--max-concurrency", "2"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    owner = f"{socket.gethostname()}/{process_identity(server.pid)}"
    try:
        deadline = time.monotonic() + 120
        health: dict[str, object] = {}
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health.get("backend") == "docker" and health.get("status") == "ok", health
        body = httpx.post(
            f"http://127.0.0.1:{port}/run_code", json={"code": "print(6 * 7)", "language": "python"}, timeout=60
        ).json()
        assert (body["status"], body["run_result"]["stdout"]) == ("Success", "42\n")
        assert containers_of(owner), "the service's containers carry its owner label"
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal: -SIGTERM is a clean stop.
    assert server.returncode in (0, -signal.SIGTERM), stderr.decode(errors="replace")[-2000:]
    assert b"Traceback" not in stderr, stderr.decode(errors="replace")[-2000:]
    assert containers_of(owner) == [], "containers outlived the service"
