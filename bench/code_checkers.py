"""A GRPO batch on a problem with a C++ checker, through the ``code`` reward on the bubblewrap process backend.

One batch: ``--group`` completions of one problem with ``--tests`` tests, half of them right, judged by a
self-contained testlib-style C++ checker. Measured in the same run:

- baseline: each item scored by its own call, all concurrently (what a reward that sends one checker
  request per item does: one checker compile per item);
- batched, cold: the whole batch in one call with empty caches (one checker compile for the batch);
- batched, warm: the same batch again (verdicts answered from the cache).

    .venv/bin/python bench/code_checkers.py [--group 16] [--tests 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from verifier_code.reward import CodeParams, CodeReward

from sandbox.process import ProcessBackend, ProcessOptions
from verifier import RewardItem

CHECKER = """\
#include <fstream>
#include <string>
#include <vector>
int main(int argc, char** argv) {
    std::ifstream inp(argv[1]), out(argv[2]);
    long n; inp >> n;
    std::vector<std::string> tokens; std::string t;
    while (out >> t) tokens.push_back(t);
    if (tokens.size() != 2) return 2;
    long a = std::stol(tokens[0]), b = std::stol(tokens[1]);
    return (a > 0 && b > 0 && a + b == n) ? 0 : 1;
}
"""
RIGHT = "n = int(input())\nprint({k}, n - {k})"
WRONG = "n = int(input())\nprint({k}, n)"


def batch(group: int, tests: int) -> list[RewardItem]:
    reference = {
        "tests": [{"input": f"{100 + i}\n"} for i in range(tests)],
        "checker": {"language": "cpp", "source": CHECKER, "convention": "testlib"},
    }
    programs = [(RIGHT if k % 2 == 0 else WRONG).format(k=k % 5 + 1) for k in range(group)]
    return [
        RewardItem(index=i, completion=f"```python\n{p}\n```", reference=reference, params=CodeParams())
        for i, p in enumerate(programs)
    ]


async def main(group: int, tests: int, repeat: int) -> None:
    executor = ProcessBackend(ProcessOptions(isolation="bwrap"))
    await executor.start()
    items = batch(group, tests)
    expected = [1.0 if i % 2 == 0 else 0.0 for i in range(group)]
    per_item, cold, warm = [], [], []
    compiles = {"per_item": 0, "cold": 0, "warm": 0}
    try:
        for _ in range(repeat):
            rewards = [CodeReward(executor) for _ in items]
            start = time.perf_counter()
            results = await asyncio.gather(*(r([item]) for r, item in zip(rewards, items, strict=True)))
            per_item.append(time.perf_counter() - start)
            assert [s.value for [s] in results] == expected, results
            compiles["per_item"] += sum(r.checkers.compiles for r in rewards)

            reward = CodeReward(executor)
            start = time.perf_counter()
            scores = await reward(items)
            cold.append(time.perf_counter() - start)
            assert [s.value for s in scores] == expected, scores
            after_cold = reward.checkers.compiles
            compiles["cold"] += after_cold
            start = time.perf_counter()
            scores = await reward(items)
            warm.append(time.perf_counter() - start)
            assert [s.value for s in scores] == expected, scores
            compiles["warm"] += reward.checkers.compiles - after_cold
    finally:
        await executor.aclose()
    base = statistics.median(per_item)
    print(f"batch: {group} items x {tests} tests, C++ checker, {repeat} repeats (median), load {os.getloadavg()}")
    print(f"  baseline, one call per item:  {base:.2f} s  ({compiles['per_item'] // repeat} checker compiles)")
    for name, times in (("batched, cold caches", cold), ("batched, warm caches", warm)):
        median = statistics.median(times)
        print(f"  {name}:  {median:.2f} s  ({base / median:.2f}x the baseline)")
    print(f"  checker compiles per batch: cold {compiles['cold'] // repeat}, warm {compiles['warm'] // repeat}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--tests", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.group, args.tests, args.repeat))
