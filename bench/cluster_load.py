"""Load at cluster scale: many concurrent clients and a fixed number of items, one service vs Ray Serve.

Three phases, all on 127.0.0.1, each bounded by its item count (and ``--timeout`` seconds):

1. **client**: the project's ``AsyncVerifierClient`` against a canned server that answers instantly, at 16 and
   at ``--clients`` requests in flight: what the client itself costs (CPU µs per request, requests/s) when
   thousands of requests queue in its httpx pool.
2. **single**: ``verifier serve`` (one process, its math pool and sandbox), ``--clients`` concurrent tasks
   sharing one client (retries on, so 429s are retried after Retry-After) until ``--items`` items are scored.
3. **ray**: a local Ray cluster (a head and two worker nodes, one CPU each, separate ``ray start`` processes)
   with the verifier deployed as ``--replicas`` replicas; the same batches.

Checked: every item exactly one result (ids echoed in order). Reported: items/s, batch p50/p99 latency
(first attempt to answer, retries and queueing included), 429s, server memory (RSS of every process of the
server, or of the whole cluster, at start/middle/end) and server CPU seconds per item; the ratios ray /
single are efficiency figures (same cores for both: this is not a speed-up measurement).

    .venv/bin/python -m bench.cluster_load --items 100000 --clients 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench._common import machine
from verifier.client import AsyncVerifierClient, encode_verify
from verifier.local import free_port, local_verifier
from verifier.schemas import VerifyResponse

PLUGINS = ["format", "math", "language", "code"]
ADD = "a, b = map(int, input().split())\nprint(a + b)\n"
SUB = "a, b = map(int, input().split())\nprint(a - b)\n"


def make_item(rng: random.Random, key: str, code_share: float) -> dict[str, Any]:
    a, b = rng.randint(1, 999), rng.randint(1, 999)
    right = rng.random() < 0.7
    if rng.random() < code_share:
        tests = [{"input": f"{x} {y}\n", "output": f"{x + y}\n"} for x, y in ((a, b), (b, a))]
        program = ADD if right else SUB
        return {"id": key, "completion": f"```python\n{program}```", "reference": {"tests": tests}, "rewards": ["code"]}
    family = rng.choice(("format", "math", "language"))
    if family == "format":
        completion = f"<think>{a} + {b}</think>\n{a + b}" if right else f"{a + b}"
        return {"id": key, "completion": completion, "rewards": {"format": 1.0, "tag_count": 0.5}}
    if family == "math":
        answer = f"\\frac{{{a}}}{{{b}}}" if right else f"\\frac{{{a + 1}}}{{{b}}}"
        completion = f"<think>divide</think>So the answer is $\\boxed{{{answer}}}$."
        return {"id": key, "completion": completion, "reference": f"{a}/{b}", "rewards": ["math"]}
    mixed = "" if right else "然后我再检查一遍结果是否正确。"
    completion = f"<think>First I add the two numbers, then I check the sum. {mixed}</think>It is {a + b}."
    return {"id": key, "prompt": "What is the sum?", "completion": completion, "rewards": ["language"]}


def make_batches(items: int, size: int, code_share: float, seed: int) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    keys = [f"i{n}" for n in range(items)]
    return [[make_item(rng, k, code_share) for k in keys[n : n + size]] for n in range(0, items, size)]


# Process accounting, from /proc.


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_s(pids: list[int]) -> float:
    """utime + stime of the processes, with their reaped children's (cutime + cstime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])
    return total / ticks


# Driving the load, and its report.


@dataclass
class Run:
    name: str
    latencies: list[float] = field(default_factory=list)
    items: int = 0
    broken: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    item_errors: int = 0
    elapsed: float = 0.0
    rss: list[float] = field(default_factory=list)
    rss_replicas: list[float] = field(default_factory=list)  # ray: the replicas and their pools only
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport (same pool limits as the client's default), counting each attempt's status."""

    def __init__(self, statuses: Counter[str]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.statuses = statuses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError as exc:
            self.statuses[type(exc).__name__] += 1
            raise
        self.statuses[str(response.status_code)] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def drive(
    url: str, batches: list[list[dict[str, Any]]], clients: int, run: Run, server_pids: Callable[[], list[int]],
    timeout_s: float, replica_pids: Callable[[], list[int]] | None = None,
) -> None:  # fmt: skip
    """``clients`` tasks share one client and take the next batch until none is left."""
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    half = len(batches) // 2
    done = 0
    transport = CountingTransport(run.statuses)

    def sample() -> None:
        run.rss.append(rss_mb(server_pids()))
        if replica_pids is not None:
            run.rss_replicas.append(rss_mb(replica_pids()))

    # retries: enough to outlast a long 429 storm; each retry waits the server's Retry-After.
    async with AsyncVerifierClient(url, transport=transport, retries=10_000, timeout=timeout_s) as client:

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                batch = queue.get_nowait()
                started = time.perf_counter()
                response = await client.verify(batch)
                run.latencies.append(time.perf_counter() - started)
                ids = [r.id for r in response.results]
                if ids != [item["id"] for item in batch]:
                    run.broken.append(f"batch at {batch[0]['id']}: {len(ids)} results for {len(batch)} items")
                run.items += len(ids)
                run.item_errors += sum(bool(r.errors) for r in response.results)
                done += 1
                if done == half:
                    sample()

        pids = server_pids()
        sample()
        cpu_before, client_before = cpu_s(pids), time.process_time()
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(clients))), timeout_s)
        run.elapsed = time.perf_counter() - started
        run.client_cpu_s = time.process_time() - client_before
        pids = server_pids()
        sample()
        run.server_cpu_s = cpu_s(pids) - cpu_before


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(run: Run) -> None:
    print(
        f"{run.name:<8} {run.items:7d} items in {run.elapsed:7.1f} s: {run.items / run.elapsed:7.1f} items/s; "
        f"batch p50 {statistics.median(run.latencies):6.2f} s p99 {percentile(run.latencies, 0.99):6.2f} s; "
        f"server CPU {run.server_cpu_s:7.1f} s = {run.server_cpu_s / run.items * 1e3:6.2f} ms/item; "
        f"client CPU {run.client_cpu_s:6.1f} s; RSS start/middle/end "
        f"{' / '.join(f'{r:.0f}' for r in run.rss)} MiB"
        + (f" (replicas, pools: {' / '.join(f'{r:.0f}' for r in run.rss_replicas)})" if run.rss_replicas else "")
        + f"; attempts {dict(run.statuses)}; "
        f"items with errors {run.item_errors}; exactly one result each: {'yes' if not run.broken else 'NO'}"
    )


# Phase 1: the client alone, against a canned server.

CANNED_SERVER = '''
import sys, orjson, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    items = orjson.loads(body)["items"] if body else []
    results = [{"id": i.get("id"), "reward": 1.0, "scores": {"format": 1.0}} for i in items]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": orjson.dumps({"results": results})})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
'''


async def client_alone(
    url: str, in_flight: int, requests: int, batch: list[dict[str, Any]], bare: bool
) -> tuple[float, float]:
    """(requests/s, client CPU µs per request) for ``requests`` POSTs with ``in_flight`` at once, through the
    project's client, or (``bare``) through a plain ``httpx.AsyncClient`` with the same pool limits."""
    body = encode_verify(batch)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with AsyncVerifierClient(url, retries=0) as client, httpx.AsyncClient(limits=limits, timeout=600) as http:

        async def once() -> None:
            if bare:
                response = await http.post(f"{url}/v1/verify", content=body)
                VerifyResponse.model_validate_json(response.content)
            else:
                await client.verify(batch)

        await asyncio.gather(*(once() for _ in range(100)))  # open the pool's connections
        left = requests

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await once()

        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return requests / wall, cpu / requests * 1e6


def phase_client(args: argparse.Namespace) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", CANNED_SERVER, str(port)], stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        batch = make_batches(args.batch_size, args.batch_size, 0.0, 0)[0]
        figures = {
            (name, n): asyncio.run(client_alone(url, n, args.client_requests, batch, bare=name == "bare httpx"))
            for n in (16, args.clients)
            for name in ("bare httpx", "client")
        }
    finally:
        server.terminate()
        server.wait()
    for (name, n), (rate, us) in figures.items():
        print(f"{name:<10} {n:5d} in flight: {rate:7.0f} requests/s, {us:6.0f} µs client CPU per request")
    for name in ("bare httpx", "client"):
        low, high = figures[(name, 16)], figures[(name, args.clients)]
        print(f"{name:<10} at {args.clients} vs 16 in flight: {high[0] / low[0]:.2f}x requests/s, "
              f"{high[1] / low[1]:.2f}x CPU per request")  # fmt: skip
    ours, bare = figures[("client", args.clients)], figures[("bare httpx", args.clients)]
    print(f"client / bare httpx at {args.clients} in flight: {ours[0] / bare[0]:.2f}x requests/s")


# Phases 2 and 3: one verifier, then the Ray cluster.


def settings_env(args: argparse.Namespace) -> dict[str, str]:
    options = {"math": {"workers": args.math_workers}, "code": {"max_concurrency": 2}}
    return {"VERIFIER_PLUGINS_ALLOW": json.dumps(PLUGINS), "VERIFIER_PLUGIN_OPTIONS": json.dumps(options),
            "VERIFIER_LOG_LEVEL": "warning"}  # fmt: skip


def phase_single(args: argparse.Namespace, batches: list[list[dict[str, Any]]]) -> Run:
    run = Run("single")
    with local_verifier(env=settings_env(args)) as verifier:
        asyncio.run(drive(verifier.url, batches, args.clients, run, lambda: _tree(verifier.pid), args.timeout))
    return run


def replica_pids() -> list[int]:
    """The Serve replicas' processes and everything below them (math workers, sandbox zygotes)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes().startswith(b"ray::ServeReplica:"):
                pids += _tree(int(entry))
        except OSError:
            continue
    return pids


def phase_ray(args: argparse.Namespace, batches: list[list[dict[str, Any]]]) -> Run:
    from verifier.rayserve.local_cluster import LocalRayCluster

    root = Path(__file__).resolve().parents[1]
    pythonpath = os.pathsep.join([str(root), str(root / "plugins"), os.environ.get("PYTHONPATH", "")])
    # Ray starts its workers (the replicas) at nice 15; on a machine shared with other load that alone would
    # starve them against the single process at nice 0, so both run at the same priority unless asked.
    env = {"PYTHONPATH": pythonpath, "RAY_worker_niceness": str(args.ray_niceness)}
    cluster = LocalRayCluster(workers=2, cpus_per_node=1, env=env).start()
    run = Run("ray")
    try:
        port = free_port()
        env = {**os.environ, **cluster.env, **settings_env(args)}
        command = [sys.executable, "-m", "verifier", "serve", "--ray", cluster.address, "--port", str(port),
                   "--replicas", str(args.replicas)]  # fmt: skip
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
        # Every process of the cluster: raylets, GCS, Serve's controller and proxies, the replicas and their pools.
        url = f"http://127.0.0.1:{port}"
        asyncio.run(drive(url, batches, args.clients, run, cluster.leftovers, args.timeout, replica_pids))
    finally:
        left = cluster.stop()
        if left:
            print(f"WARNING: {len(left)} cluster processes left: {left}")
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000, help="items per phase (default 100000)")
    parser.add_argument("--clients", type=int, default=2000, help="concurrent client tasks (default 2000)")
    parser.add_argument("--batch-size", type=int, default=10, help="items per request (default 10)")
    parser.add_argument("--replicas", type=int, default=3, help="verifier replicas on Ray (default 3)")
    parser.add_argument("--code-share", type=float, default=0.05, help="share of code items (default 0.05)")
    parser.add_argument("--math-workers", type=int, default=1, help="math workers per service/replica")
    parser.add_argument("--client-requests", type=int, default=20_000, help="requests in the client phase")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds a phase may take")
    parser.add_argument("--phases", default="client,single,ray", help="which phases to run (comma-separated)")
    parser.add_argument("--ray-niceness", type=int, default=0, help="nice of Ray's workers (Ray's default: 15)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    print(f"machine: {machine()}; {args.clients} clients, {args.items} items in batches of {args.batch_size}, "
          f"code share {args.code_share}; rewards: {', '.join(PLUGINS)}; math workers {args.math_workers}")  # fmt: skip
    if "client" in phases:
        phase_client(args)
    batches = make_batches(args.items, args.batch_size, args.code_share, args.seed)
    runs = {}
    if "single" in phases:
        runs["single"] = phase_single(args, batches)
        report(runs["single"])
    if "ray" in phases:
        runs["ray"] = phase_ray(args, batches)
        report(runs["ray"])
    if len(runs) == 2:
        single, ray = runs["single"], runs["ray"]
        print(
            f"ray ({args.replicas} replicas) / single, same {os.cpu_count()} cores: "
            f"throughput {ray.items / ray.elapsed / (single.items / single.elapsed):.2f}x, "
            f"items per server CPU-second {single.server_cpu_s / single.items / (ray.server_cpu_s / ray.items):.2f}x "
            f"(efficiency), p50 latency {statistics.median(ray.latencies) / statistics.median(single.latencies):.2f}x"
        )
    return 1 if any(run.broken or run.items != args.items for run in runs.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
