"""``sandbox.factory``: options to executor for every backend, built without starting anything."""

from __future__ import annotations

import subprocess
import sys

import anyio
import pytest

from sandbox.cli import main
from sandbox.client import SandboxClient
from sandbox.docker_backend import DockerBackend, DockerOptions
from sandbox.factory import SandboxOptions, make_backend, make_executor
from sandbox.process import ProcessBackend
from sandbox.types import Backend, Executor


def test_process_options_reach_the_backend() -> None:
    backend = make_executor(SandboxOptions(isolation="none", python="/usr/bin/python3", max_concurrency=3))
    assert isinstance(backend, ProcessBackend) and isinstance(backend, Backend)
    assert (backend.options.isolation, backend.options.python, backend.options.max_concurrency) == (
        "none", "/usr/bin/python3", 3
    )  # fmt: skip


def test_max_concurrency_is_the_docker_container_ceiling() -> None:
    options = SandboxOptions(backend="docker", max_concurrency=1, docker=DockerOptions(image="x:y", warm_containers=4))
    backend = make_executor(options)
    assert isinstance(backend, DockerBackend)
    assert (backend.options.image, backend.options.max_containers, backend.options.warm_containers) == ("x:y", 1, 1)


def test_remote_and_ray_are_clients_behind_the_same_interface() -> None:
    remote = make_executor(SandboxOptions(backend="remote", urls=["http://a:1/", "http://b:2"], request_timeout_s=7))
    assert isinstance(remote, SandboxClient) and isinstance(remote, Executor)
    assert remote.urls == ["http://a:1", "http://b:2"]
    anyio.run(remote.aclose)
    from sandbox.ray_serve import SandboxHandleClient  # the `ray` extra

    ray = make_executor(SandboxOptions(backend="ray", ray_app="code-sandbox"))
    assert isinstance(ray, SandboxHandleClient) and isinstance(ray, Executor)
    assert ray.app_name == "code-sandbox"


def test_options_that_name_no_usable_executor_are_refused() -> None:
    with pytest.raises(ValueError, match="backend 'remote' needs at least one URL in `urls`"):
        make_executor(SandboxOptions(backend="remote"))
    with pytest.raises(ValueError, match="not a local backend"):
        make_backend(SandboxOptions(backend="remote", urls=["http://a:1"]))


def test_importing_the_factory_leaves_ray_unimported() -> None:
    code = "import sys, sandbox.factory; sys.exit(1 if 'ray' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_sandbox_serve_refuses_options_the_factory_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--max-concurrency", "0"])
    assert info.value.code == 2
    assert "max_concurrency" in capsys.readouterr().err
