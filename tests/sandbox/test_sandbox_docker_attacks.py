"""Containment: every attack in ``attacks.py`` against the docker backend on a real Docker engine.

For each: the run ends with an allowed status, its output holds nothing forbidden, the container it ran in
either holds nothing but its runner and zygote afterwards or (after misbehaviour) is removed from the engine, no
process it started is alive anywhere on the host, the host's /tmp and /dev/shm are untouched, the host
listener saw no connection, and the backend is still healthy and runs a program correctly afterwards.
Containers are found with the docker SDK by the backend's label.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from sandbox.docker_backend import DockerPrepared
from sandbox.docker_pool import DockerOptions, owner_identity
from sandbox.types import ExecResult, ExecStatus, Program, RunSpec
from tests.sandbox.attacks import ATTACKS, DAEMON_MARKER, Attack, assert_contained
from tests.sandbox.docker_support import LoopBackend, containers_of, host_processes_with, started_backend

pytestmark = pytest.mark.docker

# Removal of a recycled container runs in the pool's background thread; wait for it at most this long.
REMOVAL_DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def box() -> Iterator[LoopBackend]:
    with started_backend(DockerOptions(warm_containers=1, max_containers=4)) as box:
        pool = box.backend.pool.pool_id
        yield box
    assert containers_of(owner_identity(), pool) == [], "a sandbox container outlived the backend"


def shm_usage() -> int:
    return shutil.disk_usage("/dev/shm").used if os.path.isdir("/dev/shm") else 0


def run_attack(box: LoopBackend, program: Program, attack: Attack) -> tuple[ExecResult, str, str | None]:
    """Run it in one lease; the result, the container's id and why that container was recycled (if)."""

    async def go() -> tuple[ExecResult, str, str | None]:
        async with box.backend.prepare(program) as prepared:
            assert isinstance(prepared, DockerPrepared)
            if prepared.compile_result is not None:
                assert prepared.compile_result.ok, prepared.compile_result.stderr[-500:]
            result = await prepared.run(RunSpec(limits=attack.limits))
        return result, prepared.container_id, prepared.recycle_reason

    return box.run(go())


def processes_in(client: docker.DockerClient, container_id: str) -> list[list[str]] | None:
    """The processes of a container (``docker top``), or None when it no longer exists."""
    try:
        top = client.containers.get(container_id).top()
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:  # 409: not running (being removed)
        if exc.status_code == 409:
            return None
        raise
    return list(top.get("Processes") or [])


def wait_until_removed(client: docker.DockerClient, container_id: str) -> bool:
    deadline = time.monotonic() + REMOVAL_DEADLINE_S
    while time.monotonic() < deadline:
        if container_id not in {c.id for c in containers_of(owner_identity())}:  # by label, every state
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A host TCP listener on 127.0.0.1 that no run may reach."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.setblocking(False)
        yield sock


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_is_contained(
    box: LoopBackend,
    attack: Attack,
    listener: socket.socket,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = f"r1-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("R1_SANDBOX_TEST_SECRET", secret)  # in the host process; never in a container
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret)
    port = listener.getsockname()[1]
    host_tmp_before = set(os.listdir("/tmp"))
    shm_before = shm_usage()
    source = attack.render(secret=secret, secret_file=secret_file, port=port)

    result, container_id, recycled = run_attack(box, Program(language=attack.language, source=source), attack)

    assert_contained(attack, result, secret)

    client = docker.from_env(timeout=30)
    try:
        if result.status in (ExecStatus.TIMEOUT, ExecStatus.MEMORY_LIMIT, ExecStatus.OUTPUT_LIMIT):
            assert recycled is not None, "a container whose run misbehaved was given back to the pool"
        if recycled is not None:
            assert wait_until_removed(client, container_id), f"recycled container {container_id[:12]} lingers"
        else:
            processes = processes_in(client, container_id)
            assert processes is not None, container_id
            commands = sorted(process[-1] for process in processes)  # the runner and its zygote, nothing else
            assert len(commands) == 2 and commands[1].endswith("runner.py zygote"), commands
    finally:
        client.close()
    assert host_processes_with(DAEMON_MARKER) == []

    health = box.run(box.backend.health())
    assert (health.status, health.isolated) == ("ok", True), health.message
    [after] = box.execute(Program(language="python", source="print(6 * 7)")).runs
    assert (after.status, after.stdout) == (ExecStatus.OK, "42\n")

    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever connected
    assert not {name for name in set(os.listdir("/tmp")) - host_tmp_before if name in ("big", "fill")}
    assert shm_usage() - shm_before < 64 * 1024 * 1024


def test_secrets_of_the_host_are_not_in_the_container(box: LoopBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Positive control for ``read_secrets``: the run does read /proc and its environment, and finds no secret."""
    secret = f"r1-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("R1_SANDBOX_TEST_SECRET", secret)
    source = (
        "import os\nprint(sorted(os.environ))\nprint(open('/proc/self/environ', 'rb').read().count(b'='))\n"
        "print(os.path.exists('/var/run/docker.sock'), os.path.exists('/root/.docker'))\n"
    )
    [result] = box.execute(Program(language="python", source=source)).runs
    assert result.status is ExecStatus.OK, result.stderr
    names, count, files = result.stdout.splitlines()
    assert names == "['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']" and count == "5"
    assert files == "False False"
    assert secret not in result.stdout


def test_attacks_at_once_then_close_leave_nothing_behind() -> None:
    """Several hostile runs in parallel on one pool; after close, no container and no process of theirs."""
    hostile = [a for a in ATTACKS if a.name in ("fork_bomb", "leave_daemon", "sleep_forever", "memory_bomb")]

    async def scenario(box: LoopBackend) -> list[ExecResult]:
        async def one(attack: Attack) -> ExecResult:
            async with box.backend.prepare(Program(language=attack.language, source=attack.source)) as prepared:
                return await prepared.run(RunSpec(limits=attack.limits))

        return list(await asyncio.gather(*(one(a) for a in hostile)))

    with started_backend(DockerOptions(warm_containers=2, max_containers=4)) as box:
        pool = box.backend.pool.pool_id
        results = box.run(scenario(box))
        for attack, result in zip(hostile, results, strict=True):
            assert result.status in attack.expect, (attack.name, result.status, result.message)
    assert containers_of(owner_identity(), pool) == []
    assert host_processes_with(DAEMON_MARKER) == []
