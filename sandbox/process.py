"""The ``process`` backend: the embedded default, no daemon needed.

Programs run in nested namespaces under bubblewrap (see ``bwrap.py`` and ``_zygote.py``): every run has
its own user, PID, mount, IPC, network and UTS namespaces, its own size-capped tmpfs ``/work``, ``/tmp``
and ``/dev/shm`` over a read-only root, ``/etc`` and ``/dev``, no capabilities and a seccomp filter
(``seccomp.py``). The run's files travel to its supervisor through a pipe and compile outputs come back
the same way: no host directory is ever bound into the sandbox. The zygote forks each supervisor before
it receives the request, so no run's memory holds another run's data.

Limits are per run where the host lets this service create cgroups (``cgroups.py``: v2, or v1 as on
the development host): memory (tmpfs included), CPU time of the whole tree, a CPU quota and an equal CPU
share per run, processes. rlimits stay as a second bound per process. Without usable cgroups the backend
says so in ``health()`` (``degraded``) and, with ``cgroups="required"``, refuses to run.

**Fail closed.** Without working bubblewrap the backend does not run programs: ``start()`` raises
``SandboxUnavailable`` saying what is missing and how to get it. Unisolated runs (trusted code only)
take an explicit ``isolation="none"``, logged loudly at start and reported as ``degraded``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sandbox import bwrap, cgroups, pch, seccomp
from sandbox.compile_cache import DEFAULT_MAX_BYTES, CompileCache, compile_key
from sandbox.errors import InvalidRequest, SandboxUnavailable, UnsupportedLanguage
from sandbox.exits import ExitFacts, KilledFor, classify
from sandbox.languages import LANGUAGES, PCH_DIR, Language, get_language
from sandbox.types import (
    MAX_FETCH_BYTES,
    Backend,
    BackendHealth,
    ExecResult,
    ExecStatus,
    HealthStatus,
    Limits,
    PairResult,
    PairSpec,
    Prepared,
    PreparedPair,
    Program,
    RunSpec,
    compile_failure,
    pair_compile_failure,
)
from sandbox.zygote import Zygote

log = logging.getLogger(__name__)

ZYGOTE_SCRIPT = Path(__file__).with_name("_zygote.py")
SANDBOX_UID = 65534  # nobody: what the sandbox maps to on the host when the service runs as root
PROBE_SOURCE = "print(sum(range(10)))"
PROBE_LIMITS = Limits(wall_time_s=10.0, memory_mb=256)
INSTALL_BWRAP = (
    "install bubblewrap (`apt-get install bubblewrap`, or run scripts/system-setup.sh as root), use "
    'backend = "docker", or set isolation = "none" to run programs unisolated (trusted code only)'
)
Isolation = Literal["auto", "bwrap", "none"]
CgroupMode = Literal["auto", "required", "off"]
FileEntry = list[Any]  # [mode, base64 content]: how files travel to and from a run's supervisor


@dataclass(frozen=True)
class ProcessOptions:
    """How the process backend runs programs.

    ``isolation``: ``auto`` and ``bwrap`` both require bubblewrap and run nothing without it (``start()``
    raises, saying how to install it); ``none`` runs programs unisolated (trusted code only), loudly.
    ``cgroups``: per-run limits; ``auto`` uses them when the host allows and reports when it does not,
    ``required`` refuses to run without them, ``off`` never uses them.
    ``cpus_per_run``: the CPU quota of one run (its cgroup's ``cpu.max`` / ``cfs_quota_us``).
    ``python``: the interpreter for Python programs and the zygote (a real binary, not a pyenv shim);
    None picks the system's ``/usr/bin/python3`` or this process's base interpreter.
    ``fast_python``: run Python programs in a fork of the warm zygote instead of a fresh interpreter.
    ``precompiled_headers``: build the C++ precompiled headers (``pch.py``) under ``pch_cache_dir`` (None:
    ``pch.default_cache_root()``), in the background from the first start, and let compiles use them.
    ``compile_cache_bytes``: the bound of the cache of successful compiles (``compile_cache.py``); 0: none.
    """

    isolation: Isolation = "auto"
    python: str | None = None
    max_concurrency: int = field(default_factory=lambda: os.cpu_count() or 2)
    fast_python: bool = True
    jobs_dir: str | None = None
    extra_ro_binds: tuple[str, ...] = ()
    cgroups: CgroupMode = "auto"
    cpus_per_run: float = 1.0
    precompiled_headers: bool = True
    pch_cache_dir: str | None = None
    compile_cache_bytes: int = DEFAULT_MAX_BYTES


def _hide_this_process_from_same_user() -> None:
    """Unisolated programs run as this process's user: make it non-dumpable, so that they cannot read its
    ``/proc/<pid>/environ`` or memory (the service's API keys). Run as root, nothing stops them: use bubblewrap."""
    PR_SET_DUMPABLE = 4
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("sandbox process backend: prctl(PR_SET_DUMPABLE) failed: errno %d", ctypes.get_errno())


def resolve_python(configured: str | None) -> str:
    """A real interpreter path: shims (pyenv) cost ~150 ms per start and do not work in the sandbox."""
    candidates = [configured] if configured else ["/usr/bin/python3", "/usr/local/bin/python3"]
    if not configured:
        base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        candidates.append(str(base))
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    raise SandboxUnavailable(f"no Python interpreter found among {candidates}")


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)  # not CLOEXEC: handed to bubblewrap through pass_fds
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class ProcessBackend(Backend):
    """Runs programs as local processes in bubblewrap namespaces. See the module docstring."""

    name = "process"

    def __init__(self, options: ProcessOptions | None = None) -> None:
        self.options = options or ProcessOptions()
        self._zygote: Zygote | None = None
        self._configured = False
        self._isolated = False
        self._python = ""
        self._toolchain: dict[str, str] = {}
        self._root: Path | None = None
        self._scratch: Path | None = None
        self._zygote_script = ZYGOTE_SCRIPT
        self._own_root = False
        self._start_lock = asyncio.Lock()
        self._degraded_reason = ""
        self._sandbox_ids: tuple[int, int] | None = None
        self._cgroups = cgroups.Cgroups(reason="not probed")
        self._seccomp = b""
        self._probe_failure = ""
        self._cells: asyncio.Queue[Cell] = asyncio.Queue()
        self._pair_lock = asyncio.Lock()
        self._background: set[asyncio.Future[None]] = set()
        self._closed = False
        self._pch_planned = False
        self._pch_root: Path | None = None  # bound read-only at PCH_DIR
        self._pch_plan: dict[str, tuple[str, Path]] = {}  # language name -> (compiler, its build's directory)
        self._pch_dirs: dict[str, Path] = {}  # the builds that are ready
        self._pch_build: asyncio.Future[None] | None = None
        self._toolchain_ids: dict[str, dict[str, object]] = {}
        self.compile_cache = CompileCache(self.options.compile_cache_bytes)
        self._compiles_in_flight: dict[str, asyncio.Future[None]] = {}

    async def start(self) -> None:
        async with self._start_lock:
            if self._zygote is not None and self._zygote.alive:
                return
            if not self._configured:
                self._configure()
            if not self._pch_planned:
                await asyncio.to_thread(self._plan_precompiled_headers)
            await self._spawn_zygote()
            if self._pch_build is None and self._pch_plan:
                # In the background: until a build is there, its directory is missing and g++ skips it.
                self._pch_build = asyncio.ensure_future(asyncio.to_thread(self._build_precompiled_headers))

    def _configure(self) -> None:
        """Check isolation and limits (raising when they are required and missing), then set up."""
        python = resolve_python(self.options.python)
        if self.options.isolation == "none":
            isolated = False
            self._degraded_reason = (
                'NOT ISOLATED (isolation = "none"): untrusted programs run as local processes under '
                "rlimits only and can reach this host"
            )
            log.warning("sandbox process backend: %s", self._degraded_reason)
            log.warning("sandbox process backend: THIS IS FOR TRUSTED CODE ONLY; %s", INSTALL_BWRAP)
            _hide_this_process_from_same_user()
        else:
            bwrap_path = bwrap.find_bwrap()
            works, why = bwrap.bwrap_works(bwrap_path) if bwrap_path else (False, "bubblewrap (bwrap) is not installed")
            if not works:
                raise SandboxUnavailable(f"no isolation: {why}; programs are not run. To fix: {INSTALL_BWRAP}")
            supported, why_not = seccomp.supported()
            if not supported:
                raise SandboxUnavailable(f"no seccomp filter: {why_not}; programs are not run")
            self._seccomp = seccomp.build_filter()
            isolated = True
        found = cgroups.probe(self.options.cgroups)
        if not found.available:
            if self.options.cgroups == "required":
                raise SandboxUnavailable(f'cgroups = "required" but {found.reason}')
            log.warning("sandbox process backend: %s", found.describe())
        self._cgroups = found
        self._python = python
        self._isolated = isolated
        root = self.options.jobs_dir or tempfile.mkdtemp(prefix="sandbox-")
        self._own_root = self.options.jobs_dir is None
        self._root = Path(root)
        self._scratch = self._root / "jobs"  # unisolated runs' working directories
        self._scratch.mkdir(parents=True, exist_ok=True)
        self._zygote_script = self._root / "zygote.py"
        shutil.copyfile(ZYGOTE_SCRIPT, self._zygote_script)
        if self._isolated and os.geteuid() == 0:
            # The sandbox's uid 0 is then host "nobody", not host root.
            self._sandbox_ids = (SANDBOX_UID, SANDBOX_UID)
        self._toolchain = self._find_toolchains()
        self._configured = True

    def _find_toolchains(self) -> dict[str, str]:
        """Each usable executable: on the safe PATH, and inside the sandbox's view when isolated."""
        found = {"python3": self._python}
        for language in LANGUAGES:
            for exe in language.toolchain:
                if exe == "python3":
                    continue
                path = exe if os.path.isabs(exe) and os.path.isfile(exe) else shutil.which(exe, path=bwrap.SAFE_PATH)
                if path and (not self._isolated or bwrap.is_system_path(path)):
                    found[exe] = path
        return found

    def _plan_precompiled_headers(self) -> None:
        """Once: the cache directory (bound into the sandbox) and each build's place in it, named by its
        key. Anything that fails costs only speed (compiles read the headers as before): logged, not raised."""
        self._pch_planned = True
        if not self.options.precompiled_headers:
            return
        root = Path(self.options.pch_cache_dir) if self.options.pch_cache_dir else pch.default_cache_root()
        try:
            if not root.is_dir():
                root.mkdir(parents=True)
                root.chmod(0o755)
        except OSError as exc:
            log.warning("sandbox process backend: no precompiled headers: cannot create %s: %s", root, exc)
            return
        if self._sandbox_ids is not None and not pch.world_readable(root):
            # bwrap runs as the sandbox's user: a path it cannot reach would stop the zygote.
            log.warning("sandbox process backend: %s is not readable by all; no precompiled headers", root)
            return
        for language in LANGUAGES:
            compiler = self._toolchain.get(language.compile[0]) if language.compile else None
            if not language.precompiled_headers or compiler is None:
                continue
            try:
                self._pch_plan[language.name] = (compiler, root / pch.build_key(language, compiler))
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("sandbox process backend: no precompiled headers for %s: %s", language.name, exc)
        self._pch_root = root if self._pch_plan else None

    def _build_precompiled_headers(self) -> None:
        """Each planned build, found valid in the cache or built now (``pch.ensure``)."""
        assert self._pch_root is not None
        for name, (compiler, _) in self._pch_plan.items():
            try:
                self._pch_dirs[name] = pch.ensure(get_language(name), compiler, self._pch_root)
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("sandbox process backend: no precompiled headers for %s: %s", name, exc)

    async def precompiled_headers_ready(self) -> Mapping[str, Path]:
        """Wait for the background build that ``start()`` began; the languages whose headers are ready."""
        if self._pch_build is not None:
            await asyncio.shield(self._pch_build)
        return self.pch_dirs

    def _pch_dir(self, language: Language) -> str | None:
        """Where ``language``'s compiles look for the precompiled headers: its build's directory in the bind,
        or on the host for unisolated runs. It may not exist yet (being built): g++ then skips it."""
        planned = self._pch_plan.get(language.name)
        if planned is None:
            return None
        directory = planned[1]
        return f"{PCH_DIR}/{directory.name}" if self._isolated else str(directory)

    def _toolchain_identity(self, language: Language) -> dict[str, object]:
        """What the compile cache keys a compiler by: each executable's path, size and mtime, and the
        precompiled headers' build (their directory name is their key)."""
        identity = self._toolchain_ids.get(language.name)
        if identity is None:
            identity = {}
            for exe in language.toolchain:
                path = self._toolchain.get(exe, exe)
                try:
                    info = os.stat(path)
                    identity[exe] = [path, info.st_size, info.st_mtime_ns]
                except OSError:
                    identity[exe] = [path, None, None]
            planned = self._pch_plan.get(language.name)
            identity["pch"] = planned[1].name if planned is not None else None
            self._toolchain_ids[language.name] = identity
        return identity

    async def _spawn_zygote(self) -> None:
        assert self._root is not None
        fds: list[int] = []
        if self._isolated:
            bwrap_path = bwrap.find_bwrap()
            if bwrap_path is None:
                raise SandboxUnavailable(f"bubblewrap disappeared; programs are not run. To fix: {INSTALL_BWRAP}")
            binds = list(self.options.extra_ro_binds)
            if not bwrap.is_system_path(self._python):
                binds.append(str(Path(self._python).parent.parent))  # the interpreter's install prefix
            fds = [_memfd("zygote.py", ZYGOTE_SCRIPT.read_bytes()), _memfd("seccomp.bpf", self._seccomp)]
            command = bwrap.outer_command(
                bwrap_path,
                python=self._python,
                zygote_fd=fds[0],
                seccomp_fd=fds[1],
                extra_ro_binds=binds,
                ro_binds_at={str(self._pch_root): PCH_DIR} if self._pch_root is not None else None,
            )
        else:
            command = [self._python, "-E", "-s", "-B", str(self._zygote_script)]
        user, group = self._sandbox_ids or (None, None)
        zygote = Zygote(command, user=user, group=group, pass_fds=fds)
        try:
            await zygote.start()
        finally:
            for fd in fds:
                os.close(fd)
        try:
            self._spawn_cells(zygote)
        except SandboxUnavailable:
            await zygote.aclose()
            raise
        self._zygote = zygote

    def _retire_cells(self) -> None:
        while not self._cells.empty():
            self._retire(self._cells.get_nowait())

    async def restart(self, why: str) -> None:
        """Replace the zygote (it died, or its probe failed): the backend repairs itself."""
        log.warning("sandbox process backend: restarting the zygote: %s", why)
        async with self._start_lock:
            old, self._zygote = self._zygote, None
        self._retire_cells()
        if old is not None:
            await old.aclose()
        await self.start()

    async def aclose(self) -> None:
        self._closed = True
        self._retire_cells()
        if self._zygote is not None:
            await self._zygote.aclose()
        if self._background:
            await asyncio.wait(self._background, timeout=10)
        self._cgroups.close()
        if self._root is not None and self._own_root:
            shutil.rmtree(self._root, ignore_errors=True)

    async def health(self) -> BackendHealth:
        """The truth, from a probe program: ``down`` when runs cannot start, after one repair attempt."""
        languages = self.languages()
        if self._configured and not self._closed:
            problem = await self._probe()
            if problem:
                with contextlib.suppress(SandboxUnavailable):
                    await self.restart(f"probe failed: {problem}")
                problem = await self._probe()
            self._probe_failure = problem
        if self._zygote is None or not self._zygote.alive or self._probe_failure:
            reason = self._probe_failure or (self._zygote.failure if self._zygote is not None else "not started")
            return BackendHealth(
                status="down", backend=self.name, isolated=self._isolated, message=f"zygote: {reason}",
                languages=languages,
            )  # fmt: skip
        limits = self._cgroups.describe()
        if not self._isolated:
            return BackendHealth(
                status="degraded", backend=self.name, isolated=False,
                message=f"{self._degraded_reason}; {limits}", languages=languages,
            )  # fmt: skip
        message = (
            f"bubblewrap namespaces + seccomp, read-only root, a fresh tmpfs per run; {limits}; "
            f"python {self._zygote.info.get('python', '?')}"
        )
        status: HealthStatus = "ok" if self._cgroups.available else "degraded"
        return BackendHealth(status=status, backend=self.name, isolated=True, message=message, languages=languages)

    async def _probe(self) -> str:
        """Run a trivial program; the empty string when it ran right, else what went wrong."""
        try:
            async with self.prepare(Program(language="python", source=PROBE_SOURCE)) as prepared:
                result = await prepared.run(RunSpec(limits=PROBE_LIMITS))
        except SandboxUnavailable as exc:
            return str(exc)
        if result.status is not ExecStatus.OK or result.stdout != "45\n":
            return f"probe program: {result.status.value} {result.message} {result.stderr[-300:]}".strip()
        return ""

    def languages(self) -> list[str]:
        return [lang.name for lang in LANGUAGES if all(exe in self._toolchain for exe in lang.toolchain)]

    @property
    def isolated(self) -> bool:
        return self._isolated

    @property
    def cgroup_support(self) -> cgroups.Cgroups:
        return self._cgroups

    @property
    def pch_dirs(self) -> Mapping[str, Path]:
        """Each language's precompiled headers on the host, once built (``precompiled_headers_ready``)."""
        return dict(self._pch_dirs)

    @property
    def zygote_pid(self) -> int | None:
        """Host pid of the zygote's outermost process: every run is one of its descendants."""
        return self._zygote.pid if self._zygote is not None else None

    @asynccontextmanager
    async def prepare(self, program: Program) -> AsyncIterator[Prepared]:
        language = get_language(program.language)
        if self._zygote is None or not self._zygote.alive:
            if self._closed:
                raise SandboxUnavailable("the process backend is closed")
            await self.start()
        missing = [exe for exe in language.toolchain if exe not in self._toolchain]
        if missing:
            raise UnsupportedLanguage(language.name, f"toolchain not available here: {', '.join(missing)}")
        prepared = ProcessPrepared(self, language, _program_files(language, program))
        if language.compile is not None:
            prepared.compile_result = await self._compile(prepared, language, program.compile_limits)
        yield prepared

    async def _compile(self, prepared: ProcessPrepared, language: Language, limits: Limits) -> ExecResult:
        assert language.compile is not None
        argv = language.compile_argv(memory_mb=limits.memory_mb, pch_dir=self._pch_dir(language))
        if self.compile_cache.max_bytes <= 0:
            result, outputs = await self._compile_now(prepared, argv, limits)
        else:
            key = compile_key(language.name, argv, prepared.files, self._toolchain_identity(language))
            # A GRPO group's copies arrive together: they wait for the first one's compile, then hit.
            in_flight = self._compiles_in_flight.get(key)
            if in_flight is not None:
                await asyncio.shield(in_flight)
            cached = self.compile_cache.get(key)
            if cached is not None:
                prepared.files.update(cached.outputs)
                # This compile cost nothing: its result says so (its output is the original compile's).
                return cached.result.model_copy(update={"wall_time_s": 0.0, "cpu_time_s": 0.0})
            if in_flight is not None or key in self._compiles_in_flight:
                # The first one failed (failures are not cached): the waiters compile at once, side by side.
                result, outputs = await self._compile_now(prepared, argv, limits)
            else:
                done = self._compiles_in_flight[key] = asyncio.get_running_loop().create_future()
                try:
                    result, outputs = await self._compile_now(prepared, argv, limits)
                    if result.status is ExecStatus.OK:
                        self.compile_cache.put(key, result, outputs)
                finally:
                    del self._compiles_in_flight[key]
                    done.set_result(None)
        if result.status is ExecStatus.OK:
            prepared.files.update(outputs)
        if result.status in (ExecStatus.OK, ExecStatus.SANDBOX_ERROR):
            return result
        why = {
            ExecStatus.TIMEOUT: "compilation timed out",
            ExecStatus.MEMORY_LIMIT: "compiler ran out of memory",
        }
        return result.model_copy(
            update={
                "status": ExecStatus.COMPILE_ERROR,
                "message": why.get(result.status, "compilation failed"),
            }
        )

    async def _compile_now(
        self, prepared: ProcessPrepared, argv: list[str], limits: Limits
    ) -> tuple[ExecResult, dict[str, FileEntry]]:
        request = self._request(prepared, argv, RunSpec(limits=limits, writable=True), python_mode=False, collect=True)
        return await self._execute(prepared, request, limits)

    async def _run(self, prepared: ProcessPrepared, spec: RunSpec) -> ExecResult:
        result, _ = await self._execute(prepared, self._run_request(prepared, spec), spec.limits)
        return result

    @asynccontextmanager
    async def prepare_pair(self, program: Program, peer: Program) -> AsyncIterator[PreparedPair]:
        async with self.prepare(program) as first, self.prepare(peer) as second:
            assert isinstance(first, ProcessPrepared) and isinstance(second, ProcessPrepared)
            yield ProcessPair(self, first, second)

    async def _run_pair(self, pair: ProcessPair, spec: PairSpec) -> PairResult:
        """Both sides in cells of their own, started together, wired by two pipes made here."""
        extra = _encode_files(spec.peer_files)
        clash = sorted(set(extra) & set(pair.peer.files))
        if clash:
            raise InvalidRequest(f"peer_files must not replace the peer's own file {clash[0]!r}")
        requests = (
            self._run_request(pair.program, spec.program),
            self._run_request(pair.peer, spec.peer, extra_files=extra),
        )
        cells = await self._two_cells()
        to_peer_r, to_peer_w = os.pipe()
        to_program_r, to_program_w = os.pipe()
        links = ((to_program_r, to_peer_w), (to_peer_r, to_program_w))
        runs = [
            self._execute(side, request, run.limits, cell=cell, link=link)
            for side, request, run, cell, link in zip(
                (pair.program, pair.peer), requests, (spec.program, spec.peer), cells, links, strict=True
            )
        ]
        (program, _), (peer, _) = await asyncio.gather(*runs)
        return PairResult(program=program, peer=peer)

    async def _two_cells(self) -> tuple[Cell, Cell]:
        """Two cells for one pair. One pair at a time takes them, so that two pairs holding one cell each
        never wait for each other (the backend has at least two cells)."""
        taken: list[Cell] = []
        try:
            async with self._pair_lock:
                while len(taken) < 2:
                    taken.append(await self._cells.get())
        except BaseException:
            for cell in taken:
                self._cells.put_nowait(cell)
            raise
        return taken[0], taken[1]

    def _run_request(
        self, prepared: ProcessPrepared, spec: RunSpec, *, extra_files: dict[str, FileEntry] | None = None
    ) -> dict[str, Any]:
        language = prepared.language
        argv = language.render(language.run, memory_mb=spec.limits.memory_mb) + list(spec.argv)
        python_mode = language.name == "python" and self.options.fast_python
        request = self._request(prepared, argv, spec, python_mode=python_mode)
        if extra_files:
            request["files"] = {**prepared.files, **extra_files}
        return request

    def _request(
        self, prepared: ProcessPrepared, argv: list[str], spec: RunSpec, *, python_mode: bool, collect: bool = False
    ) -> dict[str, Any]:
        """What a run's supervisor reads: argv, environment, files, stdin and limits; with ``collect`` (a
        compile) the files it created or changed come back as well."""
        language = prepared.language
        limits = spec.limits
        argv = [self._toolchain.get(argv[0], argv[0]), *argv[1:]]
        env = {"PATH": bwrap.SAFE_PATH, "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp", **language.env}
        request: dict[str, Any] = {
            "mode": "python" if python_mode else "exec",
            "argv": argv,
            "script": language.source_name,
            "args": list(spec.argv),
            "env": env,
            "stdin": base64.b64encode(spec.stdin.encode("utf-8", errors="surrogateescape")).decode(),
            "files": prepared.files,
            "scratch": str(self._scratch),
            "writable": spec.writable,
            "collect": collect,
            "fetch": list(spec.fetch_files),
            "fetch_limit": MAX_FETCH_BYTES,
            "isolated": self._isolated,
            "address_space_limit": language.address_space_limit,
            "limits": {**limits.model_dump(), "cpu_time_s": limits.effective_cpu_time_s},
        }
        return request

    async def _execute(
        self,
        prepared: ProcessPrepared,
        request: dict[str, Any],
        limits: Limits,
        *,
        cell: Cell | None = None,
        link: tuple[int, int] | None = None,
    ) -> tuple[ExecResult, dict[str, FileEntry]]:
        """Run ``request`` in ``cell`` (else the next free one); ``link``: see ``Zygote.run``, closed here."""
        zygote = self._zygote
        if zygote is None or not zygote.alive:
            if cell is not None:
                self._release_cell(cell, broken=False)
            for fd in link or ():
                os.close(fd)
            raise SandboxUnavailable(f"the sandbox zygote is down: {zygote.failure if zygote else 'not started'}")
        if cell is None:
            cell = await self._cells.get()
        broken = True
        try:
            if cell.zygote is not zygote:
                raise SandboxUnavailable("the sandbox zygote was replaced")
            if cell.cgroup is not None:
                try:
                    cell.cgroup.apply(limits.memory_mb, limits.max_processes)
                except OSError as exc:
                    raise SandboxUnavailable(f"cannot set the run's cgroup limits: {exc}") from exc
            handed, link = link, None
            report = await zygote.run(cell.index, request, timeout_s=limits.wall_time_s, link=handed)
            broken = "sandbox_error" in report
        finally:
            for fd in link or ():  # not handed over (the cell was stale or its cgroup refused the limits)
                os.close(fd)
            self._release_cell(cell, broken=broken)
        outputs: dict[str, FileEntry] = report.pop("outputs", None) or {}
        result = to_result(report, limits, address_space_limit=prepared.language.address_space_limit)
        if report.get("fetched"):
            result = result.model_copy(update={"files": dict(report["fetched"])})
        return result, outputs

    def _spawn_cells(self, zygote: Zygote) -> None:
        """``max_concurrency`` cells (at least two: a paired run takes two at once), each with a cgroup of its
        own, serving one run at a time."""
        self._cells = asyncio.Queue()
        count = max(2, self.options.max_concurrency)
        self._cgroups.weigh(count)
        for index in range(count):
            self._cells.put_nowait(self._new_cell(zygote, index))

    def _new_cell(self, zygote: Zygote, index: int) -> Cell:
        run_cgroup = None
        if self._cgroups.available:
            try:
                run_cgroup = self._cgroups.create(cpus=self.options.cpus_per_run)
            except OSError as exc:
                raise SandboxUnavailable(f"cannot create a run cgroup: {exc}") from exc
        layout = {"isolated": self._isolated, "cgroup": run_cgroup.layout if run_cgroup is not None else None}
        try:
            zygote.spawn_cell(index, layout, run_cgroup.fds if run_cgroup is not None else [])
        except SandboxUnavailable:
            if run_cgroup is not None:
                run_cgroup.close()
            raise
        if run_cgroup is not None:
            run_cgroup.close_fds()
        return Cell(index, zygote, run_cgroup)

    def _release_cell(self, cell: Cell, *, broken: bool) -> None:
        zygote = self._zygote
        if cell.zygote is zygote and zygote is not None and zygote.alive:
            if broken:
                self._retire(cell)
                try:
                    cell = self._new_cell(zygote, cell.index)
                except SandboxUnavailable as exc:
                    log.warning("sandbox process backend: cannot replace a cell: %s", exc)
                    return
            self._cells.put_nowait(cell)
        else:
            self._retire(cell)

    def _retire(self, cell: Cell) -> None:
        """Remove a cell's cgroup once its processes are gone (in a thread: it may take a while)."""
        if cell.cgroup is not None:
            task = asyncio.ensure_future(asyncio.to_thread(cell.cgroup.close))
            self._background.add(task)
            task.add_done_callback(self._background.discard)


@dataclass
class Cell:
    """Where one run at a time happens: a process of the zygote's in a cgroup of its own."""

    index: int
    zygote: Zygote
    cgroup: cgroups.RunCgroup | None


def _encode_files(files: Mapping[str, str]) -> dict[str, FileEntry]:
    return {
        name: [0o644, base64.b64encode(content.encode("utf-8", errors="surrogateescape")).decode()]
        for name, content in files.items()
    }


def _program_files(language: Language, program: Program) -> dict[str, FileEntry]:
    """The program's files as they travel to the supervisor; conflicting names are refused here."""
    if language.source_name in program.files:
        raise InvalidRequest(f"{language.source_name} is the main source file; do not pass it in files")
    files = {language.source_name: program.source, **program.files}
    directories = {"/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)}
    clash = sorted(directories & set(files))
    if clash:
        raise InvalidRequest(f"{clash[0]!r} is both a file and a directory in files")
    return _encode_files(files)


@dataclass
class ProcessPrepared:
    backend: ProcessBackend
    language: Language
    files: dict[str, FileEntry]
    compile_result: ExecResult | None = None

    async def run(self, spec: RunSpec) -> ExecResult:
        if self.compile_result is not None and not self.compile_result.ok:
            return compile_failure(self.compile_result)
        return await self.backend._run(self, spec)


@dataclass
class ProcessPair:
    backend: ProcessBackend
    program: ProcessPrepared
    peer: ProcessPrepared

    @property
    def compile_result(self) -> ExecResult | None:
        return self.program.compile_result

    @property
    def peer_compile_result(self) -> ExecResult | None:
        return self.peer.compile_result

    async def run(self, spec: PairSpec) -> PairResult:
        failed = pair_compile_failure(self.program.compile_result, self.peer.compile_result)
        return failed if failed is not None else await self.backend._run_pair(self, spec)


def to_result(report: Mapping[str, Any], limits: Limits, *, address_space_limit: bool = True) -> ExecResult:
    """Turn a zygote report into an ``ExecResult``; ``sandbox.exits.classify`` reads the exit."""
    if "sandbox_error" in report:
        return ExecResult(status=ExecStatus.SANDBOX_ERROR, message=str(report["sandbox_error"]))
    stdout = base64.b64decode(report["stdout"]).decode("utf-8", errors="replace")
    stderr = base64.b64decode(report["stderr"]).decode("utf-8", errors="replace")
    exit_code: int | None = report.get("exit_code")
    sig: int | None = report.get("signal")
    cpu = float(report["cpu_time_s"])
    peak = float(report["peak_memory_mb"])
    facts = ExitFacts(
        exit_code=exit_code,
        signal=sig,
        cpu_time_s=cpu,
        peak_memory_mb=peak,
        killed_for=_KILLED_FOR.get(str(report.get("verdict", ""))),
        oom_killed=bool(report.get("oom_killed") or report.get("oom_kills")),  # v1/v2 cgroup OOM events
        stderr=stderr,
        start_error=str(report["start_error"]) if report.get("start_error") else None,
    )
    status, message = classify(facts, limits)
    return ExecResult(
        status=status,
        exit_code=exit_code,
        signal=sig,
        stdout=stdout,
        stderr=stderr,
        stdout_truncated=bool(report["stdout_truncated"]),
        stderr_truncated=bool(report["stderr_truncated"]),
        wall_time_s=float(report["wall_time_s"]),
        cpu_time_s=cpu,
        peak_memory_mb=peak,
        message=message,
    )


# The zygote's own kill reasons, as the exit classifier names them.
_KILLED_FOR: dict[str, KilledFor] = {"timeout": "wall_time", "cpu_timeout": "cpu_time", "output_limit": "output"}
