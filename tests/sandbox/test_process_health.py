"""Health that tells the truth: the probe program decides, and a broken backend repairs itself."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from sandbox.process import ProcessBackend
from sandbox.types import ExecStatus
from tests.processes import descendants, process_tree
from tests.sandbox.process_support import run_program, with_backend
from tests.system import needs_bwrap

pytestmark = needs_bwrap


def zygote_cells(outer: int) -> list[int]:
    """The cells: children of the first Python process below bubblewrap (the zygote)."""
    tree = process_tree()
    for pid in descendants(outer):
        if "python" in Path(f"/proc/{pid}/comm").read_text():
            return list(tree.get(pid, []))
    return []


def test_killed_cells_fail_runs_as_sandbox_errors_and_the_health_check_repairs_them() -> None:
    async def scenario(backend: ProcessBackend) -> tuple[Any, ...]:
        assert (await run_program(backend, "print(1)")).stdout == "1\n"
        outer = backend.zygote_pid
        assert outer is not None
        cells = zygote_cells(outer)
        assert len(cells) >= 2
        for pid in cells:
            os.kill(pid, signal.SIGKILL)
        broken = await run_program(backend, "print(2)")
        health = await backend.health()
        after = [await run_program(backend, f"print({i})") for i in range(4)]
        return broken.status, health.status, [r.stdout for r in after]

    broken, health, after = with_backend(scenario, max_concurrency=2)
    assert broken is ExecStatus.SANDBOX_ERROR  # never a verdict about the program
    assert health == "ok"
    assert after == ["0\n", "1\n", "2\n", "3\n"]


def test_a_dead_zygote_is_down_until_it_can_be_restarted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    async def scenario(backend: ProcessBackend) -> tuple[str, str, str, str]:
        outer = backend.zygote_pid
        assert outer is not None
        monkeypatch.setenv("PATH", str(tmp_path))  # bubblewrap can no longer be found: no repair possible
        os.kill(outer, signal.SIGKILL)
        down = await backend.health()
        monkeypatch.undo()
        repaired = await backend.health()
        result = await run_program(backend, "print('back')")
        return down.status, down.message, repaired.status, result.stdout

    down, message, repaired, stdout = with_backend(scenario)
    assert down == "down" and "bubblewrap" in message
    assert repaired == "ok" and stdout == "back\n"
