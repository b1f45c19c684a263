"""C++ compile throughput: precompiled headers and the compile cache against the plain per-program path.

Batches, generated here:

- ``distinct``: ``--programs`` (40) different small competitive-programming programs, three in four
  starting with ``#include <bits/stdc++.h>``, the others with ``<iostream>``/``<vector>``/``<algorithm>``;
  each compiled and run once on one input.
- ``grpo``: ``--groups`` (8) of those programs, each repeated ``--group`` (8) times, as a GRPO group whose
  samples agree: what the compile cache is for.

Paths, each on the same batch in the same run, ``--concurrency`` (2) programs at a time:

- ``plain g++``: the baseline, the per-program path without this project: ``g++`` with the cpp language's
  flags (``-std=c++17 -O2 -pipe``) in a temporary directory, then the binary, as subprocesses;
- ``process, no PCH/cache``: the process backend (bubblewrap) with both off: the sandbox's own cost;
- ``process + PCH``: precompiled headers on, the cache off (on ``distinct`` nothing would hit anyway);
- ``process + PCH + cache``: both on, the cache empty at the start of the batch;
- ``docker + PCH`` (``--docker``): the docker backend on the image (``SANDBOX_IMAGE`` or the default).

``--repeats`` rounds run every path in turn (so all see the same machine); the medians are printed.
For each: wall seconds of the batch and CPU seconds of the compiles and runs (the plain path's children
from rusage; the backends' from each result, whose CPU time is the run's cgroup's or its rusage; a cache
hit reports 0). On a machine others are using, CPU seconds are the measure that holds; both are printed
with their ratio to the baseline. Every path's outputs must equal the baseline's.

    .venv/bin/python -m bench.cpp_compile [--programs 40] [--groups 8] [--group 8] [--concurrency 2]
        [--repeats 1] [--docker]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench._common import machine
from sandbox.languages import get_language
from sandbox.types import COMPILE_LIMITS, Backend, ExecResult, ExecStatus, Limits, Program, RunSpec

CPP = get_language("cpp")
RUN = Limits(wall_time_s=30.0, memory_mb=512)
COMPILE = COMPILE_LIMITS.model_copy(update={"wall_time_s": 300.0})  # a loaded machine compiles slowly

STDCXX_BODIES = (
    # sorting and prefix sums
    "int n; cin >> n; vector<long long> a(n); for (auto& x : a) cin >> x; sort(a.begin(), a.end());\n"
    " vector<long long> p(n + 1); for (int i = 0; i < n; i++) p[i + 1] = p[i] + a[i] * K;\n"
    " cout << p[n] << ' ' << a[n / 2] << '\\n';",
    # a map of counts
    "int n; cin >> n; map<long long, int> c; for (int i = 0; i < n; i++) { long long x; cin >> x; c[x % K]++; }\n"
    " int best = 0; for (auto& [k, v] : c) best = max(best, v); cout << c.size() << ' ' << best << '\\n';",
    # a DP over the input
    "int n; cin >> n; vector<long long> a(n), dp(n + 1, 0); for (auto& x : a) cin >> x;\n"
    " for (int i = 1; i <= n; i++) dp[i] = max(dp[i - 1], (i >= 2 ? dp[i - 2] : 0) + a[i - 1] % K);\n"
    " cout << dp[n] << '\\n';",
    # BFS on a ring graph
    "int n; cin >> n; vector<vector<int>> g(n); for (int i = 0; i < n; i++) { g[i].push_back((i + 1) % n);"
    " g[i].push_back((i + K) % n); }\n vector<int> d(n, -1); queue<int> q; q.push(0); d[0] = 0;\n"
    " while (!q.empty()) { int u = q.front(); q.pop(); for (int v : g[u]) if (d[v] < 0) { d[v] = d[u] + 1;"
    " q.push(v); } }\n cout << *max_element(d.begin(), d.end()) << '\\n';",
    # strings and a set
    "int n; cin >> n; set<string> s; for (int i = 0; i < n; i++) { long long x; cin >> x;"
    " string t = to_string(x * K); reverse(t.begin(), t.end()); s.insert(t); }\n"
    " cout << s.size() << ' ' << *s.begin() << '\\n';",
    # a priority queue
    "int n; cin >> n; priority_queue<long long> pq; for (int i = 0; i < n; i++) { long long x; cin >> x;"
    " pq.push(x ^ K); }\n long long s = 0; for (int i = 0; i < 3 && !pq.empty(); i++) { s += pq.top(); pq.pop(); }\n"
    " cout << s << '\\n';",
)
PLAIN_HEADERS = (
    "#include <iostream>\n#include <vector>\n#include <algorithm>\n",
    "#include <vector>\n#include <iostream>\n#include <algorithm>\n",
    "#include <algorithm>\n#include <vector>\n#include <iostream>\n",
    "#include <cstdio>\n#include <iostream>\n#include <vector>\n#include <algorithm>\n",
)
PLAIN_BODY = (
    "int n; std::cin >> n; std::vector<long long> a(n); for (auto& x : a) std::cin >> x;\n"
    " std::sort(a.begin(), a.end()); long long s = 0; for (auto x : a) s += x * K;\n"
    " std::cout << s << ' ' << a.back() << '\\n';"
)
INPUT = "8\n5 3 9 1 7 2 8 6\n"


def programs(count: int) -> list[str]:
    """``count`` distinct programs: three in four include bits/stdc++.h; ``K`` makes each one different."""
    out = []
    for index in range(count):
        k = 3 + index
        if index % 4 == 3:
            head = PLAIN_HEADERS[index % len(PLAIN_HEADERS)]
            out.append(f"{head}const long long K = {k};\nint main() {{\n {PLAIN_BODY}\n}}\n")
        else:
            body = STDCXX_BODIES[index % len(STDCXX_BODIES)]
            out.append(
                f"#include <bits/stdc++.h>\nusing namespace std;\nconst long long K = {k};\n"
                f"int main() {{\n ios::sync_with_stdio(false); cin.tie(nullptr);\n {body}\n}}\n"
            )
    return out


@dataclass
class Outcome:
    wall_s: float
    cpu_s: float
    outputs: list[str]
    note: str = ""


async def bounded(jobs: list[Callable[[], Awaitable[tuple[float, str]]]], concurrency: int) -> Outcome:
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[tuple[float, str]]]) -> tuple[float, str]:
        async with gate:
            return await job()

    start = time.perf_counter()
    results = await asyncio.gather(*(one(job) for job in jobs))
    return Outcome(time.perf_counter() - start, sum(cpu for cpu, _ in results), [out for _, out in results])


def plain_compile_and_run(source: str) -> str:
    """The baseline: g++ with the language's flags and the binary, as plain subprocesses."""
    with tempfile.TemporaryDirectory(prefix="cpp-bench-") as work:
        Path(work, CPP.source_name).write_text(source)
        assert CPP.compile is not None
        subprocess.run(list(CPP.compile), cwd=work, check=True, capture_output=True, timeout=COMPILE.wall_time_s)
        run = subprocess.run(["./main"], cwd=work, input=INPUT, capture_output=True, text=True, timeout=30, check=True)
        return run.stdout


async def plain_batch(sources: list[str], concurrency: int) -> Outcome:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def job(source: str) -> Callable[[], Awaitable[tuple[float, str]]]:
        async def go() -> tuple[float, str]:
            return 0.0, await asyncio.to_thread(plain_compile_and_run, source)

        return go

    outcome = await bounded([job(source) for source in sources], concurrency)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    outcome.cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return outcome


async def backend_batch(backend: Backend, sources: list[str], concurrency: int) -> Outcome:
    def job(source: str) -> Callable[[], Awaitable[tuple[float, str]]]:
        async def go() -> tuple[float, str]:
            async with backend.prepare(Program(language="cpp", source=source, compile_limits=COMPILE)) as prepared:
                compiled = prepared.compile_result
                assert compiled is not None
                if not compiled.ok:
                    raise RuntimeError(f"compile failed: {compiled.message} {compiled.stderr[-500:]}")
                result: ExecResult = await prepared.run(RunSpec(stdin=INPUT, limits=RUN))
                if result.status is not ExecStatus.OK:
                    raise RuntimeError(f"run failed: {result.status.value} {result.message} {result.stderr[-300:]}")
                return compiled.cpu_time_s + result.cpu_time_s, result.stdout

        return go

    return await bounded([job(source) for source in sources], concurrency)


async def process_path(sources: list[str], concurrency: int, *, pch: bool, cache: bool) -> Outcome:
    from sandbox.process import ProcessBackend, ProcessOptions

    # One backend at a time: two in one process share its cgroup, and closing one removes it.
    backend = ProcessBackend(
        ProcessOptions(
            isolation="bwrap",
            max_concurrency=concurrency,
            precompiled_headers=pch,
            compile_cache_bytes=(256 << 20) if cache else 0,
        )
    )
    await backend.start()
    try:
        # Built in the background from the first start, once per machine (not timed).
        if pch and "cpp" not in await backend.precompiled_headers_ready():
            raise RuntimeError("the process backend has no precompiled headers (see its log)")
        await backend_batch(backend, programs(1), 1)  # warm: zygote, page cache of the PCH and g++
        backend.compile_cache.clear()
        outcome = await backend_batch(backend, sources, concurrency)
        if cache:
            stats = backend.compile_cache.stats
            outcome.note = f"compile cache: {stats.hits} hits, {stats.misses} misses"
        return outcome
    finally:
        await backend.aclose()


async def docker_path(sources: list[str], concurrency: int) -> Outcome:
    from sandbox.docker_backend import DockerBackend
    from sandbox.docker_pool import DockerOptions

    image = os.environ.get("SANDBOX_IMAGE") or DockerOptions().image
    backend = DockerBackend(DockerOptions(image=image, warm_containers=concurrency, max_containers=concurrency))
    await backend.start()
    try:
        await backend_batch(backend, programs(1), 1)
        return await backend_batch(backend, sources, concurrency)
    finally:
        await backend.aclose()


def report(name: str, outcomes: dict[str, Outcome], baseline: str) -> None:
    base = outcomes[baseline]
    print(f"\n{name}: {len(base.outputs)} programs")
    print(f"  {'path':26} {'wall s':>8} {'CPU s':>8}   {'wall x':>7} {'CPU x':>7}   (x = baseline / path)")
    for path, outcome in outcomes.items():
        if outcome.outputs != base.outputs:
            raise SystemExit(f"{path}: outputs differ from the baseline's")
        print(
            f"  {path:26} {outcome.wall_s:8.2f} {outcome.cpu_s:8.2f}   "
            f"{base.wall_s / outcome.wall_s:6.2f}x {base.cpu_s / max(outcome.cpu_s, 1e-9):6.2f}x   {outcome.note}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=40)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--docker", action="store_true", help="also the docker backend (needs the image)")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; concurrency {args.concurrency}")
    n = args.concurrency

    distinct = programs(args.programs)
    paths: dict[str, Callable[[], Awaitable[Outcome]]] = {
        "plain g++ (baseline)": lambda: plain_batch(distinct, n),
        "process, no PCH/cache": lambda: process_path(distinct, n, pch=False, cache=False),
        "process + PCH": lambda: process_path(distinct, n, pch=True, cache=False),
    }
    if args.docker:
        paths["docker + PCH"] = lambda: docker_path(distinct, n)
    report("distinct", await rounds(paths, args.repeats), "plain g++ (baseline)")

    grpo = [source for source in programs(args.groups) for _ in range(args.group)]
    paths = {
        "plain g++ (baseline)": lambda: plain_batch(grpo, n),
        "process + PCH": lambda: process_path(grpo, n, pch=True, cache=False),
        "process + PCH + cache": lambda: process_path(grpo, n, pch=True, cache=True),
    }
    report(f"grpo ({args.groups} groups of {args.group})", await rounds(paths, args.repeats), "plain g++ (baseline)")


async def rounds(paths: dict[str, Callable[[], Awaitable[Outcome]]], repeats: int) -> dict[str, Outcome]:
    """Every path once per round; per path the median wall and CPU seconds (outputs: the first round's)."""
    seen: dict[str, list[Outcome]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, path in paths.items():
            seen[name].append(await path())
    return {
        name: Outcome(
            statistics.median(o.wall_s for o in runs),
            statistics.median(o.cpu_s for o in runs),
            runs[0].outputs,
            runs[-1].note,
        )
        for name, runs in seen.items()
    }


if __name__ == "__main__":
    asyncio.run(main())
