"""Options to executor: the one place that builds a sandbox backend or client from settings.

``SandboxOptions`` are the ``code`` reward's plugin options and what ``sandbox serve`` builds from its
flags. ``make_backend`` builds a local backend (``process``, ``docker``), ``make_executor`` any
``Executor``: those, or a client of ``sandbox serve`` instances (``remote``) or of the sandbox's Ray Serve
deployment (``ray``; ``sandbox.ray_serve`` is imported only then: it needs the ``ray`` extra). Nothing
starts here.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbox.client import SandboxClient
from sandbox.docker_backend import DockerBackend, DockerOptions
from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.types import Backend, Executor


class SandboxOptions(BaseModel):
    """Where programs run, and how."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["process", "docker", "remote", "ray"] = Field(
        "process",
        description="process: run programs in this host (bubblewrap); docker: in warm, locked-down containers "
        "of a local Docker engine (options under `docker`); remote: send them to `urls`; ray: to the sandbox "
        "deployment of this Ray Serve cluster (`ray_app`, needs the `ray` extra).",
    )
    urls: list[str] = Field(default_factory=list, description="Base URLs of `sandbox serve` instances (remote).")
    isolation: Literal["auto", "bwrap", "none"] = Field(
        "auto",
        description="process backend: auto and bwrap need bubblewrap and run no program without it (items "
        "get null and an error saying how to install it; /readyz says down); none runs programs unisolated "
        "(trusted code only, logged loudly at startup).",
    )
    cgroups: Literal["auto", "required", "off"] = Field(
        "auto",
        description="process backend: per-run cgroup limits (memory, CPU time of the whole tree, CPU share, "
        "processes); auto uses them where the host allows and says when it does not, required runs nothing "
        "without them.",
    )
    python: str | None = Field(
        None, description="process backend: interpreter for Python programs (a real binary, not a shim)."
    )
    max_concurrency: int | None = Field(
        None,
        gt=0,
        description="Programs running at once (process: default CPU count; docker: overrides docker.max_containers).",
    )
    docker: DockerOptions = Field(
        default_factory=DockerOptions,
        description="docker backend: image, engine URL, pool sizes, per-container CPU/pids/tmpfs sizes.",
    )
    request_timeout_s: float = Field(600.0, gt=0, description="remote: timeout of one request (all its runs).")
    ray_app: str = Field("sandbox", description="ray: the Serve application of the sandbox deployment.")


def make_backend(options: SandboxOptions) -> Backend:
    """The local backend the options name (``process`` or ``docker``)."""
    if options.backend == "docker":
        docker_options = options.docker
        if options.max_concurrency is not None:
            docker_options = docker_options.model_copy(
                update={
                    "max_containers": options.max_concurrency,
                    "warm_containers": min(docker_options.warm_containers, options.max_concurrency),
                }
            )
        return DockerBackend(docker_options)
    if options.backend != "process":
        raise ValueError(f"backend {options.backend!r} is not a local backend (process or docker)")
    process_options = ProcessOptions(isolation=options.isolation, python=options.python, cgroups=options.cgroups)
    if options.max_concurrency is not None:
        process_options = dataclasses.replace(process_options, max_concurrency=options.max_concurrency)
    return ProcessBackend(process_options)


def make_executor(options: SandboxOptions) -> Executor:
    """The executor the options name; raises ``ValueError`` for options that name no usable one."""
    if options.backend == "ray":
        from sandbox.ray_serve import SandboxHandleClient  # the `ray` extra, only where it is asked for

        return SandboxHandleClient(options.ray_app)
    if options.backend == "remote":
        if not options.urls:
            raise ValueError("backend 'remote' needs at least one URL in `urls`")
        return SandboxClient(options.urls, timeout_s=options.request_timeout_s)
    return make_backend(options)
