"""The system parts some tests need (bubblewrap, a Docker engine and the sandbox image, toolchains), decided in one
place.

On a developer machine a missing part skips the tests that need it, with the reason. With ``R1_REQUIRE_SYSTEM``
set (scripts/test.sh sets it under CI, where scripts/system-setup.sh installed every part) the same absence is a
failure: a suite that skipped its sandbox tests would pass while testing nothing.
"""

from __future__ import annotations

import functools
import os
import shutil
from typing import NoReturn

import docker
import docker.errors
import pytest

from sandbox.bwrap import bwrap_works, find_bwrap
from sandbox.docker_pool import DockerOptions

REQUIRE_SYSTEM = "R1_REQUIRE_SYSTEM"

# A test (or a module's ``pytestmark``) that needs a working bubblewrap; the fixture is in tests/conftest.py.
needs_bwrap = pytest.mark.usefixtures("bubblewrap")


def system_required() -> bool:
    return bool(os.environ.get(REQUIRE_SYSTEM))


def missing(reason: str) -> NoReturn:
    """A part this test needs is not here: fail when the system is required, else skip."""
    if system_required():
        pytest.fail(f"{reason} ({REQUIRE_SYSTEM} is set, so this part is required)", pytrace=False)
    pytest.skip(reason)


@functools.cache
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox here, or None when it can (asked once: the answer holds for the session)."""
    bwrap = find_bwrap()
    if bwrap is None:
        return "bubblewrap is not installed (scripts/system-setup.sh installs it)"
    works, stderr = bwrap_works(bwrap)
    return None if works else f"bubblewrap cannot create its namespaces here: {stderr}"


def require_bwrap() -> None:
    if (problem := bwrap_problem()) is not None:
        missing(problem)


def docker_problem(image: str) -> str | None:
    """Why no sandbox container can start here (no engine, or no ``image`` on it), or None."""
    try:
        client = docker.from_env(timeout=10)
        try:
            client.ping()
            client.images.get(image)
        finally:
            client.close()
    except docker.errors.DockerException as exc:
        return f"needs a Docker engine with {image} (run scripts/docker-setup.sh): {exc}"
    return None


def require_docker(image: str = DockerOptions().image) -> None:
    if (problem := docker_problem(image)) is not None:
        missing(problem)


def require_tool(name: str, why: str = "") -> None:
    """A program on PATH (a compiler, docker compose's binary)."""
    if shutil.which(name) is None:
        missing(f"{name} is not installed{f' ({why})' if why else ''}")
