"""Helpers shared by the benchmark scripts: a real server in a subprocess, timing, reporting."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def verifier_server(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``verifier serve`` on 127.0.0.1 in its own process, as a user would run it; yields the base URL."""
    with verifier_process(*args, env=env) as (url, _):
        yield url


@contextmanager
def verifier_process(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """As ``verifier_server``, yielding the URL and the server's pid (to account its CPU time)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "verifier", *args, "serve", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"verifier serve exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("verifier serve did not become ready")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def describe(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1e3:8.1f} ms  (min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f})"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
