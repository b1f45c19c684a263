"""A pool of warm, locked-down sandbox containers, each running the runner (``sandbox/runner/runner.py``).

Why a pool: ``docker run`` costs ~400 ms and even ``docker exec`` ~90 ms here, while a request to a runner
that is already up costs about a millisecond on top of the program itself. So containers are created
ahead of time and kept idle; a caller leases one for a whole program (write, compile, runs), and hands it
back. Between leases the runner kills every process and wipes /work, /tmp and /dev/shm; a container whose
lease misbehaved (timeout, memory or output limit, processes left behind, a dirty reset, a broken channel)
or that served ``max_runs_per_container`` runs is destroyed instead and replaced in the background.

Every container has: no network, a read-only root, tmpfs scratch dirs, a random unprivileged uid of its
own (so per-uid rlimits such as RLIMIT_NPROC count that container only), all capabilities dropped,
no-new-privileges, and memory, CPU and pid limits. Containers carry a label naming the owning process;
containers of a dead owner are removed at start, and ``close`` removes all of its own pool's (a pool label:
one process may run several pools). The runner also
exits when its stdin closes (``StdinOnce``), so a host process that dies takes its containers with it.

Synchronous and thread-safe: the async backend calls it from worker threads.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.types import LogConfig
from pydantic import BaseModel, ConfigDict, Field

from sandbox.docker_channel import RunnerChannel
from sandbox.errors import SandboxUnavailable
from sandbox.types import Limits

log = logging.getLogger(__name__)

LABEL = "io.r1-verifier.sandbox"
OWNER_LABEL = f"{LABEL}.owner"
POOL_LABEL = f"{LABEL}.pool"  # one process may hold several pools; close() removes its own only
RUNNER_PROTOCOL = 3
RUNNER_SECCOMP = "io_uring denied"
# Docker's own masked paths (20.10 and later) plus what tells a program about the host: the kernel command
# line, loaded modules, kernel symbols. Setting MaskedPaths replaces Docker's list, so it is repeated here.
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/cmdline",
    "/proc/modules",
    "/proc/kallsyms",
)
# Random per-container uids come from this range: far above any uid a host or image assigns.
_UID_LOW, _UID_HIGH = 1_000_000, 2_000_000_000
_HELLO_TIMEOUT_S = 30.0
_RESET_TIMEOUT_S = 15.0
_DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
DEFAULT_DOCKER_SOCKET = "unix:///var/run/docker.sock"


def _probe_unix_socket(url: str) -> None:
    """Connect once to a unix-socket engine, raising ``OSError`` if nobody listens.

    docker-py leaks the socket of a connection that fails (it never closes it), so an engine that is down
    is found out here, with a socket we close ourselves.
    """
    if not url.startswith(("unix://", "http+unix://")):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        probe.connect(url.split("://", 1)[1])


class DockerOptions(BaseModel):
    """Settings of the docker backend and its container pool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = Field(
        "r1-verifier/sandbox:runner-3",
        description="Built by scripts/docker-setup.sh; the tag names the runner protocol it speaks.",
    )
    base_url: str | None = Field(
        None,
        description="Docker engine URL (unix:///var/run/docker.sock...); None: DOCKER_HOST or the default.",
    )
    warm_containers: int = Field(2, ge=0, le=256, description="Idle containers kept ready.")
    max_containers: int = Field(8, ge=1, le=1024, description="Containers alive at once (leased + idle).")
    max_runs_per_container: int = Field(
        100, ge=1, description="Runs after which a container is replaced even if every run behaved."
    )
    cpus: float = Field(1.0, gt=0, le=64, description="CPU share of each container.")
    pids_limit: int = Field(
        512,
        ge=16,
        description="Container-wide ceiling on tasks; each run's own limit is Limits.max_processes.",
    )
    work_tmpfs_mb: int = Field(
        256, ge=1, description="Size of /work (sources, binaries, files a run writes)."
    )
    tmp_tmpfs_mb: int = Field(256, ge=1, description="Size of /tmp.")
    shm_mb: int = Field(64, ge=1, description="Size of /dev/shm.")
    tmpfs_inodes: int = Field(
        16384, ge=64, le=1_000_000, description="Files and directories each of /work, /tmp, /dev/shm may hold."
    )
    memory_headroom_mb: int = Field(
        64,
        ge=0,
        description="Added to a run's memory limit for the container's cgroup (the runner and the zygote "
        "live there, and the sealed copy of /work).",
    )
    api_timeout_s: float = Field(60.0, gt=0, description="Timeout of one Docker API call.")
    fast_python: bool = Field(
        True,
        description="Run Python programs in a fork of the container's warm runner (modules pre-imported) "
        "instead of a fresh interpreter; images whose runner cannot do it get a fresh interpreter.",
    )


class SandboxContainer:
    """One warm container and the channel to its runner. Used by one lease at a time."""

    def __init__(self, container_id: str, uid: int, channel: RunnerChannel, memory_mb: int) -> None:
        self.id = container_id
        self.uid = uid
        self.channel = channel
        self.memory_mb = memory_mb  # the run memory limit its cgroup is set for now
        self.runs = 0
        self.toolchain: dict[str, str | None] = {}
        self.fork_python = False  # the runner can run Python programs in a fork of itself

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def call(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        return self.channel.call(message, timeout_s)


def process_identity(pid: int) -> str | None:
    """pid plus the process start time (clock ticks since boot): unique even when pids are reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return f"{pid}@{stat.rpartition(')')[2].split()[19]}"


def owner_identity() -> str:
    return f"{socket.gethostname()}/{process_identity(os.getpid())}"


def owner_is_gone(owner: str) -> bool:
    """True when ``owner`` names a process of this host that no longer exists (a crashed previous run)."""
    host, _, identity = owner.partition("/")
    if host != socket.gethostname() or "@" not in identity:
        return False  # another host's, or unreadable: not ours to judge
    pid = identity.partition("@")[0]
    return not pid.isdigit() or process_identity(int(pid)) != identity


class ContainerPool:
    def __init__(
        self,
        options: DockerOptions,
        toolchain: Iterable[str] = (),
        client_factory: Callable[[], docker.DockerClient] | None = None,
    ) -> None:
        self.options = options
        self._toolchain = sorted(set(toolchain))
        self._client_factory = client_factory or self._default_client
        self._client: docker.DockerClient | None = None
        self._owner = owner_identity()
        self.pool_id = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._idle: list[SandboxContainer] = []
        self._live: dict[str, SandboxContainer] = {}  # every container this pool created and not destroyed
        self._creating = 0
        self._closed = False
        self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-docker-pool")
        self.toolchain_paths: dict[str, str | None] = {}
        self.last_error: str | None = None
        self.recycled = 0

    # lifecycle

    def start(self) -> None:
        """Connect, check the image, remove containers that dead owners left, and warm the pool up."""
        try:
            self._client = self._client_factory()
            self._client.ping()
            self._client.images.get(self.options.image)
        except docker.errors.ImageNotFound as exc:
            self._drop_client()
            raise SandboxUnavailable(
                f"docker image {self.options.image!r} is missing: build it with scripts/docker-setup.sh"
            ) from exc
        except _DOCKER_ERRORS as exc:
            self._drop_client()
            raise SandboxUnavailable(f"docker engine unreachable: {exc}") from exc
        self.remove_strays()
        # One container synchronously: proves the whole path and learns which toolchains the image has.
        try:
            first = self._create()
        except BaseException:
            self._drop_client()  # a later start() retries with a fresh client
            raise
        self.toolchain_paths = dict(first.toolchain)
        with self._lock:
            self._idle.append(first)
        self._replenish_soon()

    def close(self) -> None:
        """Destroy every container of this pool; nothing of it is left running afterwards."""
        with self._lock:
            self._closed = True
            containers = list(self._live.values())
            self._idle.clear()
        self._background.shutdown(wait=True, cancel_futures=True)
        for container in containers:
            self._destroy(container)
        if self._client is not None:
            self._remove_labelled({POOL_LABEL: self.pool_id})
            self._client.close()

    def _is_closed(self) -> bool:
        with self._lock:
            return self._closed

    def _drop_client(self) -> None:
        """Close a client that failed to start, so its connections do not outlive the failure."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def remove_strays(self) -> int:
        """Remove labelled containers whose owning process on this host is gone, and stopped ones."""
        removed = 0
        for container in self._list_labelled({}):
            labels = container.labels or {}
            owner = labels.get(OWNER_LABEL, "")
            if container.status in ("created", "exited", "dead") or owner_is_gone(owner):
                log.warning("removing stray sandbox container %s (owner %s)", container.short_id, owner)
                self._remove(container.id)
                removed += 1
        return removed

    # leases

    def acquire(self) -> SandboxContainer:
        """An idle container, or a new one. The caller bounds concurrency to ``max_containers``."""
        with self._lock:
            if self._closed:
                raise SandboxUnavailable("the docker sandbox pool is closed")
            container = self._idle.pop() if self._idle else None
        if container is None:
            container = self._create()
        self._replenish_soon()
        return container

    def release(self, container: SandboxContainer, recycle_reason: str | None = None) -> None:
        """Give a leased container back: wiped and idle again, or destroyed (and replaced) if it misbehaved."""
        if recycle_reason is None and container.runs >= self.options.max_runs_per_container:
            recycle_reason = f"served {container.runs} runs"
        if recycle_reason is None and not container.channel.broken:
            try:
                reply = container.call({"op": "reset"}, _RESET_TIMEOUT_S)
            except SandboxUnavailable as exc:
                recycle_reason = str(exc)
            else:
                if not reply.get("clean"):
                    recycle_reason = "dirty after reset: " + "; ".join(reply.get("problems", []))
        elif container.channel.broken:
            recycle_reason = recycle_reason or "broken channel"
        with self._lock:
            keep = recycle_reason is None and not self._closed
            if keep:
                self._idle.append(container)
        if not keep:
            log.debug("recycling sandbox container %s: %s", container.short_id, recycle_reason)
            self.recycled += 1
            self._submit(self._destroy, container)
            self._replenish_soon()

    def recycle_idle(self) -> int:
        """Destroy every idle container (a failed probe says they may be broken) and warm new ones."""
        with self._lock:
            idle, self._idle = self._idle, []
        for container in idle:
            self.recycled += 1
            self._destroy(container)
        self._replenish_soon()
        return len(idle)

    def set_memory(self, container: SandboxContainer, memory_mb: int) -> None:
        """Point the container's cgroup memory limit at a run's limit (one API call, ~10 ms; only on change)."""
        if container.memory_mb == memory_mb:
            return
        limit = (memory_mb + self.options.memory_headroom_mb) * 1024 * 1024
        try:
            self._api().update_container(container.id, mem_limit=limit, memswap_limit=limit)
        except _DOCKER_ERRORS as exc:
            raise SandboxUnavailable(f"cannot set the memory limit of {container.short_id}: {exc}") from exc
        container.memory_mb = memory_mb

    # introspection

    def ping(self) -> None:
        if self._client is None:
            raise SandboxUnavailable("the docker sandbox pool is not started")
        try:
            self._client.ping()
        except _DOCKER_ERRORS as exc:
            raise SandboxUnavailable(f"docker engine unreachable: {exc}") from exc

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"idle": len(self._idle), "live": len(self._live), "creating": self._creating}

    def container_ids(self) -> list[str]:
        with self._lock:
            return list(self._live)

    # internals

    def _default_client(self) -> docker.DockerClient:
        _probe_unix_socket(self.options.base_url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_SOCKET)
        if self.options.base_url is not None:
            return docker.DockerClient(
                base_url=self.options.base_url, timeout=int(self.options.api_timeout_s)
            )
        return docker.from_env(timeout=int(self.options.api_timeout_s))

    def _api(self) -> docker.APIClient:
        if self._client is None:
            raise SandboxUnavailable("the docker sandbox pool is not started")
        return self._client.api

    def _create(self) -> SandboxContainer:
        options = self.options
        api = self._api()
        uid = _UID_LOW + secrets.randbelow(_UID_HIGH - _UID_LOW)
        memory_mb = Limits().memory_mb
        memory = (memory_mb + options.memory_headroom_mb) * 1024 * 1024
        # Files as well as bytes are capped: a run cannot leave more than the runner can remove in a moment.
        scratch = "rw,{},nosuid,nodev,size={}m,nr_inodes={},mode=1777"
        inodes = options.tmpfs_inodes
        with self._lock:
            self._creating += 1
        container_id: str | None = None
        channel: RunnerChannel | None = None
        try:
            host_config = api.create_host_config(
                network_mode="none",
                read_only=True,
                tmpfs={
                    "/work": scratch.format("exec", options.work_tmpfs_mb, inodes),
                    "/tmp": scratch.format("exec", options.tmp_tmpfs_mb, inodes),
                    "/dev/shm": scratch.format("noexec", options.shm_mb, inodes),
                },
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                mem_limit=memory,
                memswap_limit=memory,
                nano_cpus=int(options.cpus * 1e9),
                pids_limit=options.pids_limit,
                ipc_mode="private",
                auto_remove=True,
                log_config=LogConfig(type=LogConfig.types.NONE),
            )
            # Not in docker-py's signature: a private cgroup namespace (/proc/self/cgroup shows "/", not the
            # container id) and the masked paths (/proc/cmdline reads empty).
            host_config["CgroupnsMode"] = "private"
            host_config["MaskedPaths"] = list(MASKED_PATHS)
            # detach=False + stdin_open=True sets StdinOnce: our closing the socket ends the runner.
            container_id = api.create_container(
                options.image,
                user=f"{uid}:{uid}",
                detach=False,
                stdin_open=True,
                hostname="sandbox",
                labels={LABEL: "1", OWNER_LABEL: self._owner, POOL_LABEL: self.pool_id},
                host_config=host_config,
            )["Id"]
            # Attach before start so that not a byte of the runner's output is missed.
            sock = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            channel = RunnerChannel(_raw_socket(sock), sock if isinstance(sock, io.IOBase) else None)
            api.start(container_id)
            hello = channel.call({"op": "hello", "which": self._toolchain}, _HELLO_TIMEOUT_S)
            if hello.get("protocol") != RUNNER_PROTOCOL:
                raise SandboxUnavailable(
                    f"image {options.image!r} speaks runner protocol {hello.get('protocol')}, "
                    f"expected {RUNNER_PROTOCOL}: rebuild it with scripts/docker-setup.sh"
                )
            if hello.get("seccomp") != RUNNER_SECCOMP:
                raise SandboxUnavailable(f"the sandbox runner could not deny io_uring: {hello.get('seccomp')}")
            container = SandboxContainer(container_id, uid, channel, memory_mb)
            container.toolchain = dict(hello.get("paths", {}))
            container.fork_python = bool(hello.get("fork_python"))
        except BaseException as exc:
            if channel is not None:
                channel.close()
            if container_id is not None:
                self._remove(container_id)
            self.last_error = f"cannot start a sandbox container: {exc}"
            if isinstance(exc, _DOCKER_ERRORS):
                raise SandboxUnavailable(self.last_error) from exc
            raise
        finally:
            with self._lock:
                self._creating -= 1
        self.last_error = None
        with self._lock:
            self._live[container_id] = container
            if self._closed:  # closed while we were creating: don't leave it behind
                del self._live[container_id]
                closed = True
            else:
                closed = False
        if closed:
            self._destroy(container)
            raise SandboxUnavailable("the docker sandbox pool is closed")
        return container

    def _replenish_soon(self) -> None:
        self._submit(self._replenish)

    def _replenish(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                missing = self.options.warm_containers - len(self._idle) - self._creating
                room = self.options.max_containers - len(self._live) - self._creating
                if missing <= 0 or room <= 0:
                    return
            try:
                container = self._create()
            except Exception as exc:
                if self._is_closed():  # closed while creating: nothing to warm any more
                    return
                log.warning("sandbox pool cannot warm a container: %s", exc)
                time.sleep(1.0)  # the engine may be restarting; the next lease or release tries again
                return
            with self._lock:
                # Fresh containers go under the ones given back: a lease takes the most recently used one.
                self._idle.insert(0, container)

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # executor already shut down: close() handles the rest
            self._background.submit(fn, *args)

    def _destroy(self, container: SandboxContainer) -> None:
        with self._lock:
            self._live.pop(container.id, None)
        container.channel.close()
        self._remove(container.id)

    def _remove(self, container_id: str) -> None:
        try:
            self._api().remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass  # auto-removed already
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: removal already in progress (auto-remove)
                log.warning("cannot remove sandbox container %s: %s", container_id[:12], exc)
        except _DOCKER_ERRORS as exc:
            log.warning("cannot remove sandbox container %s: %s", container_id[:12], exc)

    def _list_labelled(self, labels: dict[str, str]) -> list[Any]:
        wanted = [LABEL] + [f"{key}={value}" for key, value in labels.items()]
        try:
            assert self._client is not None
            return list(self._client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True))
        except _DOCKER_ERRORS as exc:
            log.warning("cannot list sandbox containers: %s", exc)
            return []

    def _remove_labelled(self, labels: dict[str, str]) -> None:
        for container in self._list_labelled(labels):
            self._remove(container.id)


def _raw_socket(attached: Any) -> socket.socket:
    """The plain socket under docker-py's attach wrapper (a ``socket.SocketIO`` for unix/tcp transports)."""
    raw = getattr(attached, "_sock", attached)
    if not isinstance(raw, socket.socket):
        raise SandboxUnavailable(f"unsupported docker transport for attach: {type(attached).__name__}")
    return raw
