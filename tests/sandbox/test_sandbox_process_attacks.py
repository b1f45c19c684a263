"""Containment: every attack in ``attacks.py`` against the process backend under real bubblewrap.

For each: the run ends with an allowed status, its output holds nothing forbidden, no process it started
is left (neither below the zygote nor anywhere on the host), the host's /tmp and /dev/shm are untouched,
the host listener saw no connection, and the backend still runs a program correctly afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path

import anyio
import pytest

from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.types import ExecStatus, Program, RunSpec
from tests.processes import descendants
from tests.sandbox.attacks import ATTACK_LIMITS, ATTACKS, DAEMON_MARKER, Attack, assert_contained
from tests.system import needs_bwrap

pytestmark = needs_bwrap


def processes_with_marker(marker: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def run_processes(zygote: int) -> list[int]:
    """Processes of runs below the zygote: those in a PID namespace nested below the zygote's own (the
    zygote's cells and the supervisors they fork ahead live in the zygote's namespace, runs one deeper)."""
    depths = {}
    for pid in descendants(zygote):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
        depths[pid] = len(nspid)
    if not depths:
        return []
    python_depth = min(
        depth for pid, depth in depths.items() if "python" in Path(f"/proc/{pid}/comm").read_text(errors="replace")
    )
    return [pid for pid, depth in depths.items() if depth > python_depth]


def shm_usage() -> int:
    return shutil.disk_usage("/dev/shm").used if os.path.isdir("/dev/shm") else 0


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_is_contained(attack: Attack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"r1-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("R1_SANDBOX_TEST_SECRET", secret)  # inherited by bubblewrap, never by the run
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    host_tmp_before = set(os.listdir("/tmp"))
    shm_before = shm_usage()

    async def scenario() -> None:
        backend = ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=2))
        await backend.start()
        try:
            zygote = backend.zygote_pid
            assert zygote is not None
            source = attack.render(secret=secret, secret_file=secret_file, port=port)
            async with backend.prepare(Program(language=attack.language, source=source)) as prepared:
                result = await prepared.run(RunSpec(limits=attack.limits))
            assert_contained(attack, result, secret)
            assert run_processes(zygote) == [], "a process of the run outlived it"
            assert processes_with_marker(DAEMON_MARKER) == []
            health = await backend.health()
            assert health.status == "ok" and health.isolated
            async with backend.prepare(Program(language="python", source="print(6 * 7)")) as prepared:
                after = await prepared.run(RunSpec())
            assert after.status is ExecStatus.OK and after.stdout == "42\n"
        finally:
            await backend.aclose()

    anyio.run(scenario)
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever connected
    listener.close()
    assert not {name for name in set(os.listdir("/tmp")) - host_tmp_before if name in ("big", "fill")}
    assert shm_usage() - shm_before < 64 * 1024 * 1024


def test_python_runs_are_isolated_from_each_other() -> None:
    """A file or a module change left by one run is invisible to the next (fresh /tmp, fresh fork)."""

    async def scenario() -> list[str]:
        backend = ProcessBackend(ProcessOptions(isolation="bwrap"))
        await backend.start()
        try:
            source = (
                "import os, math\nprint(os.path.exists('/tmp/left'), hasattr(math, 'planted'))\n"
                "open('/tmp/left', 'w').write('x')\nmath.planted = True\n"
            )
            async with backend.prepare(Program(language="python", source=source)) as prepared:
                return [(await prepared.run(RunSpec())).stdout for _ in range(2)]
        finally:
            await backend.aclose()

    assert anyio.run(scenario) == ["False False\n", "False False\n"]


def test_run_sees_no_host_environment_and_no_capabilities() -> None:
    source = (
        "import os\nprint(sorted(os.environ))\n"
        "print([l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1])\n"
        "print(os.listdir('/proc').count('1'), os.getpid())\n"
    )

    async def scenario() -> str:
        backend = ProcessBackend(ProcessOptions(isolation="bwrap"))
        await backend.start()
        try:
            async with backend.prepare(Program(language="python", source=source)) as prepared:
                return (await prepared.run(RunSpec())).stdout
        finally:
            await backend.aclose()

    env_line, caps, pid_line = anyio.run(scenario).splitlines()
    assert env_line == "['HOME', 'LANG', 'PATH', 'TMPDIR']"
    assert caps == "0000000000000000"
    assert pid_line == "1 1"  # pid 1 of its own PID namespace


def test_without_isolation_it_still_runs_and_says_it_is_not_isolated() -> None:
    async def scenario() -> tuple[str, bool, str, ExecStatus]:
        backend = ProcessBackend(ProcessOptions(isolation="none"))
        await backend.start()
        try:
            health = await backend.health()
            async with backend.prepare(Program(language="python", source="while True: pass")) as prepared:
                looping = await prepared.run(RunSpec(limits=ATTACK_LIMITS))
            return health.status, health.isolated, health.message, looping.status
        finally:
            await backend.aclose()

    status, isolated, message, looping = anyio.run(scenario)
    assert (status, isolated, looping) == ("degraded", False, ExecStatus.TIMEOUT)
    assert "NOT ISOLATED" in message
