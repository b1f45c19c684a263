"""`docker compose up` brings up a working stack: the images build from the local base image, the services
become healthy, a real batch with math, format, language and code items is scored through the verifier (code
runs in the sandbox service), and `down` leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.system import missing
from verifier.client import VerifierClient
from verifier.local import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "r1verifiertest"
BASE_IMAGE = os.environ.get("SANDBOX_BASE_IMAGE", "r1-verifier/debian:bookworm")


def _compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    missing("needs docker compose (scripts/docker-setup.sh installs Debian's docker-compose)")


def _compose(*args: str, timeout: float = 600, port: int | None = None) -> subprocess.CompletedProcess[str]:
    """``port``: where ``up`` publishes the verifier on the host (compose.yaml's ``${VERIFIER_PORT:-8000}``)."""
    env = {**os.environ, "BASE_IMAGE": BASE_IMAGE, "MATH_WORKERS": "1"}
    if port is not None:
        env["VERIFIER_PORT"] = str(port)
    return subprocess.run(
        [*_compose_command(), "-p", PROJECT, "-f", str(ROOT / "compose.yaml"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _leftovers() -> str:
    listed = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.strip()


@pytest.fixture(scope="module")
def stack() -> Iterator[str]:
    built = _compose("build", "verifier", timeout=1200)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    port = free_port()  # chosen after the build, just before it is published: nothing else took it meanwhile
    up = _compose("up", "-d", "verifier", "sandbox", port=port)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                logs = _compose("logs", "--tail", "50").stdout
                pytest.fail(f"the stack did not become ready in 180 s:\n{logs[-4000:]}")
            time.sleep(1)
        yield url
    finally:
        down = _compose("down", "-v", "--remove-orphans")
        assert down.returncode == 0, down.stderr[-2000:]


def test_compose_stack_scores_math_format_language_and_code(stack: str) -> None:
    think = "<think>We need twice six. Twice six is twelve, so the answer is twelve.</think>"
    items = [
        {
            "id": "math-right",
            "completion": f"{think} The answer is \\boxed{{12}}.",
            "reference": "12",
            "rewards": ["math", "format"],
        },
        {
            "id": "math-wrong",
            "completion": f"{think} The answer is \\boxed{{13}}.",
            "reference": "12",
            "rewards": ["math"],
        },
        {
            "id": "language",
            "completion": think + " Twelve.",
            "rewards": ["language"],
            "params": {"language": {"target": "en"}},
        },
        {
            "id": "code-right",
            "completion": "```python\nprint(int(input()) * 2)\n```",
            "rewards": ["code"],
            "reference": {"tests": [{"input": "3", "output": "6"}, {"input": "10", "output": "20"}]},
        },
        {
            # Programs run with no network, even inside the stack's own network.
            "id": "code-no-network",
            "rewards": ["code"],
            "completion": "```python\nimport socket\ntry:\n    socket.create_connection(('verifier', 8000), 2)\n"
            "    print('reached')\nexcept OSError:\n    print('blocked')\n```",
            "reference": {"tests": [{"input": "", "output": "blocked"}]},
        },
    ]
    with VerifierClient(stack, timeout=120) as client:
        results = {r.id: r for r in client.verify(items).results}
    assert list(results) == [item["id"] for item in items]
    assert results["math-right"].scores == {"math": 1.0, "format": 1.0}
    assert results["math-wrong"].scores == {"math": 0.0}
    assert results["language"].scores["language"] == 1.0
    assert results["code-right"].scores == {"code": 1.0}, results["code-right"].details
    assert results["code-no-network"].scores == {"code": 1.0}, results["code-no-network"].details
    assert all(not r.errors for r in results.values()), {k: r.errors for k, r in results.items()}


def test_every_profile_of_the_compose_file_is_valid() -> None:
    # The gpu (vLLM judge) and train services are not started here (no GPU; torch downloads): checked as config.
    checked = _compose("--profile", "gpu", "--profile", "train", "config", "--services", timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert set(checked.stdout.split()) == {"verifier", "sandbox", "judge", "trainer"}


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_after_the_module() -> Iterator[None]:
    yield
    assert _leftovers() == "", "docker compose down left containers behind"
