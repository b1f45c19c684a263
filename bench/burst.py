"""Per-sample bursts, as OpenRLHF's remote-RM client sends them, against one batch of the same items.

Starts ``verifier serve`` on 127.0.0.1 (math + format rewards, the math pool's gold cache off so that no phase
profits from an earlier one), warms it up, then for each burst size N:

1. baseline: the N items as one ``/v1/openrlhf`` request (one batch), timed;
2. then the same N items as N concurrent single-sample ``/v1/openrlhf`` requests from a client that sends and retries
   as OpenRLHF's does (``bench/openrlhf_client.py``: a new connection per try, 5 tries, a fixed 1 s sleep,
   ``Retry-After`` ignored), timed from the first send to the last answer.

Prints the samples lost (no reward after 5 tries: OpenRLHF's ``torch.cat`` then fails), the burst's wall time
and its ratio to the one-batch time, the CPU seconds the server and its math workers spent on each phase and
their ratio (on a shared machine the wall-time ratio is mostly the other tenants' load; the CPU ratio is what
the burst costs), how many batches the server scored the burst in (coalesced), the 429s, whether every sample
got its own reward (the one-batch answer for it), and the server's RSS before, at its peak during (sampled
every 20 ms from /proc) and after the burst. Both phases run ``--repeats`` times; then the median ratios.

    .venv/bin/python -m bench.burst                 # N = 1024 and 4096
    .venv/bin/python -m bench.burst --bursts 256
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench import openrlhf_client
from bench._common import machine, verifier_process

PLUGINS = ["math", "format"]
REWARDS = "math:1.0,format:0.5"


def make_samples(n: int, seed: int) -> list[tuple[str, str, str]]:
    """``(query, prompt, label)`` per sample: a sum, answered right (70%) or wrong, in R1's format or not."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        a, b = rng.randint(10, 9999), rng.randint(10, 9999)
        prompt = f"<|im_start|>user\nSample {i}: what is {a} + {b}?<|im_end|>\n<|im_start|>assistant\n"
        answer = a + b if rng.random() < 0.7 else a + b + 1
        think = f"<think>I add {a} and {b} digit by digit and check the sum.</think>\n" if rng.random() < 0.8 else ""
        samples.append((f"{prompt}{think}The answer is $\\boxed{{{answer}}}$.", prompt, str(a + b)))
    return samples


def cpu_s(pid: int) -> float:
    """CPU seconds of the server and its live descendants (the math workers), from /proc."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue  # exited meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def batches_scored(url: str) -> float:
    """How many (coalesced) batches the server has scored, from its /metrics."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    line = next(line for line in text.splitlines() if line.startswith("verifier_batch_requests_count "))
    return float(line.split()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def one_batch(url: str, samples: list[tuple[str, str, str]]) -> tuple[float, list[float]]:
    payload = {"query": [q for q, _, _ in samples], "prompts": [p for _, p, _ in samples],
               "labels": [lbl for _, _, lbl in samples]}  # fmt: skip
    async with httpx.AsyncClient(timeout=600) as client:
        started = time.perf_counter()
        response = await client.post(url, json=payload)
        elapsed = time.perf_counter() - started
    response.raise_for_status()
    rewards: list[float] = response.json()["rewards"]
    return elapsed, rewards


async def burst(
    url: str, samples: list[tuple[str, str, str]], pid: int
) -> tuple[float, list[float | None], openrlhf_client.Tally, list[float]]:
    tally = openrlhf_client.Tally()
    rss = [rss_mib(pid)]
    peak = rss[0]
    done = asyncio.Event()

    async def sample_rss() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib(pid))
            await asyncio.sleep(0.02)

    async def one(query: str, prompt: str, label: str) -> float | None:
        answer = await openrlhf_client.reward(url, query, prompt, label, tally)
        return None if answer is None else float(answer["rewards"][0])

    sampler = asyncio.create_task(sample_rss())
    started = time.perf_counter()
    rewards = await asyncio.gather(*(one(*s) for s in samples))
    elapsed = time.perf_counter() - started
    done.set()
    await sampler
    rss += [peak, rss_mib(pid)]
    return elapsed, list(rewards), tally, rss


async def run(url: str, pid: int, sizes: list[int], repeats: int) -> bool:
    endpoint = f"{url}/v1/openrlhf?rewards={REWARDS}"
    await one_batch(endpoint, make_samples(256, seed=-1))  # warm-up: workers started, models loaded
    ok = True
    for n in sizes:
        samples = make_samples(n, seed=n)
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        for _ in range(repeats):
            cpu_before = cpu_s(pid)
            batch_s, expected = await one_batch(endpoint, samples)
            batch_cpu = cpu_s(pid) - cpu_before
            cpu_before, batches_before = cpu_s(pid), await batches_scored(url)
            burst_s, got, tally, rss = await burst(endpoint, samples, pid)
            burst_cpu = cpu_s(pid) - cpu_before
            batches = await batches_scored(url) - batches_before
            own = sum(g == e for g, e in zip(got, expected, strict=True))
            ratios.append(burst_s / batch_s)
            cpu_ratios.append(burst_cpu / batch_cpu)
            print(
                f"N={n:5d}: one batch {batch_s:6.2f} s ({batch_cpu:5.1f} s CPU) | {n} single-sample requests "
                f"{burst_s:6.2f} s ({burst_cpu:5.1f} s CPU, {batches:.0f} batches) | "
                f"ratio {burst_s / batch_s:.2f}x wall, {burst_cpu / batch_cpu:.2f}x CPU | lost {tally.lost} | "
                f"429s {tally.statuses.get(429, 0)} | "
                f"own reward {own}/{n} | RSS before/peak/after {rss[0]:.0f}/{rss[1]:.0f}/{rss[2]:.0f} MiB"
            )
            other = {k: v for k, v in tally.statuses.items() if k != 200}
            if other:
                print(f"         other answers: {other}")
            ok = ok and tally.lost == 0 and own == n
        print(
            f"N={n:5d}: median over {repeats} runs, burst / one batch: {statistics.median(ratios):.2f}x wall time, "
            f"{statistics.median(cpu_ratios):.2f}x server CPU"
        )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bursts", type=int, nargs="+", default=[1024, 4096], help="burst sizes (default 1024 4096)")
    parser.add_argument("--repeats", type=int, default=3, help="one batch, then the burst, this many times")
    parser.add_argument("--math-workers", type=int, default=None, help="math worker processes (default: CPU count)")
    args = parser.parse_args()

    options: dict[str, Any] = {"math": {"gold_cache_size": 0}}
    if args.math_workers:
        options["math"]["workers"] = args.math_workers
    print(f"machine: {machine()}; rewards {REWARDS} over /v1/openrlhf; server defaults otherwise")
    env = {"VERIFIER_PLUGINS_ALLOW": json.dumps(PLUGINS), "VERIFIER_PLUGIN_OPTIONS": json.dumps(options)}
    with verifier_process(env=env) as (url, pid):
        assert url.startswith("http://127.0.0.1:")
        ok = asyncio.run(run(url, pid, args.bursts, args.repeats))
    print(f"every sample got its own reward, none lost: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
