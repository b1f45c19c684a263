"""The ``judge`` reward's client against a real model server: its overhead over bare HTTP calls.

A real CPU model server (``trainer.serving`` over the mini R1 tiny model, in its own process on 127.0.0.1)
plays the judge. Baseline, in the same run: the same chat-completion requests (same messages, same
``max_tokens``, same concurrency) sent with a bare ``httpx.AsyncClient``. Then the ``judge`` reward scores the
same items (templating, concurrency gate, retries machinery, parsing). Printed: medians and the ratio. (The
tiny model's replies are never a score, so nothing is cached: every item makes its request.)

    .venv/bin/python -m bench.judge_client --items 48 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench._common import machine
from verifier.local import free_port

TEMPLATE = "{prompt}{answer}"  # the tiny model's context is 128 tokens


def start_server(model_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    code = f"from pathlib import Path; from trainer.serving import serve; serve(Path({str(model_dir)!r}), port={port})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the model server did not start")


def items(n: int) -> list[dict[str, str]]:
    return [{"prompt": f"{i % 10}+{i // 10}=?", "answer": str(i % 10 + i // 10)} for i in range(n)]


async def bare(url: str, model: str, rows: list[dict[str, str]], concurrency: int, max_tokens: int) -> float:
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=120) as client:

        async def one(row: dict[str, str]) -> None:
            body = {"model": model, "messages": [{"role": "user", "content": row["prompt"] + row["answer"]}],
                    "temperature": 0.0, "max_tokens": max_tokens, "n": 1}
            async with gate:
                response = await client.post(f"{url}/v1/chat/completions", json=body)
                response.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(one(r) for r in rows))
        return time.perf_counter() - start


async def judged(url: str, model: str, rows: list[dict[str, str]], concurrency: int, max_tokens: int) -> float:
    import verifier_judge

    from verifier import PluginConfig, RewardItem

    options = {"endpoints": [{"url": url, "max_concurrency": concurrency}], "model": model,
               "templates": {"short": {"user": TEMPLATE}}, "default_template": "short",
               "max_tokens": max_tokens, "response_format": "none"}
    rewards = verifier_judge.register_rewards(config=PluginConfig("judge", options))
    reward = next(r for r in rewards if r.name == "judge")
    batch = [RewardItem(index=i, prompt=r["prompt"], completion=r["answer"], params=reward.params())
             for i, r in enumerate(rows)]
    assert reward.lifespan is not None
    async with reward.lifespan():
        start = time.perf_counter()
        scores: Any = await reward.score(batch)  # type: ignore[misc]
        elapsed = time.perf_counter() - start
    assert all(s.details.get("usage") for s in scores), [s.error for s in scores][:3]  # every item was asked
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()

    from trainer.mini_r1.task import TaskSpec, corpus
    from trainer.mini_r1.tiny import TinyModelSpec, build_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model_dir(Path(tmp) / "tiny", corpus(TaskSpec(n_terms=2).all_problems()), TinyModelSpec(),
                                    seed=0)
        process, url = start_server(model_dir)
        try:
            rows = items(args.items)
            bare_s, judge_s = [], []
            asyncio.run(bare(url, "tiny", rows[:4], args.concurrency, args.max_tokens))  # warm-up
            for repeat in range(args.repeats):  # interleaved, order alternating, so drifting load hits both alike
                for which in ("bare", "judge") if repeat % 2 == 0 else ("judge", "bare"):
                    if which == "bare":
                        bare_s.append(asyncio.run(bare(url, "tiny", rows, args.concurrency, args.max_tokens)))
                    else:
                        judge_s.append(asyncio.run(judged(url, "tiny", rows, args.concurrency, args.max_tokens)))
        finally:
            process.terminate()
            process.wait(timeout=30)
    b, j = statistics.median(bare_s), statistics.median(judge_s)
    print(f"machine: {machine()}; {args.items} items, concurrency {args.concurrency}, max_tokens {args.max_tokens}, "
          f"{args.repeats} repeats (medians)")
    print(f"baseline: bare httpx chat completions   {b * 1e3:9.1f} ms  ({args.items / b:7.1f} items/s)")
    print(f"judge reward                            {j * 1e3:9.1f} ms  ({args.items / j:7.1f} items/s)")
    print(f"ratio judge / baseline: {j / b:.2f}x")


if __name__ == "__main__":
    main()
