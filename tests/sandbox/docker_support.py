"""Helpers for the docker backend's tests: a real engine, a backend on one event loop, host-side looks."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import docker
import docker.errors

from sandbox.docker_backend import DockerBackend
from sandbox.docker_pool import LABEL, OWNER_LABEL, POOL_LABEL, DockerOptions
from sandbox.types import ExecRequest, ExecResponse, Program, RunSpec, execute
from tests.system import require_docker

T = TypeVar("T")


class LoopBackend:
    """A started ``DockerBackend`` and the one event loop it lives on (its semaphore binds to it)."""

    def __init__(self, runner: asyncio.Runner, backend: DockerBackend) -> None:
        self.runner = runner
        self.backend = backend

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def execute(self, program: Program, *runs: RunSpec, stop_on_failure: bool = False) -> ExecResponse:
        request = ExecRequest(
            program=program, runs=list(runs) or [RunSpec()], stop_on_failure=stop_on_failure
        )
        return self.run(execute(self.backend, request))


@contextmanager
def started_backend(options: DockerOptions | None = None) -> Iterator[LoopBackend]:
    require_docker((options or DockerOptions()).image)
    with asyncio.Runner() as runner:
        backend = DockerBackend(options)
        runner.run(backend.start())
        try:
            yield LoopBackend(runner, backend)
        finally:
            runner.run(backend.aclose())


def containers_of(owner: str | None = None, pool: str | None = None) -> list[Any]:
    """Sandbox containers on the engine (all states), those of one owning process or one pool if given."""
    client = docker.from_env(timeout=30)
    try:
        wanted = [LABEL] + ([f"{OWNER_LABEL}={owner}"] if owner else []) + ([f"{POOL_LABEL}={pool}"] if pool else [])
        return list(client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True))
    finally:
        client.close()


def host_processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker``: container processes are visible from the host."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and int(name) != os.getpid():
            found.append(int(name))
    return found
