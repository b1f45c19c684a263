"""Health that tells the truth on the docker backend: a backend that cannot start runs, or whose probe
program fails, is ``down`` and repairs itself (recycled containers) instead of failing items until a restart."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

import docker
import pytest

from sandbox.docker_pool import DockerOptions
from sandbox.types import ExecStatus, Program
from tests.sandbox.docker_support import started_backend
from tests.system import require_docker

pytestmark = pytest.mark.docker


@pytest.fixture
def private_image() -> Iterator[str]:
    """The sandbox image under a tag of this test's own, which it may remove and put back."""
    require_docker()
    tag = f"r1-verifier/sandbox:health-{uuid.uuid4().hex[:8]}"
    client = docker.from_env()
    try:
        client.images.get(DockerOptions().image).tag(tag)
        yield tag
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag)
        client.close()


def test_a_backend_whose_containers_all_hang_is_down_then_repairs_itself() -> None:
    with started_backend(DockerOptions(warm_containers=3, max_containers=3)) as box:
        assert box.run(box.backend.health()).status == "ok"  # the probe ran
        deadline = time.monotonic() + 120
        while box.backend.pool.counts()["idle"] < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        hung = box.backend.pool.container_ids()
        assert len(hung) == 3
        client = docker.from_env()
        try:
            for container_id in hung:
                client.api.pause(container_id)  # its runner answers nothing any more
            box.backend._last_good_run = float("-inf")  # the probe must run now, not trust a recent run
            broken = box.run(box.backend.health())
        finally:
            for container_id in hung:
                with contextlib.suppress(docker.errors.APIError):  # already removed by the repair
                    client.api.unpause(container_id)
            client.close()
        assert broken.status == "down" and "probe failed" in broken.message, broken
        # The probe's two leases recycled two hung containers; the repair replaced the one left idle.
        assert not set(hung) & set(box.backend.pool.container_ids())
        repaired = box.run(box.backend.health())
        assert repaired.status == "ok", repaired.message
        [result] = box.execute(Program(language="python", source="print(6 * 7)")).runs
        assert (result.status, result.stdout) == (ExecStatus.OK, "42\n")


def test_a_backend_that_cannot_create_containers_is_down_until_it_can(private_image: str) -> None:
    client = docker.from_env()
    try:
        with started_backend(DockerOptions(image=private_image, warm_containers=0, max_containers=1)) as box:
            assert box.run(box.backend.health()).status == "ok"
            for container_id in box.backend.pool.container_ids():
                client.api.kill(container_id)  # no container left, and none can be made
            client.images.remove(private_image)
            box.backend._last_good_run = float("-inf")
            broken = box.run(box.backend.health())
            assert broken.status == "down" and "probe failed" in broken.message, broken
            client.images.get(DockerOptions().image).tag(private_image)  # the operator puts it back
            repaired = box.run(box.backend.health())
            assert repaired.status == "ok", repaired.message
            [result] = box.execute(Program(language="python", source="print(6 * 7)")).runs
            assert (result.status, result.stdout) == (ExecStatus.OK, "42\n")
    finally:
        client.close()


def test_a_recent_good_run_vouches_for_the_backend_without_a_probe() -> None:
    with started_backend(DockerOptions(warm_containers=1, max_containers=1)) as box:
        box.execute(Program(language="python", source="print(1)"))
        before = box.backend.pool.recycled
        health = box.run(box.backend.health())
        assert health.status == "ok" and box.backend.pool.recycled == before
