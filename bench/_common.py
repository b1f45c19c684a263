"""Helpers shared by the benchmark scripts: a real server in a subprocess, timing, reporting."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from verifier.local import local_verifier


@contextmanager
def verifier_server(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``verifier serve`` on 127.0.0.1 in its own process, as a user would run it; yields the base URL."""
    with verifier_process(*args, env=env) as (url, _):
        yield url


@contextmanager
def verifier_process(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """As ``verifier_server``, yielding the URL and the server's pid (to account its CPU time)."""
    with local_verifier(*args, env=env) as verifier:
        yield verifier.url, verifier.pid


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
