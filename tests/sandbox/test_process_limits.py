"""Limits per run, not per process: memory, CPU time and processes as one budget for the whole run tree
(a cgroup per run; this host has cgroup v1), and a fair CPU share between concurrent runs."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.types import ExecStatus, Limits
from tests.sandbox.process_support import gather, run_program, with_backend
from tests.system import needs_bwrap

pytestmark = needs_bwrap

FOUR_CHILDREN_OF_700_MB = (
    "import os\n"
    "pids = []\n"
    "for _ in range(4):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        block = bytearray(700 * 1024 * 1024)\n"
    "        for i in range(0, len(block), 4096):\n"
    "            block[i] = 1\n"
    "        os._exit(0)\n"
    "    pids.append(pid)\n"
    "ok = sum(os.waitpid(pid, 0)[1] == 0 for pid in pids)\n"
    "print('children that held 700 MB:', ok)\n"
    "print('ALL-FOUR' if ok == 4 else 'refused')\n"
)
BUSY_CHILDREN = (
    "import os, time\n"
    "for _ in range({n}):\n"
    "    if os.fork() == 0:\n"
    "        os.setsid()\n"
    "        while True:\n"
    "            pass\n"
    "time.sleep(60)\n"
)
HONEST = "total = 0\nfor i in range(1_000_000):\n    total += i\nprint(total)\n"


def test_memory_is_one_budget_for_all_processes_of_a_run() -> None:
    async def scenario(backend: ProcessBackend) -> tuple[ExecStatus, str]:
        result = await run_program(
            backend, FOUR_CHILDREN_OF_700_MB, limits=Limits(memory_mb=1024, wall_time_s=20, cpu_time_s=20)
        )
        return result.status, result.stdout

    status, stdout = with_backend(scenario)
    assert "ALL-FOUR" not in stdout
    assert status in (ExecStatus.OK, ExecStatus.MEMORY_LIMIT, ExecStatus.RUNTIME_ERROR)


def test_cpu_time_counts_the_whole_tree() -> None:
    """Four children of about a CPU-second each, each under its own RLIMIT_CPU of 1 s: the run's tree
    used 4 s and the run is stopped at its 1 s, not reported ok."""
    spread = (
        "import os, time\n"
        "pids = []\n"
        "for _ in range(4):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        end = time.process_time() + 0.9\n"
        "        while time.process_time() < end:\n"
        "            pass\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "for pid in pids:\n"
        "    os.waitpid(pid, 0)\n"
        "print('did 3.6 CPU-seconds')\n"
    )

    async def scenario(backend: ProcessBackend) -> tuple[ExecStatus, float | None, str]:
        result = await run_program(backend, spread, limits=Limits(cpu_time_s=1.0, wall_time_s=30))
        return result.status, result.cpu_time_s, result.stdout

    status, cpu, stdout = with_backend(scenario)
    assert status is ExecStatus.TIMEOUT and "did 3.6" not in stdout
    assert cpu is not None and 0.95 <= cpu < 3.0


def test_a_run_with_sixty_busy_setsid_children_leaves_a_concurrent_honest_run_its_share() -> None:
    """The honest run needs a fraction of a CPU-second; next to sixty spinning processes of another run it
    still finishes within its limits (each run's cgroup has the same CPU weight and at most one CPU)."""

    async def scenario(backend: ProcessBackend) -> tuple[ExecStatus, ExecStatus, str]:
        hog, honest = await gather(
            run_program(backend, BUSY_CHILDREN.replace("{n}", "60"), limits=Limits(wall_time_s=8, cpu_time_s=30)),
            run_program(backend, "import time\ntime.sleep(1)\n" + HONEST, limits=Limits(wall_time_s=10, cpu_time_s=2)),
        )
        return hog.status, honest.status, honest.stdout

    hog, honest, stdout = with_backend(scenario, max_concurrency=2)
    assert hog is ExecStatus.TIMEOUT
    assert honest is ExecStatus.OK and stdout == f"{sum(range(1_000_000))}\n"


def test_processes_are_counted_per_run() -> None:
    forker = (
        "import os, time\n"
        "made = 0\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(5); os._exit(0)\n"
        "        made += 1\n"
        "    except OSError:\n"
        "        break\n"
        "print('made', made)\n"
    )

    async def scenario(backend: ProcessBackend) -> str:
        return (await run_program(backend, forker, limits=Limits(max_processes=16, wall_time_s=3))).stdout

    made = int(with_backend(scenario).split()[-1])
    assert made < 16


@pytest.mark.parametrize("language", ["python", "cpp"])
def test_an_honest_program_runs_under_the_cgroup_limits(language: str) -> None:
    source = HONEST if language == "python" else '#include <cstdio>\nint main(){ puts("42"); }\n'

    async def scenario(backend: ProcessBackend) -> tuple[ExecStatus, str, str]:
        health = await backend.health()
        result = await run_program(backend, source, language=language)
        return result.status, result.stdout, health.message

    status, stdout, message = with_backend(scenario)
    assert status is ExecStatus.OK and stdout in (f"{sum(range(1_000_000))}\n", "42\n")
    assert "per-run cgroup" in message


def test_two_backends_of_one_process_keep_their_own_cgroups() -> None:
    """Closing one backend must not remove the other's cgroups (each has a base of its own)."""

    async def go() -> tuple[bool, ExecStatus, str]:
        first = ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=2))
        second = ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=2))
        await first.start()
        await second.start()
        try:
            await first.aclose()
            result = await run_program(second, "print('still here')", limits=Limits(wall_time_s=10))
            return second.cgroup_support.available, result.status, result.stdout
        finally:
            await second.aclose()

    with_cgroups, status, stdout = asyncio.run(go())
    assert (status, stdout) == (ExecStatus.OK, "still here\n")
    if not with_cgroups:
        pytest.skip("no usable cgroups here: the runs above had none to lose")
