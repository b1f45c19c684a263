"""The verdict cache on GRPO batches: the same batch scored with the cache off and on, in the same run.

A batch is ``--prompts`` GRPO groups of ``--group`` (8) completions. Within each group a share of the items
(``--shares``, default 0, 0.25 and 0.4) repeats an earlier completion of the same group, as a policy whose
entropy has collapsed does late in training; 0.4 is the middle of the 30-50% such groups show, 0.25 an
earlier stage, and 0 measures what the cache costs when nothing repeats. Two reward mixes:

- ``r1``: the built-in r1 profile (math 1.0, format 0.25, language 0.25) on 1-2k-character math reasoning
  with a final answer (the completions of bench/math_throughput.py, reasoning inside ``<think>``);
- ``code``: the ``code`` reward on small Python programs with two stdin/stdout tests, run in bubblewrap
  (``--no-code`` leaves it out).

Baseline: the same batch with ``"cache": false`` (every item scored). Against it: the cache on, emptied before
each run, so only the batch's own duplicates are saved (a training step's new rollouts do not meet older
ones). Off and on alternate, ``--repeats`` times each, in one process (``verifier.runtime.running``, no
HTTP), so both see the same machine. Prints for each the median wall seconds and the median CPU seconds of
the process tree (this process, the math workers, the sandbox and the programs it ran: the measure that
holds on a machine others are using), the ratios off/on, the cache's measured hit rate (hits / lookups over
the deterministic rewards), and, on the warm cache, the batch scored again (a retried step, a re-scoring).
It checks that off and on give the same verdicts.

    .venv/bin/python -m bench.verdict_cache [--prompts 32] [--group 8] [--shares 0,0.25,0.4] [--repeats 3] [--no-code]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import machine
from bench.math_throughput import build_mix
from verifier.runtime import Runtime, running
from verifier.schemas import VerifyRequest
from verifier.settings import Settings
from verifier.wire import score_request, verify_response

ECHO_TWICE = {"tests": [{"input": "21\n", "output": "42\n"}, {"input": "2\n", "output": "4\n"}]}


def with_duplicates(groups: list[list[dict[str, Any]]], share: float, rng: random.Random) -> list[dict[str, Any]]:
    """Each group with ``round(share * len)`` of its items (never the first) replaced by an earlier one's copy."""
    out: list[dict[str, Any]] = []
    for group in groups:
        group = [dict(item) for item in group]
        repeats = rng.sample(range(1, len(group)), round(share * len(group)))
        for position in sorted(repeats):
            group[position] = dict(group[rng.randrange(position)])
        out += group
    return out


def r1_groups(prompts: int, group: int) -> list[list[dict[str, Any]]]:
    mix = build_mix(prompts * group, group, seed=0)
    items = [
        {"completion": "<think>" + text.replace("\n", "\n</think>", 1), "reference": case.gold} for case, text in mix
    ]
    return [items[i : i + group] for i in range(0, len(items), group)]


def code_groups(prompts: int, group: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    bodies = [
        "x = int(input())\nprint(x * 2)",
        "print(int(input()) * 2)",
        "n = int(input())\nprint(n + n)",
        "x = int(input())\nprint(x + 2)",  # wrong on the first test
        "import sys\nprint(2 * int(sys.stdin.readline()))",
    ]
    return [
        [{"completion": f"{rng.choice(bodies)}  # p{p} s{s}", "reference": ECHO_TWICE} for s in range(group)]
        for p in range(prompts)
    ]


def tree_cpu_s() -> float:
    """CPU seconds of this process and every live descendant (math workers, the sandbox), each with the CPU
    of the children it has reaped (the programs a sandbox ran), from Linux ``/proc``."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    root, total = os.getpid(), 0.0
    for pid, seconds in cpu.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        total += seconds if ancestor == root else 0.0
    return total


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    scores: list[Any]
    hits: int
    misses: int


async def run_once(runtime: Runtime, request: VerifyRequest, clear: bool) -> Run:
    cache = runtime.scorer.cache
    assert cache is not None
    if clear:
        cache.clear()
    before = cache.stats()
    cpu = tree_cpu_s()
    started = time.perf_counter()
    response = verify_response(await runtime.scorer.score(score_request(runtime.profiles.resolve(request))))
    wall = time.perf_counter() - started
    cpu = tree_cpu_s() - cpu
    after = cache.stats()
    return Run(wall, cpu, [r.scores for r in response.results], after.hits - before.hits, after.misses - before.misses)


async def measure(runtime: Runtime, name: str, items: list[dict[str, Any]], body: dict[str, Any], repeats: int) -> None:
    distinct = len({repr(sorted(i.items())) for i in items})
    on_request = VerifyRequest.model_validate({**body, "items": items})
    off_request = VerifyRequest.model_validate({**body, "items": items, "cache": False})
    await run_once(runtime, off_request, clear=True)  # warm-up: pools, detectors, sandbox
    off: list[Run] = []
    on: list[Run] = []
    for _ in range(repeats):
        off.append(await run_once(runtime, off_request, clear=False))
        on.append(await run_once(runtime, on_request, clear=True))
        assert on[-1].scores == off[-1].scores, f"{name}: the cache changed a verdict"
    warm = await run_once(runtime, on_request, clear=False)
    assert warm.scores == off[0].scores
    hits, lookups = sum(r.hits for r in on), sum(r.hits + r.misses for r in on)
    off_wall, on_wall = statistics.median(r.wall_s for r in off), statistics.median(r.wall_s for r in on)
    off_cpu, on_cpu = statistics.median(r.cpu_s for r in off), statistics.median(r.cpu_s for r in on)
    print(
        f"{name:<14} {len(items):>5} {distinct:>8} {off_wall:>7.2f} {on_wall:>7.2f} {off_wall / on_wall:>6.2f}x "
        f"{off_cpu:>7.2f} {on_cpu:>7.2f} {off_cpu / on_cpu if on_cpu else 0:>6.2f}x {hits / lookups:>8.1%}   "
        f"warm: {warm.wall_s:.3f} s, hit rate {warm.hits / (warm.hits + warm.misses):.0%}",
        flush=True,
    )


async def main_async(args: argparse.Namespace) -> None:
    shares = [float(s) for s in args.shares.split(",")]
    allow = ["format", "math", "language"] + ([] if args.no_code else ["code"])
    settings = Settings(
        plugins_allow=allow,
        plugin_options={"code": {"isolation": "bwrap"}} if not args.no_code else {},
        verdict_cache_bytes=256 * 2**20,
        log_level="warning",
    )
    print(f"verdict cache: {machine()}; groups of {args.group}, {args.prompts} prompts per batch")
    print("the same batch with the cache off (baseline) and on (emptied before each run), median of", args.repeats)
    print(
        f"{'batch':<14} {'items':>5} {'distinct':>8} {'wall off':>7} {'on':>7} {'ratio':>7} "
        f"{'cpu off':>7} {'on':>7} {'ratio':>7} {'hit rate':>8}"
    )
    async with running(settings) as runtime:
        for share in shares:
            items = with_duplicates(r1_groups(args.prompts, args.group), share, random.Random(1))
            await measure(runtime, f"r1 dup {share:.0%}", items, {"profile": "r1"}, args.repeats)
        if not args.no_code:
            for share in shares:
                groups = code_groups(args.prompts, args.group, random.Random(2))
                items = with_duplicates(groups, share, random.Random(1))
                await measure(runtime, f"code dup {share:.0%}", items, {"rewards": ["code"]}, args.repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32, help="GRPO groups per batch")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt")
    parser.add_argument("--shares", default="0,0.25,0.4", help="comma-separated duplicate shares within a group")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-code", action="store_true", help="leave the code reward (bubblewrap) out")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
