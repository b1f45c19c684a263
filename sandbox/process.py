"""The ``process`` backend: the embedded default, no daemon needed.

With bubblewrap, programs run in nested namespaces (see ``bwrap.py`` and ``_zygote.py``) under rlimits;
without it they run under rlimits only, in their own session, and the backend says loudly — in the log
and in ``health()`` (``degraded``, ``isolated=False``) — that untrusted code can reach the host.

cgroup v2 limits are not applied: on hosts where the unified hierarchy has no delegated controllers
(such as the one this was developed on: cgroup v1 with an empty v2 mount) there is nothing to apply, and
the per-run PID namespace already guarantees that no process outlives its run. Memory is bounded by
RLIMIT_AS (or the runtime's own heap flag, see ``languages.py``), processes by RLIMIT_NPROC counted per
run (each run has its own user namespace), disk by RLIMIT_FSIZE and size-capped tmpfs mounts.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import logging
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sandbox import bwrap
from sandbox.errors import InvalidRequest, SandboxUnavailable, UnsupportedLanguage
from sandbox.exits import ExitFacts, KilledFor, classify
from sandbox.languages import LANGUAGES, Language, get_language
from sandbox.types import (
    BackendHealth,
    ExecResult,
    ExecStatus,
    Limits,
    Prepared,
    Program,
    RunSpec,
    compile_failure,
)
from sandbox.zygote import Zygote

log = logging.getLogger(__name__)

ZYGOTE_SCRIPT = Path(__file__).with_name("_zygote.py")
SANDBOX_UID = 65534  # nobody: what the sandbox maps to on the host when the service runs as root
Isolation = Literal["auto", "bwrap", "none"]


@dataclass(frozen=True)
class ProcessOptions:
    """How the process backend runs programs.

    ``isolation``: ``auto`` uses bubblewrap when it works and falls back to rlimits only (degraded);
    ``bwrap`` refuses to start without it; ``none`` never isolates (trusted code only).
    ``python``: the interpreter for Python programs and the zygote (a real binary, not a pyenv shim);
    None picks the system's ``/usr/bin/python3`` or this process's base interpreter.
    ``fast_python``: run Python programs in a fork of the warm zygote instead of a fresh interpreter.
    """

    isolation: Isolation = "auto"
    python: str | None = None
    max_concurrency: int = field(default_factory=lambda: os.cpu_count() or 2)
    fast_python: bool = True
    jobs_dir: str | None = None
    extra_ro_binds: tuple[str, ...] = ()


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


class ProcessBackend:
    """Runs programs as local processes, in bubblewrap namespaces when available. See the module docstring."""

    name = "process"

    def __init__(self, options: ProcessOptions | None = None) -> None:
        self.options = options or ProcessOptions()
        self._zygote: Zygote | None = None
        self._isolated = False
        self._python = ""
        self._toolchain: dict[str, str] = {}
        self._jobs_root: Path | None = None
        self._zygote_script = ZYGOTE_SCRIPT
        self._own_jobs_root = False
        self._semaphore = asyncio.Semaphore(max(1, self.options.max_concurrency))
        self._start_lock = asyncio.Lock()
        self._degraded_reason = ""
        self._sandbox_ids: tuple[int, int] | None = None
        self._closed = False

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        async with self._start_lock:
            if self._zygote is not None and self._zygote.alive:
                return
            if self._zygote is None:
                self._configure()
            await self._spawn_zygote()

    def _configure(self) -> None:
        self._python = resolve_python(self.options.python)
        bwrap_path = bwrap.find_bwrap() if self.options.isolation != "none" else None
        works, why = (
            bwrap.bwrap_works(bwrap_path) if bwrap_path else (False, "bubblewrap (bwrap) is not installed")
        )
        if self.options.isolation == "bwrap" and not works:
            raise SandboxUnavailable(f"isolation='bwrap' but bubblewrap cannot run here: {why}")
        self._isolated = works
        if not works:
            self._degraded_reason = (
                "NOT ISOLATED: untrusted programs run as local processes under rlimits only "
                f"({why if self.options.isolation == 'auto' else 'isolation=none'})"
            )
            log.warning("sandbox process backend: %s", self._degraded_reason)
            _hide_this_process_from_same_user()
        root = self.options.jobs_dir or tempfile.mkdtemp(prefix="sandbox-")
        self._own_jobs_root = self.options.jobs_dir is None
        self._jobs_root = Path(root) / "jobs"
        self._jobs_root.mkdir(parents=True, exist_ok=True)
        # A private copy of the zygote script: the sandbox user may not be able to read the source tree.
        self._zygote_script = Path(root) / "zygote.py"
        shutil.copyfile(ZYGOTE_SCRIPT, self._zygote_script)
        if self._isolated and os.geteuid() == 0:
            # The sandbox's uid 0 is then host "nobody", not host root.
            self._sandbox_ids = (SANDBOX_UID, SANDBOX_UID)
            for path in (Path(root), self._jobs_root, self._zygote_script):
                os.chown(path, SANDBOX_UID, SANDBOX_UID)
            os.chmod(root, 0o700)
        self._toolchain = self._find_toolchains()

    def _find_toolchains(self) -> dict[str, str]:
        """Each usable executable: on the safe PATH, and inside the sandbox's view when isolated."""
        found = {"python3": self._python}
        for language in LANGUAGES:
            for exe in language.toolchain:
                if exe == "python3":
                    continue
                path = shutil.which(exe, path=bwrap.SAFE_PATH)
                if path and (not self._isolated or bwrap.is_system_path(path)):
                    found[exe] = path
        return found

    async def _spawn_zygote(self) -> None:
        assert self._jobs_root is not None
        if self._isolated:
            bwrap_path = bwrap.find_bwrap()
            assert bwrap_path is not None
            binds = list(self.options.extra_ro_binds)
            if not bwrap.is_system_path(self._python):
                binds.append(str(Path(self._python).parent.parent))  # the interpreter's install prefix
            command = bwrap.outer_command(
                bwrap_path,
                python=self._python,
                zygote_script=self._zygote_script,
                jobs_dir=self._jobs_root,
                extra_ro_binds=binds,
            )
        else:
            command = [self._python, "-E", "-s", "-B", str(self._zygote_script)]
        user, group = self._sandbox_ids or (None, None)
        zygote = Zygote(command, user=user, group=group)
        await zygote.start()
        self._zygote = zygote

    async def aclose(self) -> None:
        self._closed = True
        if self._zygote is not None:
            await self._zygote.aclose()
        if self._jobs_root is not None and self._own_jobs_root:
            shutil.rmtree(self._jobs_root.parent, ignore_errors=True)

    async def health(self) -> BackendHealth:
        languages = self.languages()
        if self._zygote is None or not self._zygote.alive:
            reason = self._zygote.failure if self._zygote is not None else "not started"
            return BackendHealth(
                status="down", backend=self.name, isolated=self._isolated, message=f"zygote: {reason}",
                languages=languages,
            )  # fmt: skip
        if not self._isolated:
            return BackendHealth(
                status="degraded", backend=self.name, isolated=False, message=self._degraded_reason,
                languages=languages,
            )  # fmt: skip
        message = f"bubblewrap namespaces, python {self._zygote.info.get('python', '?')}"
        return BackendHealth(
            status="ok", backend=self.name, isolated=True, message=message, languages=languages
        )

    def languages(self) -> list[str]:
        return [lang.name for lang in LANGUAGES if all(exe in self._toolchain for exe in lang.toolchain)]

    @property
    def isolated(self) -> bool:
        return self._isolated

    @property
    def zygote_pid(self) -> int | None:
        """Host pid of the zygote's outermost process: every run is one of its descendants."""
        return self._zygote.pid if self._zygote is not None else None

    # -------------------------------------------------------------- running

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
        job = uuid.uuid4().hex
        assert self._jobs_root is not None
        job_dir = self._jobs_root / job
        try:
            self._write_files(job_dir, language, program)
            prepared = ProcessPrepared(self, language, job, job_dir)
            if language.compile is not None:
                prepared.compile_result = await self._compile(prepared, language, program.compile_limits)
            yield prepared
        finally:
            await asyncio.to_thread(shutil.rmtree, job_dir, True)

    def _write_files(self, job_dir: Path, language: Language, program: Program) -> None:
        files = {language.source_name: program.source, **program.files}
        if language.source_name in program.files:
            raise InvalidRequest(f"{language.source_name} is the main source file; do not pass it in files")
        job_dir.mkdir(mode=0o755)
        for name, content in files.items():
            path = job_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        if self._sandbox_ids is not None:
            uid, gid = self._sandbox_ids
            for dirpath, dirnames, filenames in os.walk(job_dir):
                for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                    os.chown(name, uid, gid)

    async def _compile(self, prepared: ProcessPrepared, language: Language, limits: Limits) -> ExecResult:
        assert language.compile is not None
        argv = language.render(language.compile, memory_mb=limits.memory_mb)
        result = await self._execute(prepared, argv, RunSpec(limits=limits), writable=True, python_mode=False)
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

    async def _run(self, prepared: ProcessPrepared, spec: RunSpec) -> ExecResult:
        language = prepared.language
        argv = language.render(language.run, memory_mb=spec.limits.memory_mb) + list(spec.argv)
        python_mode = language.name == "python" and self.options.fast_python
        return await self._execute(prepared, argv, spec, writable=False, python_mode=python_mode)

    async def _execute(
        self, prepared: ProcessPrepared, argv: list[str], spec: RunSpec, *, writable: bool, python_mode: bool
    ) -> ExecResult:
        language = prepared.language
        limits = spec.limits
        argv = [self._toolchain.get(argv[0], argv[0]), *argv[1:]]
        env = {"PATH": bwrap.SAFE_PATH, "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp", **language.env}
        if not self._isolated:
            tmp = prepared.job_dir / ".tmp"
            tmp.mkdir(exist_ok=True)
            env.update(HOME=str(tmp), TMPDIR=str(tmp))
            env = {k: v.replace("/tmp", str(tmp)) if k in language.env else v for k, v in env.items()}
        request: dict[str, Any] = {
            "mode": "python" if python_mode else "exec",
            "argv": argv,
            "script": language.source_name,
            "args": list(spec.argv),
            "env": env,
            "stdin": base64.b64encode(spec.stdin.encode("utf-8", errors="surrogateescape")).decode(),
            "job": prepared.job,
            "workdir": str(prepared.job_dir),
            "writable": writable,
            "isolated": self._isolated,
            "address_space_limit": language.address_space_limit,
            "limits": {**limits.model_dump(), "cpu_time_s": limits.effective_cpu_time_s},
        }
        async with self._semaphore:
            zygote = self._zygote
            if zygote is None or not zygote.alive:
                raise SandboxUnavailable(
                    f"the sandbox zygote is down: {zygote.failure if zygote else 'not started'}"
                )
            report = await zygote.request(request)
        return to_result(report, limits, address_space_limit=language.address_space_limit)


@dataclass
class ProcessPrepared:
    backend: ProcessBackend
    language: Language
    job: str
    job_dir: Path
    compile_result: ExecResult | None = None

    async def run(self, spec: RunSpec) -> ExecResult:
        if self.compile_result is not None and not self.compile_result.ok:
            return compile_failure(self.compile_result)
        return await self.backend._run(self, spec)


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
        oom_killed=bool(report.get("oom_killed")),
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
