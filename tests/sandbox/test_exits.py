"""The one exit classifier: one table of facts and the status each must read as, on every backend."""

from __future__ import annotations

import base64
import signal
from typing import Any

import pytest

from sandbox.docker_backend import to_result as docker_to_result
from sandbox.exits import ExitFacts, classify
from sandbox.process import to_result as process_to_result
from sandbox.types import ExecStatus, Limits

S = ExecStatus
LIMITS = Limits(wall_time_s=2.0, cpu_time_s=1.0, memory_mb=256, output_bytes=1000, file_size_mb=8)

TABLE: list[tuple[str, ExitFacts, ExecStatus, str]] = [
    ("clean exit", ExitFacts(exit_code=0, cpu_time_s=0.1), S.OK, ""),
    ("non-zero exit", ExitFacts(exit_code=3), S.RUNTIME_ERROR, "exit code 3"),
    ("abort", ExitFacts(signal=signal.SIGABRT), S.RUNTIME_ERROR, "SIGABRT"),
    ("segfault", ExitFacts(signal=signal.SIGSEGV), S.RUNTIME_ERROR, "SIGSEGV"),
    ("unknown signal number", ExitFacts(signal=200), S.RUNTIME_ERROR, "signal 200"),
    ("never started", ExitFacts(start_error="main: not found"), S.SANDBOX_ERROR, "could not start"),
    ("wall-time kill", ExitFacts(signal=signal.SIGKILL, killed_for="wall_time"), S.TIMEOUT, "wall-time"),
    # RLIMIT_CPU's SIGXCPU reads as the CPU limit even when rusage says less (0.81 s of 1 seen).
    ("SIGXCPU under the limit", ExitFacts(signal=signal.SIGXCPU, cpu_time_s=0.81), S.TIMEOUT, "CPU-time"),
    ("SIGXCPU at the limit", ExitFacts(signal=signal.SIGXCPU, cpu_time_s=1.0), S.TIMEOUT, "CPU-time"),
    ("hard CPU limit SIGKILL", ExitFacts(signal=signal.SIGKILL, cpu_time_s=0.99), S.TIMEOUT, "CPU-time"),
    ("launcher's 128+SIGXCPU", ExitFacts(exit_code=152, cpu_time_s=0.99), S.TIMEOUT, "CPU-time"),
    ("launcher's 137 at the CPU limit", ExitFacts(exit_code=137, cpu_time_s=1.0), S.TIMEOUT, "CPU-time"),
    ("launcher's 137 far under it", ExitFacts(exit_code=137, cpu_time_s=0.1), S.RUNTIME_ERROR, "137"),
    ("supervisor CPU kill", ExitFacts(signal=signal.SIGKILL, killed_for="cpu_time"), S.TIMEOUT, "CPU-time"),
    ("tree over its CPU limit, exit 0", ExitFacts(exit_code=0, cpu_time_s=4.0), S.TIMEOUT, "CPU-time"),
    ("SIGKILL far under the CPU limit", ExitFacts(signal=signal.SIGKILL, cpu_time_s=0.1), S.RUNTIME_ERROR, "SIGKILL"),
    ("output kill", ExitFacts(signal=signal.SIGKILL, killed_for="output"), S.OUTPUT_LIMIT, "output"),
    ("wall beats output", ExitFacts(signal=signal.SIGKILL, killed_for="wall_time"), S.TIMEOUT, "wall"),
    ("cgroup OOM kill", ExitFacts(signal=signal.SIGKILL, oom_killed=True), S.MEMORY_LIMIT, "OOM"),
    ("OOM of a child, exit 0", ExitFacts(exit_code=0, oom_killed=True), S.MEMORY_LIMIT, "OOM"),
    ("CPU beats OOM", ExitFacts(signal=signal.SIGXCPU, oom_killed=True), S.TIMEOUT, "CPU-time"),
    ("MemoryError under RLIMIT_AS", ExitFacts(exit_code=1, stderr="...\nMemoryError\n"), S.MEMORY_LIMIT, "memory"),
    ("bad_alloc abort", ExitFacts(signal=signal.SIGABRT, stderr="std::bad_alloc"), S.MEMORY_LIMIT, "memory"),
    ("JVM heap", ExitFacts(exit_code=1, stderr="java.lang.OutOfMemoryError"), S.MEMORY_LIMIT, "memory"),
    ("peak at the limit", ExitFacts(exit_code=1, peak_memory_mb=250.0), S.MEMORY_LIMIT, "memory"),
    ("MemoryError text but exit 0", ExitFacts(exit_code=0, stderr="MemoryError"), S.OK, ""),
    ("file too large", ExitFacts(signal=signal.SIGXFSZ), S.RUNTIME_ERROR, "over 8 MB"),
]


@pytest.mark.parametrize(("facts", "status", "says"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_classify_reads_each_exit_one_way(facts: ExitFacts, status: ExecStatus, says: str) -> None:
    got, message = classify(facts, LIMITS)
    assert got is status
    assert says in message


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def docker_reply(facts: ExitFacts) -> dict[str, Any]:
    """The runner's exec reply carrying ``facts`` (sandbox/runner/runner.py's field names)."""
    if facts.start_error is not None:
        return {"ok": True, "exec_error": facts.start_error}
    return {
        "ok": True,
        "exit_code": facts.exit_code,
        "signal": facts.signal,
        "stdout": _b64("out"),
        "stderr": _b64(facts.stderr),
        "stdout_truncated": facts.killed_for == "output",
        "stderr_truncated": False,
        "wall_s": 0.5,
        "cpu_s": facts.cpu_time_s,
        "max_rss_kb": facts.peak_memory_mb * 1024,
        "killed_for": facts.killed_for,
        "oom_kills": 1 if facts.oom_killed else 0,
    }


def process_report(facts: ExitFacts) -> dict[str, Any]:
    """The process backend's zygote report carrying ``facts`` (sandbox/_zygote.py's field names)."""
    verdict = {"wall_time": "timeout", "cpu_time": "cpu_timeout", "output": "output_limit"}
    report: dict[str, Any] = {
        "stdout": _b64("out"),
        "stderr": _b64(facts.stderr),
        "stdout_truncated": facts.killed_for == "output",
        "stderr_truncated": False,
        "wall_time_s": 0.5,
        "cpu_time_s": facts.cpu_time_s,
        "peak_memory_mb": facts.peak_memory_mb,
        "verdict": verdict.get(facts.killed_for or "", ""),
        "oom_killed": facts.oom_killed,
    }
    if facts.start_error is not None:
        report["start_error"] = facts.start_error
    if facts.signal is not None:
        report["signal"] = facts.signal
    else:
        report["exit_code"] = facts.exit_code
    return report


@pytest.mark.parametrize(("facts", "status"), [row[1:3] for row in TABLE], ids=[row[0] for row in TABLE])
def test_both_backends_read_the_same_facts_the_same_way(facts: ExitFacts, status: ExecStatus) -> None:
    docker = docker_to_result(docker_reply(facts), LIMITS)
    process = process_to_result(process_report(facts), LIMITS)
    assert docker.status is process.status is status
    assert docker.message == process.message
