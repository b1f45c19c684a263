"""Fail closed: without bubblewrap the process backend, and the ``code`` reward on it, run no program.

Bubblewrap is hidden from the service by a PATH without it (``bwrap.find_bwrap`` looks it up there), in a
real uvicorn server. Unisolated runs take ``isolation = "none"``, logged loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
import verifier_code
from fastapi import FastAPI

from sandbox import cgroups
from sandbox.errors import SandboxUnavailable
from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.types import ExecStatus
from tests.sandbox.process_support import run_program
from tests.system import needs_bwrap
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

ECHO = {"tests": [{"input": "21\n", "output": "21\n"}]}
MARKER = "r1-fail-closed-ran"


def code_service(options: dict[str, Any]) -> FastAPI:
    pm = create_plugin_manager(load_entrypoints=False, plugins={"code": verifier_code})
    return create_app(Settings(plugin_options={"code": options}, log_level="warning"), plugin_manager=pm)


def hide_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no bwrap, no anything


@pytest.mark.parametrize("isolation", ["auto", "bwrap"])
def test_without_bubblewrap_the_backend_refuses_to_run_and_says_how_to_fix_it(
    isolation: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    hide_bwrap(monkeypatch, tmp_path)

    async def scenario() -> str:
        backend = ProcessBackend(ProcessOptions(isolation=isolation))  # type: ignore[arg-type]
        try:
            with pytest.raises(SandboxUnavailable) as refused:
                await backend.start()
            with pytest.raises(SandboxUnavailable):
                await run_program(backend, f"print('{MARKER}')")
            return str(refused.value)
        finally:
            await backend.aclose()

    message = anyio.run(scenario)
    assert "bubblewrap" in message and "apt-get install bubblewrap" in message and 'isolation = "none"' in message


def test_without_bubblewrap_code_items_are_null_with_the_reason_and_readyz_is_down(
    live_server: Callable[[FastAPI], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    hide_bwrap(monkeypatch, tmp_path)
    url = live_server(code_service({}))  # the defaults: backend process, isolation auto
    ready = httpx.get(f"{url}/readyz", timeout=30)
    assert ready.status_code == 503
    code = ready.json()["rewards"]["code"]
    assert code["status"] == "down" and "bubblewrap" in code["message"]
    items = [{"completion": f"```python\nprint(input())\nprint('{MARKER}')\n```", "reference": ECHO}] * 3
    response = httpx.post(f"{url}/v1/verify", json={"rewards": ["code"], "items": items}, timeout=60)
    assert response.status_code == 200
    for result in response.json()["results"]:
        assert result["scores"]["code"] is None and result["reward"] is None
        assert "apt-get install bubblewrap" in result["errors"]["code"]


@needs_bwrap
def test_isolation_none_is_explicit_loud_and_reported_not_isolated(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> tuple[str, bool, str, str]:
        backend = ProcessBackend(ProcessOptions(isolation="none"))
        with caplog.at_level(logging.WARNING, logger="sandbox.process"):
            await backend.start()
        try:
            health = await backend.health()
            result = await run_program(backend, "print(6 * 7)")
            return health.status, health.isolated, health.message, result.stdout
        finally:
            await backend.aclose()

    status, isolated, message, stdout = anyio.run(scenario)
    assert (status, isolated, stdout) == ("degraded", False, "42\n")
    assert "NOT ISOLATED" in message
    assert any("TRUSTED CODE ONLY" in record.getMessage() for record in caplog.records)


@needs_bwrap
def test_required_cgroups_that_the_host_lacks_refuse_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "_cgroup_mounts", lambda: {})  # a host with no cgroup hierarchy mounted

    async def scenario() -> tuple[str, str]:
        required = ProcessBackend(ProcessOptions(isolation="bwrap", cgroups="required"))
        with pytest.raises(SandboxUnavailable) as refused:
            await required.start()
        await required.aclose()
        relaxed = ProcessBackend(ProcessOptions(isolation="bwrap"))
        await relaxed.start()
        try:
            health = await relaxed.health()
            assert (await run_program(relaxed, "print(1)")).status is ExecStatus.OK
            return str(refused.value), f"{health.status}: {health.message}"
        finally:
            await relaxed.aclose()

    refused, health = anyio.run(scenario)
    assert 'cgroups = "required"' in refused and "cgroup" in refused
    assert health.startswith("degraded:") and "no per-run cgroup limits" in health
