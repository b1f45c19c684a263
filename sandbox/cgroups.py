"""One cgroup per process-backend run: memory, CPU and processes as one budget for the whole run.

The host (this module, in the service) creates ``<own cgroup>/r1-sandbox-<pid>-<n>/<run>`` (one base per
backend) in every needed hierarchy and opens the files the sandbox needs; the open descriptors travel to a
supervisor forked for the run ahead of time (``_zygote.py``), which joins by writing ``0`` to ``cgroup.procs``
through a descriptor opened here, so the sandbox needs no view of ``/sys`` and no rights of its own. Joining a
cgroup takes a global kernel lock (milliseconds, more under load): done ahead of the request it costs the run
nothing, and the run's processes are born inside. The run's limits are written when its request comes
(``RunCgroup.apply``); the supervisor reads CPU usage (it kills the run at its CPU limit, counted for the
whole tree), peak memory and OOM kills through the others. tmpfs pages the run writes (``/tmp``, ``/dev/shm``,
``/work``) are charged to its memory cgroup: disk is part of the same budget.

- **cgroup v2** (first choice): one directory under the unified hierarchy with ``memory``, ``cpu``,
  ``pids`` enabled in its parent. ``memory.max`` (no swap), ``cpu.max`` (at most ``cpus`` CPUs),
  ``cpu.weight`` equal for every run (a run with sixty processes gets the share of one run), ``pids.max``.
  When our own cgroup holds this process only, it moves into a leaf ``service`` child so that controllers
  can be enabled ("no internal processes"); a cgroup shared with other processes cannot be used.
- **cgroup v1** (where the host has it): the same limits in the ``memory``, ``cpu``, ``cpuacct`` and
  ``pids`` hierarchies (``memory.limit_in_bytes`` plus ``memsw``, ``cpu.cfs_quota_us``, ``cpu.shares``).

Without write access to either (not root, no delegation) ``probe`` says why and the backend reports it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Version = Literal["v1", "v2"]
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
V2_CONTROLLERS = ("memory", "cpu", "pids")
CFS_PERIOD_US = 100_000
CELL_PROCESSES = 3


@dataclass
class RunCgroup:
    """The open cgroup of one run: ``fds`` go to the sandbox, ``layout`` tells it which is which."""

    dirs: list[Path]
    fds: list[int]
    layout: dict[str, Any]
    version: Version
    memory: Path | None = None
    pids: Path | None = None

    def apply(self, memory_mb: int, max_processes: int) -> None:
        """The limits of the run about to start (the cgroup exists, and holds its supervisor, before)."""
        assert self.memory is not None and self.pids is not None
        memory_bytes = str(memory_mb * 1024 * 1024)
        if self.version == "v2":
            _write(self.memory / "memory.max", memory_bytes)
        else:
            # memsw (memory + swap) may not go below memory: order the two writes by direction.
            memsw = self.memory / "memory.memsw.limit_in_bytes"
            current = _read(self.memory / "memory.limit_in_bytes").strip()
            if current and int(current) > int(memory_bytes):
                _write(self.memory / "memory.limit_in_bytes", memory_bytes)
                _write(memsw, memory_bytes, optional=True)
            else:
                _write(memsw, memory_bytes, optional=True)
                _write(self.memory / "memory.limit_in_bytes", memory_bytes)
            _write(self.memory / "memory.max_usage_in_bytes", "0")  # the peak of this run, not the last
        # The cell and two supervisors (the run's, the next one's) live here too; RLIMIT_NPROC, counted
        # in the run's own user namespace, bounds the run itself exactly.
        _write(self.pids / "pids.max", str(max_processes + CELL_PROCESSES))

    def close_fds(self) -> None:
        """The host's copies: once handed to the supervisor, the host needs only the directories."""
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []

    def close(self) -> None:
        """Remove the cgroup, killing what is left in it (blocking: retries while processes exit)."""
        self.close_fds()
        for directory in self.dirs:
            _remove(directory, self.version)
        self.dirs = []


@dataclass
class Cgroups:
    """Per-run cgroups under this service's own, or the reason there are none (``reason``)."""

    version: Version | None = None
    bases: dict[str, Path] = field(default_factory=dict)  # controller -> our r1-sandbox directory
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.version is not None

    def describe(self) -> str:
        if self.version is None:
            return f"no per-run cgroup limits ({self.reason}): memory, CPU and processes are per-process rlimits"
        return f"per-run cgroup {self.version} limits (memory incl. tmpfs, CPU time of the tree, CPU share, pids)"

    def create(self, cpus: float, memory_mb: int = 256, max_processes: int = 64) -> RunCgroup:
        """A fresh cgroup for one run, with its CPU quota and first limits written, its descriptors open."""
        assert self.version is not None
        name = uuid.uuid4().hex
        dirs: list[Path] = []
        fds: list[int] = []

        def open_fd(path: Path, flags: int) -> int:
            fds.append(os.open(path, flags | os.O_CLOEXEC))
            return len(fds) - 1

        try:
            memory_bytes = memory_mb * 1024 * 1024
            quota = max(1000, int(cpus * CFS_PERIOD_US))
            if self.version == "v2":
                directory = self.bases["memory"] / name
                directory.mkdir()
                dirs.append(directory)
                _write(directory / "memory.max", str(memory_bytes))
                _write(directory / "memory.swap.max", "0", optional=True)
                _write(directory / "cpu.max", f"{quota} {CFS_PERIOD_US}")
                _write(directory / "pids.max", str(max_processes))
                memory_dir = pids_dir = directory
                layout: dict[str, Any] = {
                    "version": "v2",
                    "procs": [open_fd(directory / "cgroup.procs", os.O_WRONLY)],
                    "cpu": open_fd(directory / "cpu.stat", os.O_RDONLY),
                    "peak": _open_optional(directory / "memory.peak", open_fd),
                    "oom": open_fd(directory / "memory.events", os.O_RDONLY),
                }
            else:
                made: dict[Path, Path] = {}
                for controller in V1_CONTROLLERS:
                    base = self.bases[controller]
                    if base not in made:
                        made[base] = base / name
                        made[base].mkdir()
                        dirs.append(made[base])
                memory = made[self.bases["memory"]]
                _write(memory / "memory.limit_in_bytes", str(memory_bytes))
                _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes), optional=True)
                cpu = made[self.bases["cpu"]]
                _write(cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(quota))
                pids_dir = made[self.bases["pids"]]
                _write(pids_dir / "pids.max", str(max_processes))
                memory_dir = memory
                layout = {
                    "version": "v1",
                    "procs": [open_fd(d / "cgroup.procs", os.O_WRONLY) for d in dirs],
                    "cpu": open_fd(made[self.bases["cpuacct"]] / "cpuacct.usage", os.O_RDONLY),
                    "peak": open_fd(memory / "memory.max_usage_in_bytes", os.O_RDONLY),
                    "oom": open_fd(memory / "memory.oom_control", os.O_RDONLY),
                }
        except OSError:
            RunCgroup(dirs, fds, {}, self.version).close()
            raise
        return RunCgroup(dirs, fds, layout, self.version, memory_dir, pids_dir)

    def weigh(self, runs: int) -> None:
        """Give our base the CPU weight of ``runs`` ordinary processes: each run then competes with the
        host's other work as one process would, and with concurrent runs as an equal."""
        if self.version == "v2":
            _write(self.bases["cpu"] / "cpu.weight", str(min(10000, 100 * runs)), optional=True)
        elif self.version == "v1":
            _write(self.bases["cpu"] / "cpu.shares", str(1024 * runs), optional=True)

    def close(self) -> None:
        for base in set(self.bases.values()):
            _remove(base, self.version or "v1")


def probe(mode: Literal["auto", "required", "off"] = "auto") -> Cgroups:
    """Find and prepare this service's cgroup base, v2 first; a ``Cgroups`` with a reason when unusable."""
    if mode == "off":
        return Cgroups(reason="cgroups = 'off' in the options")
    mounts = _cgroup_mounts()
    own = _own_cgroups()
    reasons = []
    v2_mount = mounts.get("cgroup2")
    if v2_mount is not None and "" in own:
        found = _probe_v2(v2_mount, own[""])
        if found.available:
            return found
        reasons.append(found.reason)
    v1 = _probe_v1(mounts, own)
    if v1.available:
        return v1
    reasons.append(v1.reason)
    return Cgroups(reason="; ".join(r for r in reasons if r))


def _probe_v2(mount: tuple[Path, str], own: str) -> Cgroups:
    root, mount_root = mount
    current = root / _relative(own, mount_root)
    available = set(_read(current / "cgroup.controllers").split())
    missing = [c for c in V2_CONTROLLERS if c not in available]
    if missing:
        return Cgroups(reason=f"cgroup v2 at {current} lacks {', '.join(missing)}")
    parent = current
    try:
        enable = " ".join(f"+{c}" for c in V2_CONTROLLERS)
        try:
            _write(parent / "cgroup.subtree_control", enable)
        except OSError:
            # "No internal processes": move this process into a leaf, when it is alone in its cgroup.
            others = [p for p in _read(parent / "cgroup.procs").split() if int(p) != os.getpid()]
            if others:
                return Cgroups(
                    reason=f"cgroup v2: {current} holds other processes, so controllers cannot be enabled "
                    "under it (run the service in a delegated cgroup of its own, e.g. systemd Delegate=yes)"
                )
            leaf = parent / "service"
            leaf.mkdir(exist_ok=True)
            _write(leaf / "cgroup.procs", str(os.getpid()))
            _write(parent / "cgroup.subtree_control", enable)
        base = parent / _base_name()
        _fresh_dir(base)
        _write(base / "cgroup.subtree_control", enable)
    except OSError as exc:
        return Cgroups(reason=f"cgroup v2 at {current} is not writable here: {exc}")
    return Cgroups(version="v2", bases={c: base for c in V2_CONTROLLERS})


def _probe_v1(mounts: dict[str, tuple[Path, str]], own: dict[str, str]) -> Cgroups:
    bases: dict[str, Path] = {}
    name = _base_name()
    try:
        for controller in V1_CONTROLLERS:
            if controller not in mounts or controller not in own:
                return Cgroups(reason=f"no cgroup v1 {controller} hierarchy")
            root, mount_root = mounts[controller]
            current = root / _relative(own[controller], mount_root)
            base = current / name
            if base not in bases.values():
                _fresh_dir(base)
            bases[controller] = base
        # One run's worth of writes, to fail here rather than on the first item.
        test = Cgroups(version="v1", bases=bases).create(cpus=1.0)
        test.apply(memory_mb=64, max_processes=8)
        test.close()
    except OSError as exc:
        for base in set(bases.values()):
            _remove(base, "v1")
        return Cgroups(reason=f"cgroup v1 is not writable here: {exc}")
    return Cgroups(version="v1", bases=bases)


def _cgroup_mounts() -> dict[str, tuple[Path, str]]:
    """controller (or ``cgroup2``) -> (mount point, root of the mount within its hierarchy)."""
    found: dict[str, tuple[Path, str]] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, options = fields[sep + 1], fields[sep + 3]
            entry = (Path(fields[4]), fields[3])
            if fstype == "cgroup2":
                found.setdefault("cgroup2", entry)
            elif fstype == "cgroup":
                for option in options.split(","):
                    if option in V1_CONTROLLERS:
                        found.setdefault(option, entry)
    return found


def _own_cgroups() -> dict[str, str]:
    """controller -> this process's cgroup path (``""`` for the v2 hierarchy)."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _relative(path: str, mount_root: str) -> str:
    if mount_root != "/" and path.startswith(mount_root):
        path = path[len(mount_root) :]
    return path.lstrip("/")


_bases_made = itertools.count()


def _base_name() -> str:
    """One base per backend, not per process: two backends of one process (a test, a service with a remote
    and a local sandbox) must not share one, or closing the first removes the second's cgroups."""
    return f"r1-sandbox-{os.getpid()}-{next(_bases_made)}"


def _fresh_dir(base: Path) -> None:
    """Our base directory, and the leftovers of services that died without removing theirs."""
    for stale in base.parent.glob("r1-sandbox-*"):
        match = re.fullmatch(r"r1-sandbox-(\d+)(?:-\d+)?", stale.name)
        if match and stale != base and not Path(f"/proc/{match.group(1)}").exists():
            _remove(stale, "v1")
    base.mkdir(exist_ok=True)


def _remove(directory: Path, version: str) -> None:
    """rmdir a cgroup (children first), killing what is left in it: a run's processes never outlive it."""
    try:
        directory.rmdir()
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    for child in [p for p in directory.iterdir() if p.is_dir()]:
        _remove(child, version)
    for attempt in range(50):
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            with contextlib.suppress(OSError):
                for pid in _read(directory / "cgroup.procs").split():
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), 9)
            time.sleep(0.002 * (attempt + 1))


def _open_optional(path: Path, open_fd: Any) -> int | None:
    return int(open_fd(path, os.O_RDONLY)) if path.exists() else None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str, *, optional: bool = False) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        if not optional:
            raise
