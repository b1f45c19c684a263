"""The one decision on a missing system part (tests/system.py): a skip with the reason on a developer machine, a
failure when ``R1_REQUIRE_SYSTEM`` is set (CI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import system
from verifier.local import free_port


@pytest.fixture
def no_cached_answer() -> Iterator[None]:
    system.bwrap_problem.cache_clear()
    yield
    system.bwrap_problem.cache_clear()  # the real answer again for the tests that follow


def _path_with(tmp_path: Path, programs: dict[str, str]) -> str:
    """A PATH holding only these shell scripts."""
    for name, body in programs.items():
        script = tmp_path / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return str(tmp_path)


@pytest.mark.parametrize(
    ("required", "outcome"), [(None, pytest.skip.Exception), ("1", pytest.fail.Exception)], ids=["dev", "ci"]
)
def test_missing_bwrap_skips_or_fails(
    no_cached_answer: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    required: str | None,
    outcome: type[BaseException],
) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, {}))
    if required is None:
        monkeypatch.delenv(system.REQUIRE_SYSTEM, raising=False)
    else:
        monkeypatch.setenv(system.REQUIRE_SYSTEM, required)
    with pytest.raises(outcome, match="bubblewrap is not installed"):
        system.require_bwrap()


def test_bwrap_that_cannot_create_namespaces_is_missing(
    no_cached_answer: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = "echo 'bwrap: No permissions to create a new namespace' >&2; exit 1"
    monkeypatch.setenv("PATH", _path_with(tmp_path, {"bwrap": fake}))
    monkeypatch.setenv(system.REQUIRE_SYSTEM, "1")
    with pytest.raises(pytest.fail.Exception, match=r"cannot create its namespaces here: .*No permissions"):
        system.require_bwrap()


def test_a_working_bwrap_is_no_problem(no_cached_answer: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, {"bwrap": "exit 0"}))
    monkeypatch.setenv(system.REQUIRE_SYSTEM, "1")
    system.require_bwrap()


@pytest.mark.parametrize(
    ("required", "outcome"), [(None, pytest.skip.Exception), ("1", pytest.fail.Exception)], ids=["dev", "ci"]
)
def test_unreachable_docker_engine_skips_or_fails(
    monkeypatch: pytest.MonkeyPatch, required: str | None, outcome: type[BaseException]
) -> None:
    # TCP, not a missing unix socket: docker-py leaks the socket of a failed unix connect (an unraisable warning).
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    if required is None:
        monkeypatch.delenv(system.REQUIRE_SYSTEM, raising=False)
    else:
        monkeypatch.setenv(system.REQUIRE_SYSTEM, required)
    with pytest.raises(outcome, match="needs a Docker engine with some/image:tag"):
        system.require_docker("some/image:tag")


def test_missing_tool_names_itself_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, {}))
    monkeypatch.setenv(system.REQUIRE_SYSTEM, "1")
    with pytest.raises(pytest.fail.Exception, match=r"g\+\+ is not installed \(the C\+\+ tests\)"):
        system.require_tool("g++", "the C++ tests")


@pytest.mark.docker
def test_an_engine_without_the_image_is_missing_the_image() -> None:
    system.require_docker()  # a real engine, with the sandbox image
    problem = system.docker_problem("r1-verifier/no-such-image:never-built")
    assert problem is not None and "needs a Docker engine with r1-verifier/no-such-image:never-built" in problem
