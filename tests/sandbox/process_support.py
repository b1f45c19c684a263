"""Helpers for the process backend's tests: one backend per scenario, runs of source text."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.types import ExecResult, Limits, Program, RunSpec

T = TypeVar("T")

async def run_program(
    backend: ProcessBackend,
    source: str,
    *,
    language: str = "python",
    stdin: str = "",
    limits: Limits | None = None,
) -> ExecResult:
    async with backend.prepare(Program(language=language, source=source)) as prepared:
        if prepared.compile_result is not None and not prepared.compile_result.ok:
            return prepared.compile_result
        return await prepared.run(RunSpec(stdin=stdin, limits=limits or Limits()))


def with_backend(scenario: Callable[[ProcessBackend], Awaitable[T]], **options: Any) -> T:
    """Start an isolated backend, run ``scenario`` on it, close it."""

    async def main() -> T:
        backend = ProcessBackend(ProcessOptions(isolation="bwrap", **options))
        await backend.start()
        try:
            return await scenario(backend)
        finally:
            await backend.aclose()

    return anyio.run(main)


async def gather(*runs: Awaitable[T]) -> list[T]:
    return list(await asyncio.gather(*runs))
