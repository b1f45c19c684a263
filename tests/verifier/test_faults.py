"""Faults on a real ``verifier serve`` on 127.0.0.1: each costs only the affected items, and the service recovers.

The servers run as their own processes (as an operator runs them), so the tests can kill what a crash
would kill: a math worker process, the sandbox service. Every batch is checked for exactly one result per
item, ids echoed in request order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from sandbox.docker_pool import owner_identity, process_identity
from tests.processes import descendants, process_tree
from tests.sandbox.docker_support import containers_of
from tests.system import require_docker
from tests.verifier import plugins_for_tests
from verifier.client import AsyncVerifierClient
from verifier.http import create_app
from verifier.local import free_port
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 120.0


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _answers(url: str, path: str) -> bool:
    try:
        httpx.get(url + path, timeout=2)
    except httpx.TransportError:
        return False
    return True


@contextmanager
def _process(argv: list[str], env: dict[str, str], url: str, probe: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until ``probe`` answers; on exit, kill it and everything it started."""
    process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env})

    def started() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{argv[2:4]} exited with {process.returncode} (its stderr is above)")
        return _answers(url, probe)

    try:
        _wait_until(started, f"{argv[2:4]} to start", STARTUP_S)
        yield process
    finally:
        if process.poll() is None:  # a reaped pid may already belong to someone else
            _kill_tree(process.pid)
        process.wait(timeout=30)


def _verifier(env: dict[str, str]) -> tuple[str, Callable[[], Any]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "verifier", "serve", "--port", str(port), "--log-level", "warning"]
    return url, lambda: _process(argv, env, url, "/healthz")


def _sandbox(port: int) -> Any:
    argv = [sys.executable, "-m", "sandbox.cli", "serve", "--port", str(port)]
    return _process(argv, {}, f"http://127.0.0.1:{port}", "/v1/health")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant at once (as a crash or an OOM kill of the whole container
    would). Frozen first: killed one by one, a run could die before its server and the server, still
    scheduled for a moment, answer for it (a 0.0 for a run that "was killed by signal 9")."""
    victims = [pid, *descendants(pid)]
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGSTOP)
    _wait_until(lambda: _state(pid) in ("T", "Z", ""), "the server to stop", 10)  # signals are delivered late
    for how in (signal.SIGSTOP, signal.SIGKILL):
        for victim in victims:
            with suppress(ProcessLookupError):
                os.kill(victim, how)


def _state(pid: int) -> str:
    """The process's state letter (R, S, T, Z...), empty when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _math_workers(server_pid: int) -> list[int]:
    """The pool's grading processes: children of the plugin's multiprocessing forkserver."""
    servers = [p for p in descendants(server_pid) if "multiprocessing.forkserver" in _cmdline(p)]
    tree = process_tree()
    return [child for fs in servers for child in tree.get(fs, [])]


def _ready(url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{url}/readyz", timeout=10)
    return response.status_code, response.json()


def _check_one_result_per_item(body: dict[str, Any], ids: list[Any]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = body["results"]
    assert [r["id"] for r in results] == ids
    return results


@pytest.mark.slow
def test_killing_a_math_worker_mid_batch_costs_no_item_and_the_pool_recovers() -> None:
    url, server = _verifier(
        {"VERIFIER_PLUGINS_ALLOW": '["math"]', "VERIFIER_PLUGIN_OPTIONS": '{"math": {"workers": 2}}'}
    )
    with server() as process:
        _wait_until(lambda: len(_math_workers(process.pid)) == 2, "two math workers")
        before = set(_math_workers(process.pid))
        # Distinct gold answers (no gold-cache hits) keep both workers busy for a while.
        items = [
            {
                "id": f"q{i}",
                "completion": f"so the answer is \\boxed{{\\frac{{{i}}}{{{i + 1 if i % 3 else i + 2}}}}}",
                "reference": f"\\frac{{{i}}}{{{i + 1}}}",
            }
            for i in range(1, 1201)
        ]
        expected = [0.0 if i % 3 == 0 else 1.0 for i in range(1, 1201)]
        outcome: dict[str, httpx.Response] = {}

        def batch() -> None:
            body = {"rewards": ["math"], "items": items}
            outcome["batch"] = httpx.post(f"{url}/v1/verify", json=body, timeout=300)

        thread = threading.Thread(target=batch)
        thread.start()
        try:
            _wait_until(lambda: "2 busy" in _ready(url)[1]["rewards"]["math"]["message"], "both workers busy")
            victim = min(before)
            os.kill(victim, signal.SIGKILL)
            killed_mid_batch = thread.is_alive()
        finally:
            thread.join(timeout=300)
        assert killed_mid_batch
        response = outcome["batch"]
        assert response.status_code == 200
        results = _check_one_result_per_item(response.json(), [item["id"] for item in items])
        # The item on the killed worker is retried on another one: every verdict is still the right one.
        assert [r["scores"]["math"] for r in results] == expected
        assert all(r["errors"] == {} for r in results)

        _wait_until(lambda: len(_math_workers(process.pid)) == 2, "a replacement worker")
        after = set(_math_workers(process.pid))
        assert victim not in after and len(after - before) >= 1
        status, report = _ready(url)
        assert status == 200 and report["rewards"]["math"]["status"] == "ok"
        message = report["rewards"]["math"]["message"]
        assert message.startswith("2/2 workers") and "0 replaced" not in message
        again = httpx.post(f"{url}/v1/verify", json={"rewards": ["math"], "items": items[:6]}, timeout=60)
        assert [r["scores"]["math"] for r in again.json()["results"]] == expected[:6]


SLEEPER = "import time\nprint(input())\ntime.sleep(30)\n"


@pytest.mark.slow
def test_stopping_the_remote_sandbox_mid_run_costs_only_code_items_and_recovers_after_restart() -> None:
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    options = {"code": {"backend": "remote", "urls": [sandbox_url], "request_timeout_s": 120}}
    url, server = _verifier(
        {"VERIFIER_PLUGINS_ALLOW": '["code", "format"]', "VERIFIER_PLUGIN_OPTIONS": json.dumps(options)}
    )
    echo_program = "print(int(input()) * 2)"
    good = {"tests": [{"input": "21\n", "output": "42\n"}]}

    def mixed_batch(program: str, time_limit: float = 5.0) -> dict[str, Any]:
        items = []
        for i in range(6):
            items.append({"id": i, "completion": program, "reference": good, "rewards": ["code"]})
            items.append({"id": f"f{i}", "completion": "<think>a</think>b", "rewards": ["format"]})
        body = {"items": items, "params": {"code": {"time_limit_s": time_limit}}}
        response = httpx.post(f"{url}/v1/verify", json=body, timeout=120)
        assert response.status_code == 200
        results = _check_one_result_per_item(response.json(), [item["id"] for item in items])
        assert all(r["scores"] == {"format": 1.0} for r in results[1::2])  # the other reward is untouched
        return {"code": results[0::2]}

    with _sandbox(sandbox_port) as sandbox, server():
        assert _ready(url)[0] == 200
        assert [r["scores"]["code"] for r in mixed_batch(echo_program)["code"]] == [1.0] * 6

        outcome: dict[str, dict[str, Any]] = {}
        idle = len(descendants(sandbox.pid))  # bubblewrap and the zygote
        thread = threading.Thread(target=lambda: outcome.update(mixed_batch(SLEEPER, time_limit=60)))
        thread.start()
        try:
            # The programs are running once the zygote has forked them.
            _wait_until(lambda: len(descendants(sandbox.pid)) > idle, "the sandbox to start the programs")
            _kill_tree(sandbox.pid)
            killed_mid_run = thread.is_alive()
        finally:
            thread.join(timeout=120)
        assert killed_mid_run
        for result in outcome["code"]:
            assert result["scores"]["code"] is None and result["reward"] is None
            assert "sandbox" in result["errors"]["code"]

        status, report = _ready(url)
        assert status == 503 and report["rewards"]["code"]["status"] == "down"
        assert 'verifier_reward_health{reward="code",state="down"} 1.0' in httpx.get(f"{url}/metrics").text
        while_down = mixed_batch(echo_program)["code"]
        assert all(r["scores"]["code"] is None and "sandbox" in r["errors"]["code"] for r in while_down)

        with _sandbox(sandbox_port):
            # The code reward re-checks its sandbox in the background; readiness comes back by itself.
            _wait_until(lambda: _ready(url)[0] == 200, "/readyz to recover", timeout=90)
            assert _ready(url)[1]["rewards"]["code"]["status"] == "ok"
            assert 'verifier_reward_health{reward="code",state="ok"} 1.0' in httpx.get(f"{url}/metrics").text
            assert [r["scores"]["code"] for r in mixed_batch(echo_program)["code"]] == [1.0] * 6


def _bounded_app() -> FastAPI:
    pm = create_plugin_manager(allow=["format"], plugins={"tests": plugins_for_tests})
    return create_app(Settings(max_items_in_flight=10), plugin_manager=pm)


@pytest.mark.slow
@pytest.mark.anyio
async def test_past_the_in_flight_bound_429_and_retrying_clients_lose_and_duplicate_nothing(
    live_server: Callable[[FastAPI], str],
) -> None:
    url = live_server(_bounded_app())
    batches = [[{"id": f"b{b}-{i}", "completion": "x"} for i in range(5)] for b in range(6)]

    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as raw:

        async def once(items: list[dict[str, Any]]) -> None:
            response = await raw.post("/v1/verify", json={"rewards": ["slow"], "items": items})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) >= 1
                assert response.json()["error"]["details"]["limit"] == "items in flight"
            else:
                _check_one_result_per_item(response.json(), [item["id"] for item in items])

        async with anyio.create_task_group() as tg:
            for items in batches:
                tg.start_soon(once, items)
    # At most two batches' items fit in flight (a request also holds one item while its body is read, so a
    # second batch may find the bound taken by the others' bodies): the rest are refused, none is lost.
    assert 1 <= statuses.count(200) <= 2 and statuses.count(200) + statuses.count(429) == len(batches)

    # The client honours Retry-After and retries; every batch gets through, each item exactly once.
    seen: dict[str, list[Any]] = {}
    async with AsyncVerifierClient(url, retries=20, backoff=0.2) as client:

        async def retried(items: list[dict[str, Any]]) -> None:
            response = await client.verify(items, rewards=["slow"])
            seen[items[0]["id"]] = [(r.id, r.scores["slow"]) for r in response.results]

        async with anyio.create_task_group() as tg:
            for items in batches:
                tg.start_soon(retried, items)
    assert len(seen) == len(batches)
    for items in batches:
        assert seen[items[0]["id"]] == [(item["id"], 1.0) for item in items]
    async with httpx.AsyncClient(base_url=url) as raw:
        metrics = (await raw.get("/metrics")).text
    assert 'verifier_http_requests_total{method="POST",route="/v1/verify",status="429"}' in metrics
    assert "verifier_batches_active 0.0" in metrics and "verifier_batches_waiting 0.0" in metrics


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigterm_closes_the_math_pool_and_the_sandbox_with_the_server() -> None:
    url, server = _verifier(
        {"VERIFIER_PLUGINS_ALLOW": '["math", "code"]', "VERIFIER_PLUGIN_OPTIONS": '{"math": {"workers": 2}}'}
    )
    with server() as process:
        _wait_until(lambda: len(_math_workers(process.pid)) == 2, "two math workers")
        items = [
            {"completion": "\\boxed{2}", "reference": "2", "rewards": ["math"]},
            {"completion": "print(input())", "reference": {"tests": [{"input": "7\n", "output": "7\n"}]},
             "rewards": ["code"]},
        ]  # fmt: skip
        response = httpx.post(f"{url}/v1/verify", json={"items": items}, timeout=60)
        assert [r["reward"] for r in response.json()["results"]] == [1.0, 1.0]
        workers = _math_workers(process.pid)
        sandbox = [pid for pid in descendants(process.pid) if "zygote" in _cmdline(pid) or "bwrap" in _cmdline(pid)]
        assert len(workers) == 2 and sandbox
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
        # Closed by the lifespan before the server exits, not left to notice their parent's death later.
        assert [pid for pid in workers + sandbox if _alive(pid)] == []


def _judge_stub(port: int, *flags: str) -> Any:
    argv = [sys.executable, "-m", "tests.verifier.judge_stub_process", str(port), *flags]
    return _process(argv, {}, f"http://127.0.0.1:{port}", "/v1/models")


def _stub_state(stub_url: str) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{stub_url}/stub/state", timeout=10).json()
    return state


@pytest.mark.slow
def test_stopping_the_judge_endpoint_mid_batch_costs_only_judge_items_and_recovers_after_restart() -> None:
    stub_port = free_port()
    stub_url = f"http://127.0.0.1:{stub_port}"
    judge = {
        "endpoints": [{"url": stub_url}],
        "model": "judge-model",
        "retries": 1,
        "backoff_s": 0.2,
        "health_interval_s": 0.5,
    }
    url, server = _verifier(
        {"VERIFIER_PLUGINS_ALLOW": '["judge", "format"]', "VERIFIER_PLUGIN_OPTIONS": json.dumps({"judge": judge})}
    )
    answers = [f"the answer is {n}" for n in range(4)]

    def mixed_batch() -> list[dict[str, Any]]:
        items = []
        for i, answer in enumerate(answers):
            items.append({"id": i, "prompt": "What is it?", "completion": answer, "rewards": ["judge"]})
            items.append({"id": f"f{i}", "completion": "<think>a</think>b", "rewards": ["format"]})
        response = httpx.post(f"{url}/v1/verify", json={"items": items}, timeout=120)
        assert response.status_code == 200
        results = _check_one_result_per_item(response.json(), [item["id"] for item in items])
        assert all(r["scores"] == {"format": 1.0} for r in results[1::2])  # the other reward is untouched
        return results[0::2]

    def judge_down(results: list[dict[str, Any]]) -> bool:
        return all(r["scores"]["judge"] is None and "no endpoint answered" in r["errors"]["judge"] for r in results)

    with _judge_stub(stub_port, "hang") as stub, server():
        assert _ready(url)[0] == 200
        outcome: dict[str, list[dict[str, Any]]] = {}
        thread = threading.Thread(target=lambda: outcome.update(judge=mixed_batch()))
        thread.start()
        try:
            _wait_until(lambda: _stub_state(stub_url)["in_flight"] == len(answers), "every judge call in flight")
            _kill_tree(stub.pid)
            killed_mid_batch = thread.is_alive()
        finally:
            thread.join(timeout=120)
        assert killed_mid_batch
        assert judge_down(outcome["judge"])

        _wait_until(lambda: _ready(url)[0] == 503, "/readyz to report the judge down", timeout=30)
        assert _ready(url)[1]["rewards"]["judge"]["status"] == "down"
        metrics = httpx.get(f"{url}/metrics").text
        assert 'verifier_reward_health{reward="judge",state="down"} 1.0' in metrics
        assert f'verifier_judge_calls_total{{endpoint="{stub_url}",outcome="error",reward="judge"}}' in metrics
        assert judge_down(mixed_batch())  # while it is down: null + error, nothing waits for it

        with _judge_stub(stub_port):
            # The judge re-probes its endpoints in the background; readiness comes back by itself.
            _wait_until(lambda: _ready(url)[0] == 200, "/readyz to recover", timeout=30)
            assert _ready(url)[1]["rewards"]["judge"]["status"] == "ok"
            results = mixed_batch()
            assert [r["scores"]["judge"] for r in results] == [7 / 9] * len(answers)  # the stub grades 8 of 10
            assert not any(r["details"]["judge"]["cached"] for r in results)  # failures were never cached
            asked = _stub_state(stub_url)["asked"]
            # The restarted endpoint was asked once per item: nothing lost, nothing asked twice.
            assert sorted(next(a for a in answers if a in text) for text in asked) == answers


VICTIM = 'import os\nos.execvp("sleep", ["sleep", "3071"])\n'  # a marker the host can see in the container
NAPPER = "import time\ntime.sleep(2)\nprint(int(input()) * 2)\n"


@pytest.mark.slow
@pytest.mark.docker
def test_killing_a_docker_sandbox_container_mid_run_costs_only_its_item_and_the_pool_recovers() -> None:
    require_docker()
    options = {"code": {"backend": "docker", "docker": {"warm_containers": 2, "max_containers": 4}}}
    url, server = _verifier(
        {"VERIFIER_PLUGINS_ALLOW": '["code", "format"]', "VERIFIER_PLUGIN_OPTIONS": json.dumps(options)}
    )
    good = {"tests": [{"input": "21\n", "output": "42\n"}]}

    def mixed_batch(programs: list[str]) -> list[dict[str, Any]]:
        items = []
        for i, program in enumerate(programs):
            items.append({"id": i, "completion": program, "reference": good, "rewards": ["code"]})
            items.append({"id": f"f{i}", "completion": "<think>a</think>b", "rewards": ["format"]})
        body = {"items": items, "params": {"code": {"time_limit_s": 120}}}
        response = httpx.post(f"{url}/v1/verify", json=body, timeout=300)
        assert response.status_code == 200
        results = _check_one_result_per_item(response.json(), [item["id"] for item in items])
        assert all(r["scores"] == {"format": 1.0} for r in results[1::2])
        return results[0::2]

    def running_victim(owner: str) -> Any:
        for container in containers_of(owner=owner):
            with suppress(Exception):  # a container being recycled right now
                if any("sleep 3071" in " ".join(p) for p in container.top()["Processes"] or []):
                    return container
        return None

    with server() as process:
        identity = process_identity(process.pid)
        assert identity is not None
        owner = owner_identity().partition("/")[0] + "/" + identity
        _wait_until(lambda: _ready(url)[0] == 200, "the docker pool to be ready")
        assert [r["scores"]["code"] for r in mixed_batch([NAPPER] * 3)] == [1.0] * 3

        outcome: dict[str, list[dict[str, Any]]] = {}
        thread = threading.Thread(target=lambda: outcome.update(code=mixed_batch([NAPPER, VICTIM, NAPPER])))
        thread.start()
        try:
            _wait_until(lambda: running_victim(owner) is not None, "the victim program to run", timeout=120)
            victim = running_victim(owner)
            victim.kill()  # docker kill: the container and the runner in it die mid-run
            killed_mid_run = thread.is_alive()
        finally:
            thread.join(timeout=300)
        assert killed_mid_run
        first, lost, third = outcome["code"]
        # The docker backend does not retry a run whose container died under it: that item alone is null +
        # error (a retry would run an untrusted program twice); the programs beside it are scored.
        assert first["scores"]["code"] == 1.0 and third["scores"]["code"] == 1.0
        assert lost["scores"]["code"] is None and lost["errors"]["code"].startswith("sandbox error")
        metrics = httpx.get(f"{url}/metrics").text
        assert 'verifier_code_sandbox_runs_total{language="python",status="sandbox_error"}' in metrics

        # The broken container is destroyed, not reused; the pool replaces it and scores on.
        _wait_until(lambda: victim.id not in {c.id for c in containers_of(owner=owner)}, "the dead container gone")
        assert _ready(url)[1]["rewards"]["code"]["status"] == "ok"
        assert [r["scores"]["code"] for r in mixed_batch([NAPPER] * 4)] == [1.0] * 4

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert containers_of(owner=owner) == [], "the stopped verifier left sandbox containers"
