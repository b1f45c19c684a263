"""The verifier on a real multi-node Ray cluster on this machine: a head and two worker nodes, each its own
``ray start`` with one CPU, the verifier deployed on Serve with one replica per node.

Checked: mixed batches (format, math, language, code on the process backend) score exactly as the
single-process service scores them, over Serve's HTTP ingress and through a deployment handle; every node's
replica scores some; the sandbox as its own deployment gives the same code results; killing a replica's
process, then a whole worker node, under a load of batches loses and duplicates no item; the cluster stops
with none of its processes left.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ray import serve

from verifier.client import AsyncVerifierClient
from verifier.local import free_port
from verifier.rayserve import REPLICA_HEADER, VerifierHandle, deploy
from verifier.rayserve.local_cluster import LocalRayCluster
from verifier.runtime import running
from verifier.schemas import VerifyRequest
from verifier.settings import Settings
from verifier.wire import score_request, verify_response

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ["format", "math", "language", "code"]
# Lean: one math worker and two programs at a time per replica (the machine has 2 cores for 3 nodes).
PLUGIN_OPTIONS: dict[str, dict[str, Any]] = {"math": {"workers": 1}, "code": {"max_concurrency": 2}}
ADD = "a, b = map(int, input().split())\nprint(a + b)\n"
SUB = "a, b = map(int, input().split())\nprint(a - b)\n"
SLOW_ADD = "import time\ntime.sleep(1.0)\n" + ADD


def _item(rng: random.Random, key: str, slow: bool = False) -> dict[str, Any]:
    a, b = rng.randint(1, 999), rng.randint(1, 999)
    family = "code" if slow else rng.choice(("format", "math", "language", "code"))
    right = rng.random() < 0.7
    if family == "format":
        completion = f"<think>{a} + {b}</think>\n{a + b}" if right else f"{a + b}"
        return {"id": key, "completion": completion, "rewards": {"format": 1.0, "tag_count": 0.5}}
    if family == "math":
        answer = f"\\frac{{{a}}}{{{b}}}" if right else f"\\frac{{{a + 1}}}{{{b}}}"
        completion = f"<think>divide</think>So the answer is $\\boxed{{{answer}}}$."
        return {"id": key, "completion": completion, "reference": f"{a}/{b}", "rewards": ["math"]}
    if family == "language":
        mixed = "" if right else "然后我再检查一遍结果是否正确。"
        completion = f"<think>First I add the two numbers, then I check the sum. {mixed}</think>It is {a + b}."
        return {"id": key, "prompt": "What is the sum?", "completion": completion, "rewards": ["language"]}
    program = SLOW_ADD if slow else (ADD if right else SUB)
    tests = [{"input": f"{x} {y}\n", "output": f"{x + y}\n"} for x, y in ((a, b), (b, a))]
    return {"id": key, "completion": f"```python\n{program}```", "reference": {"tests": tests}, "rewards": ["code"]}


def _batches(seed: int, count: int, size: int, slow: bool = False) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {"items": [_item(rng, f"s{seed}-b{b}-i{i}", slow=slow and i == 0) for i in range(size)]}
        for b in range(count)
    ]


def _verdict(result: dict[str, Any]) -> tuple[Any, ...]:
    """What must not change between the cluster and one process (details hold timings)."""
    return result["id"], result["reward"], result["scores"], result["errors"]


def _settings(**overrides: Any) -> Settings:
    return Settings(plugins_allow=PLUGINS, plugin_options=PLUGIN_OPTIONS, log_level="warning", **overrides)


def _single_process(batches: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """The same batches scored in this process by ``verifier.runtime.running``: the reference."""

    async def score() -> dict[str, tuple[Any, ...]]:
        async with running(_settings()) as runtime:
            verdicts = {}
            for batch in batches:
                request = score_request(VerifyRequest.model_validate(batch))
                response = verify_response(await runtime.scorer.score(request))
                for result in response.results:
                    verdicts[str(result.id)] = _verdict(result.model_dump())
            return verdicts

    return asyncio.run(score())


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    # Replicas import this tree (and its plugins) exactly as this test process does.
    pythonpath = os.pathsep.join([str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])
    local = LocalRayCluster(workers=2, cpus_per_node=1, env={"PYTHONPATH": pythonpath}).start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def url(cluster: LocalRayCluster) -> str:
    """Deployed by the one command a user runs: three replicas of 1 CPU on 1-CPU nodes, so one per node."""
    port = free_port()
    env = {
        **os.environ,
        **cluster.env,
        "VERIFIER_PLUGINS_ALLOW": json.dumps(PLUGINS),
        "VERIFIER_PLUGIN_OPTIONS": json.dumps(PLUGIN_OPTIONS),
    }
    command = [sys.executable, "-m", "verifier", "serve", "--ray", cluster.address, "--port", str(port)]
    done = subprocess.run([*command, "--replicas", "3"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"http://127.0.0.1:{port}" in done.stdout
    return f"http://127.0.0.1:{port}"


class _Counting(httpx.AsyncBaseTransport):
    """The client's transport, counting each attempt's status (or transport error) and answering replica."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.statuses: Counter[str] = Counter()
        self.replicas: Counter[str] = Counter()
        self.answered = asyncio.Event()  # set at the first 200

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError as exc:
            self.statuses[type(exc).__name__] += 1
            raise
        self.statuses[str(response.status_code)] += 1
        if response.status_code == 200:
            self.answered.set()
        if REPLICA_HEADER in response.headers:
            self.replicas[response.headers[REPLICA_HEADER]] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _score_all(url: str, batches: list[dict[str, Any]], transport: _Counting) -> list[dict[str, Any]]:
    """Every batch at once through the project's client (retries on); the results in batch order."""
    async with AsyncVerifierClient(url, transport=transport, retries=5, backoff=0.5, timeout=120) as client:
        responses = await asyncio.gather(*(client.verify(batch["items"]) for batch in batches))
    return [r.model_dump() for response in responses for r in response.results]


def _exactly_once(batches: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    sent = [item["id"] for batch in batches for item in batch["items"]]
    assert [r["id"] for r in results] == sent  # one result per item, in order: none dropped, none duplicated


def test_results_equal_the_single_process_service_and_every_node_scores(
    cluster: LocalRayCluster, url: str
) -> None:
    batches = _batches(seed=1, count=12, size=8)
    transport = _Counting()
    results = asyncio.run(_score_all(url, batches, transport))
    _exactly_once(batches, results)
    assert {str(r["id"]): _verdict(r) for r in results} == _single_process(batches)
    assert all(not r["errors"] for r in results), [r["errors"] for r in results if r["errors"]]
    nodes = {identity.split("/")[0] for identity in transport.replicas}
    assert nodes == set(cluster.node_ids()), transport.replicas  # each node's replica answered batches


def test_a_ray_native_caller_gets_the_same_results_through_a_handle(url: str) -> None:
    batches = _batches(seed=2, count=3, size=8)
    verifier = VerifierHandle()
    results = [r.model_dump() for batch in batches for r in verifier.verify(batch["items"]).results]
    _exactly_once(batches, results)
    assert {str(r["id"]): _verdict(r) for r in results} == _single_process(batches)
    assert verifier.last_replica.count("/") == 1


def test_code_sent_to_the_sandbox_deployment_scores_the_same(cluster: LocalRayCluster, url: str) -> None:
    """A second application whose code reward reaches a sandbox deployment by handle (no HTTP route)."""
    free = {"ray_actor_options": {"num_cpus": 0}}  # the nodes' CPUs are the first application's
    port = int(url.rsplit(":", 1)[1])
    sandboxed = deploy(
        cluster.address, _settings(port=port), replicas=1, sandbox_replicas=1,
        replica_overrides=free, sandbox_overrides=free, app_name="sandboxed", route_prefix="/sandboxed",
    )  # fmt: skip
    try:
        tests = [{"input": "2 3\n", "output": "5\n"}, {"input": "7 7\n", "output": "14\n"}]
        batches = [
            {"items": [
                {"id": f"code-{b}-{i}", "completion": f"```python\n{ADD if (b + i) % 3 else SUB}```",
                 "reference": {"tests": tests}, "rewards": ["code"]}
                for i in range(6)
            ]}
            for b in range(3)
        ]  # fmt: skip
        transport = _Counting()
        results = asyncio.run(_score_all(sandboxed, batches, transport))
        _exactly_once(batches, results)
        assert {str(r["id"]): _verdict(r) for r in results} == _single_process(batches)
        assert all(not r["errors"] for r in results), [r["errors"] for r in results if r["errors"]]
        assert "sandbox" in serve.status().applications
        routes = httpx.get(f"{url}/-/routes").json()  # the sandbox has no HTTP route on the proxy
        assert "/sandboxed" in routes and not any(name == "sandbox" for name in routes.values())
    finally:
        serve.delete("sandboxed")
        serve.delete("sandbox")


def _replica_pids() -> list[int]:
    """Live processes of the verifier's Serve replicas (Ray names them after the deployment)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if entry.isdigit() and cmdline.startswith(b"ray::ServeReplica:verifier:VerifierReplica"):
            pids.append(int(entry))
    return pids


async def _score_while(url: str, batches: list[dict[str, Any]], transport: _Counting, fault: Any) -> list[Any]:
    """Score the batches; once the first is answered, run ``fault()`` (a kill). Every batch holds a program
    that sleeps 1 s per test and each replica runs two programs at a time, so the others are mid-batch then."""
    scoring = asyncio.create_task(_score_all(url, batches, transport))
    answered = asyncio.create_task(transport.answered.wait())
    await asyncio.wait({answered, scoring}, return_when=asyncio.FIRST_COMPLETED)
    answered.cancel()
    fault()
    return await scoring


def _wait_for_replicas(count: int, timeout_s: float = 180.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = serve.status().applications["verifier"].deployments["VerifierReplica"]
        if status.replica_states.get("RUNNING", 0) >= count:
            return
        time.sleep(1)
    raise TimeoutError(f"the verifier did not get back to {count} running replicas")


def _check_fault_run(batches: list[dict[str, Any]], results: list[dict[str, Any]], transport: _Counting) -> None:
    _exactly_once(batches, results)
    expected = _single_process(batches)
    # Each item: its verdict as one process gives it (the batch was retried on a live replica), or null plus
    # an error saying why (a program cut off with its replica); never a silent 0.0.
    for result in results:
        if result["errors"]:
            assert result["reward"] is None or all(result["scores"][k] is None for k in result["errors"])
        else:
            assert _verdict(result) == expected[str(result["id"])]
    assert set(transport.statuses) - {"200"}, transport.statuses  # some attempt did fail: the kill was mid-batch


def test_killing_a_replica_process_mid_batch_loses_no_item(url: str) -> None:
    _wait_for_replicas(3)
    batches = _batches(seed=3, count=24, size=6, slow=True)
    transport = _Counting()
    victim = _replica_pids()[0]
    results = asyncio.run(_score_while(url, batches, transport, lambda: os.kill(victim, signal.SIGKILL)))
    _check_fault_run(batches, results, transport)
    assert victim not in _replica_pids()


def test_losing_a_worker_node_mid_batch_loses_no_item(cluster: LocalRayCluster, url: str) -> None:
    _wait_for_replicas(3)  # Serve replaced the replica killed above
    batches = _batches(seed=4, count=24, size=6, slow=True)
    transport = _Counting()
    worker = cluster.nodes[-1]
    results = asyncio.run(_score_while(url, batches, transport, worker.kill))
    _check_fault_run(batches, results, transport)
    assert worker.process.poll() is not None
    # The survivors go on serving.
    after = _batches(seed=5, count=4, size=6)
    again = _Counting()
    assert [_verdict(r) for r in asyncio.run(_score_all(url, after, again))] == list(_single_process(after).values())


def test_the_cluster_stops_with_none_of_its_processes_left(cluster: LocalRayCluster) -> None:
    assert cluster.leftovers()  # it is running now
    assert cluster.stop() == []
    assert not cluster.temp_dir.exists()
