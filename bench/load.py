"""Bounded load test: many concurrent clients against a real ``verifier serve`` on 127.0.0.1, mixed rewards.

Measures throughput and p50/p99 batch latency over HTTP, samples the server's RSS at the start, middle and
end of the run (memory should stay flat), and checks that every item got exactly one result (ids echoed in
order). Baseline, in the same run: the same kind of batches, same concurrency, scored in-process by the same
plugins through ``verifier.runtime.running`` (no HTTP, no JSON); the ratio of the two is printed.

It stops by itself after ``--duration`` seconds (plus the batches in flight) and only talks to 127.0.0.1.

    .venv/bin/python -m bench.load --duration 60 --clients 16 --items 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench._common import machine, verifier_server
from verifier.runtime import running
from verifier.schemas import VerifyRequest
from verifier.settings import Settings
from verifier.wire import score_request, verify_response

PLUGINS = ["format", "math", "language", "code"]
PLUGIN_OPTIONS: dict[str, dict[str, Any]] = {}
ADD = "a, b = map(int, input().split())\nprint(a + b)\n"
SUB = "a, b = map(int, input().split())\nprint(a - b)\n"
ENGLISH = "<think>First I add the two numbers, then I check the sum again carefully.</think>The answer is {n}."
MIXED = "<think>First I add the numbers, 然后我再检查一遍结果是否正确。</think>The answer is {n}."


def make_item(rng: random.Random, key: str) -> dict[str, Any]:
    """One item of a random family; right or wrong at random."""
    a, b = rng.randint(1, 999), rng.randint(1, 999)
    family = rng.choice(("format", "math", "language", "code"))
    if family == "format":
        completion = f"<think>{a} + {b}</think>\n{a + b}" if rng.random() < 0.7 else f"{a + b}"
        return {"id": key, "completion": completion, "rewards": {"format": 1.0, "tag_count": 0.5}}
    if family == "math":
        answer = f"\\frac{{{a}}}{{{b}}}" if rng.random() < 0.7 else f"\\frac{{{a + 1}}}{{{b}}}"
        return {
            "id": key,
            "completion": f"<think>divide</think>So the answer is $\\boxed{{{answer}}}$.",
            "reference": f"{a}/{b}",
            "rewards": ["math"],
        }
    if family == "language":
        template = ENGLISH if rng.random() < 0.7 else MIXED
        return {
            "id": key,
            "prompt": "What is the sum of the two numbers?",
            "completion": template.format(n=a + b),
            "rewards": ["language"],
        }
    program = ADD if rng.random() < 0.7 else SUB
    tests = [{"input": f"{x} {y}\n", "output": f"{x + y}\n"} for x, y in ((a, b), (b, a), (a, a))]
    return {"id": key, "completion": f"```python\n{program}```", "reference": {"tests": tests}, "rewards": ["code"]}


def make_batch(rng: random.Random, client: int, serial: int, size: int) -> dict[str, Any]:
    return {"items": [make_item(rng, f"c{client}-b{serial}-i{i}") for i in range(size)]}


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    items: int = 0
    batches: int = 0
    item_errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    broken: list[str] = field(default_factory=list)  # batches whose results did not match their items

    def record(self, batch: dict[str, Any], results: list[dict[str, Any]], seconds: float) -> None:
        ids = [item["id"] for item in batch["items"]]
        if [r["id"] for r in results] != ids:
            self.broken.append(f"{ids[0]}: {len(results)} results for {len(ids)} items or ids out of order")
        self.latencies.append(seconds)
        self.items += len(ids)
        self.batches += 1
        for result in results:
            for reward, message in result["errors"].items():
                self.item_errors[f"{reward}: {message[:80]}"] += 1


async def closed_loop(
    score: Callable[[dict[str, Any]], Awaitable[list[dict[str, Any]]]],
    clients: int,
    items: int,
    duration_s: float,
    seed: int,
) -> tuple[Tally, float]:
    """``clients`` tasks, each sending its next batch as soon as the last one is answered, until the deadline."""
    tally = Tally()
    deadline = time.monotonic() + duration_s

    async def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        serial = 0
        while time.monotonic() < deadline:
            batch = make_batch(rng, n, serial, items)
            serial += 1
            started = time.perf_counter()
            results = await score(batch)
            tally.record(batch, results, time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return tally, time.perf_counter() - started


async def rss_mb(http: httpx.AsyncClient) -> float:
    """The server's resident memory, from its own /metrics (prometheus_client's process collector)."""
    text = (await http.get("/metrics")).text
    line = next(line for line in text.splitlines() if line.startswith("process_resident_memory_bytes "))
    return float(line.split()[1]) / 2**20


async def over_http(url: str, args: argparse.Namespace) -> tuple[Tally, float, list[float]]:
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def score(batch: dict[str, Any]) -> list[dict[str, Any]]:
            while True:
                response = await http.post("/v1/verify", json=batch)
                tally.statuses[response.status_code] += 1
                if response.status_code == 429:  # backpressure: wait as told, then send the same batch again
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                    continue
                response.raise_for_status()
                results: list[dict[str, Any]] = response.json()["results"]
                return results

        tally = Tally()
        # Warm-up (first sandbox runs, gold parsing, language models loaded) before the first RSS sample.
        warm_rng = random.Random(-1)
        await asyncio.gather(*(score(make_batch(warm_rng, -1, i, args.items)) for i in range(args.clients)))
        tally.statuses.clear()
        rss = [await rss_mb(http)]

        async def sample_middle() -> None:
            await asyncio.sleep(args.duration / 2)
            rss.append(await rss_mb(http))

        sampler = asyncio.create_task(sample_middle())
        run, elapsed = await closed_loop(score, args.clients, args.items, args.duration, args.seed)
        await sampler
        rss.append(await rss_mb(http))
        run.statuses = tally.statuses
        return run, elapsed, rss


async def in_process(args: argparse.Namespace, duration_s: float) -> tuple[Tally, float]:
    settings = Settings(plugins_allow=PLUGINS, plugin_options=PLUGIN_OPTIONS)
    async with running(settings) as runtime:

        async def score(batch: dict[str, Any]) -> list[dict[str, Any]]:
            response = verify_response(await runtime.scorer.score(score_request(VerifyRequest.model_validate(batch))))
            return [r.model_dump() for r in response.results]

        warm_rng = random.Random(-1)
        await asyncio.gather(*(score(make_batch(warm_rng, -1, i, args.items)) for i in range(args.clients)))
        return await closed_loop(score, args.clients, args.items, duration_s, args.seed)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, tally: Tally, elapsed: float) -> float:
    throughput = tally.items / elapsed
    print(
        f"{name:<12} {tally.batches:6d} batches {tally.items:7d} items in {elapsed:6.1f} s: "
        f"{throughput:7.1f} items/s, batch latency p50 {statistics.median(tally.latencies) * 1e3:7.1f} ms "
        f"p99 {percentile(tally.latencies, 0.99) * 1e3:7.1f} ms"
    )
    return throughput


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load over HTTP (default 120)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--items", type=int, default=8, help="items per batch (default 8)")
    parser.add_argument(
        "--baseline-share", type=float, default=0.5, help="in-process baseline runs this share of --duration"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"machine: {machine()}; {args.clients} clients x {args.items} items/batch; rewards: {', '.join(PLUGINS)}")
    env = {"VERIFIER_PLUGINS_ALLOW": json.dumps(PLUGINS), "VERIFIER_PLUGIN_OPTIONS": json.dumps(PLUGIN_OPTIONS)}
    with verifier_server(env=env) as url:
        assert url.startswith("http://127.0.0.1:")
        http_run, http_elapsed, rss = asyncio.run(over_http(url, args))
    base_run, base_elapsed = asyncio.run(in_process(args, args.duration * args.baseline_share))

    http_tp = report("HTTP", http_run, http_elapsed)
    base_tp = report("in-process", base_run, base_elapsed)
    print(f"throughput ratio HTTP / in-process: {http_tp / base_tp:.2f}")
    print(
        "p50 latency ratio HTTP / in-process: "
        f"{statistics.median(http_run.latencies) / statistics.median(base_run.latencies):.2f}"
    )
    print(f"server RSS start / middle / end: {' / '.join(f'{r:.0f}' for r in rss)} MiB")
    print(f"HTTP statuses: {dict(http_run.statuses)}")
    for name, tally in (("HTTP", http_run), ("in-process", base_run)):
        errors = sum(tally.item_errors.values())
        print(f"{name}: {errors} item errors" + "".join(f"\n  {n} x {e}" for e, n in tally.item_errors.most_common(5)))
    broken = http_run.broken + base_run.broken
    print(f"every item got exactly one result, in order: {'yes' if not broken else 'NO'}")
    for line in broken[:10]:
        print("  " + line)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
