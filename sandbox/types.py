"""The sandbox's public types: what a caller asks for and what a backend reports.

Compile once, run many: a ``Program`` (language + source files) is *prepared* once — compiled, for
languages that compile — and the prepared program is then *run* any number of times with different
``RunSpec`` s (stdin, argv, limits). A code reward with 50 stdin/stdout tests compiles once and runs 50
times. ``ExecRequest`` bundles a program and its runs for one-shot callers and the HTTP service.

Two programs can also run *paired* (``PairRequest``): each in its own sandbox, started together, the
program's stdout piped to the peer's stdin and the peer's stdout to the program's stdin, nothing else
shared. Interactive problems use it (the peer is the interactor), and so does the code reward's judge
harness (the peer holds the tests and calls the untrusted program through the pipes).

Callers run programs through an ``Executor`` (``execute``, ``execute_pair``, ``health``): every local backend
(``process``, ``docker``) is one, and so are the clients of remote sandboxes (``SandboxClient`` for
``sandbox serve``, ``SandboxHandleClient`` for the Ray deployment). A local backend is also a ``Backend``:
it prepares programs itself (``prepare``, ``prepare_pair``) and executes requests from them. Every one
returns the same ``ExecResult`` facts. These models are the wire format of ``sandbox serve`` as well.
"""

from __future__ import annotations

import enum
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol, TypeAlias, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sandbox.errors import UnsupportedLanguage
from sandbox.languages import get_language

MiB = 1024 * 1024


class ExecStatus(enum.StrEnum):
    """How one execution ended. Exactly one applies; the first matching rule in this order wins:
    ``sandbox_error`` (the sandbox failed, not the program), ``compile_error``, ``timeout`` (wall or CPU
    limit), ``output_limit``, ``memory_limit``, ``runtime_error`` (non-zero exit or killed by a signal),
    ``ok`` (exit code 0)."""

    OK = "ok"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    COMPILE_ERROR = "compile_error"
    SANDBOX_ERROR = "sandbox_error"


class Limits(BaseModel):
    """Limits of one execution (a compile or a run). Defaults suit one competitive-programming test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_time_s: float = Field(
        10.0, gt=0, le=3600, description="Wall-clock limit; the whole process tree dies at it."
    )
    cpu_time_s: float | None = Field(
        None, gt=0, le=3600, description="CPU-time limit (RLIMIT_CPU); None means equal to wall_time_s."
    )
    memory_mb: int = Field(
        512, gt=0, le=65536, description="Memory limit (address space or cgroup memory.max)."
    )
    output_bytes: int = Field(
        1 * MiB, gt=0, le=256 * MiB, description="Per stream (stdout, stderr); more is cut and reported."
    )
    max_processes: int = Field(64, gt=0, le=4096, description="Processes/threads the run may have at once.")
    file_size_mb: int = Field(
        64, gt=0, le=65536, description="Largest file the program may write (RLIMIT_FSIZE)."
    )
    open_files: int = Field(256, gt=8, le=65536, description="Open file descriptors (RLIMIT_NOFILE).")

    @property
    def effective_cpu_time_s(self) -> float:
        return self.cpu_time_s if self.cpu_time_s is not None else self.wall_time_s


COMPILE_LIMITS = Limits(wall_time_s=30.0, memory_mb=2048, max_processes=128, file_size_mb=256)
"""Default limits of a compile step: compilers need more memory and time than a test run."""


MAX_PROGRAM_BYTES = 16 * MiB
"""Source and extra files of one program together, encoded as UTF-8."""
MAX_FILES = 256
MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255
MAX_STDIN_BYTES = 64 * MiB
MAX_ARGS = 1024
MAX_REQUEST_STDIN_BYTES = 256 * MiB
"""Every run's stdin of one ``ExecRequest`` together."""
MAX_FETCH_FILES = 64
MAX_FETCH_BYTES = 16 * MiB
"""The files one run hands back (``RunSpec.fetch_files``) together; a file that would pass it is left out."""


def _encoded_size(text: str, what: str) -> int:
    """Bytes ``text`` takes on the wire; lone surrogates other than surrogate-escaped bytes cannot be written."""
    try:
        return len(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid text (a lone surrogate)") from None


def check_file_name(path: str) -> None:
    """A plain relative path: no empty, ``.`` or ``..`` part, no control character, sane lengths."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"file names must be plain relative paths: {path!r}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise ValueError(f"file names must not contain NUL or control characters: {path!r}")
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"file names must be valid UTF-8: {path!r}") from None
    if len(encoded) > MAX_PATH_BYTES or any(len(p.encode()) > MAX_NAME_BYTES for p in parts):
        raise ValueError(f"file name too long: {path[:80]!r}...")


class Program(BaseModel):
    """A program to prepare once and run many times.

    ``source`` is the main file, written under the language's conventional name (``main.py``,
    ``main.cpp``, ``Main.java``...). ``files`` are extra files (relative paths) written next to it; none may
    take the main file's name or the compiled program's, nor be both a file and a directory.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: str = Field(description="A name or alias from sandbox.languages (python, cpp, java, ...).")
    source: str
    files: dict[str, str] = Field(default_factory=dict)
    compile_limits: Limits = COMPILE_LIMITS

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: dict[str, str]) -> dict[str, str]:
        if len(files) > MAX_FILES:
            raise ValueError(f"at most {MAX_FILES} extra files")
        for path in files:
            check_file_name(path)
        names = set(files)
        for path in files:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                if "/".join(parts[:depth]) in names:
                    raise ValueError(f"{'/'.join(parts[:depth])!r} is both a file and a directory")
        return files

    @model_validator(mode="after")
    def _fits_and_does_not_shadow(self) -> Program:
        total = _encoded_size(self.source, "source")
        for path, content in self.files.items():
            total += _encoded_size(content, f"file {path!r}")
        if total > MAX_PROGRAM_BYTES:
            raise ValueError(f"source and files exceed {MAX_PROGRAM_BYTES // MiB} MiB")
        try:
            language = get_language(self.language)
        except UnsupportedLanguage:
            return self  # the backend says so, naming what it can run
        reserved = {language.source_name}
        if language.compile is not None and "-o" in language.compile:
            reserved.add(language.compile[language.compile.index("-o") + 1])
        taken = sorted(reserved & {path.split("/")[0] for path in self.files})
        if taken:
            raise ValueError(f"files must not replace {', '.join(taken)}: the program's own file for {language.name}")
        return self


class RunSpec(BaseModel):
    """One run of a prepared program."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stdin: str = ""
    argv: list[str] = Field(
        default_factory=list, max_length=MAX_ARGS, description="Arguments after the program itself."
    )
    limits: Limits = Limits()
    writable: bool = Field(
        False,
        description="The program may write into its working directory, a copy of the prepared program that "
        "no other run sees and that is gone after the run (process backend: read-only unless set; docker: "
        "always writable, put back after each run).",
    )
    fetch_files: list[str] = Field(
        default_factory=list,
        max_length=MAX_FETCH_FILES,
        description="Files (relative to the working directory) to hand back after the run, in "
        "ExecResult.files; one that does not exist or is not a regular file is left out.",
    )

    @field_validator("fetch_files")
    @classmethod
    def _plain_fetch_names(cls, names: list[str]) -> list[str]:
        for name in names:
            check_file_name(name)
        return names

    @field_validator("stdin")
    @classmethod
    def _stdin_fits(cls, stdin: str) -> str:
        if _encoded_size(stdin, "stdin") > MAX_STDIN_BYTES:
            raise ValueError(f"stdin exceeds {MAX_STDIN_BYTES // MiB} MiB")
        return stdin

    @field_validator("argv")
    @classmethod
    def _plain_arguments(cls, argv: list[str]) -> list[str]:
        for arg in argv:
            if "\0" in arg:
                raise ValueError("arguments must not contain NUL")
            _encoded_size(arg, "an argument")
        return argv


class ExecRequest(BaseModel):
    """One program and the runs to make of it: compiled once, then run once per ``RunSpec``, in order.

    With ``stop_on_failure`` the remaining runs are skipped after the first run whose status is not ``ok``
    (their results are absent: ``ExecResponse.runs`` is shorter than ``runs``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    program: Program
    runs: list[RunSpec] = Field(default_factory=lambda: [RunSpec()], min_length=1, max_length=10_000)
    stop_on_failure: bool = False

    @field_validator("runs")
    @classmethod
    def _stdin_total_fits(cls, runs: list[RunSpec]) -> list[RunSpec]:
        if sum(len(run.stdin) for run in runs) > MAX_REQUEST_STDIN_BYTES:
            raise ValueError(f"the runs' stdin together exceed {MAX_REQUEST_STDIN_BYTES // MiB} MiB")
        return runs


class ExecResult(BaseModel):
    """The facts of one execution. Untrusted code that fails is a result, never an exception."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: ExecStatus
    exit_code: int | None = Field(None, description="Exit status when the process exited normally.")
    signal: int | None = Field(None, description="Signal number when the process was killed by one.")
    stdout: str = Field("", description="Decoded as UTF-8 with invalid bytes replaced (U+FFFD).")
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_time_s: float = 0.0
    cpu_time_s: float | None = None
    peak_memory_mb: float | None = Field(None, description="Peak resident memory of the largest process.")
    message: str = Field("", description="The sandbox's own explanation (which limit fired, what failed).")
    files: dict[str, str] = Field(
        default_factory=dict, description="The run's RunSpec.fetch_files that existed after it, base64-encoded."
    )

    @property
    def ok(self) -> bool:
        return self.status is ExecStatus.OK


class ExecResponse(BaseModel):
    """The answer to an ``ExecRequest``: the compile step (None for interpreted languages) and the runs.

    When compilation failed, ``runs`` holds one ``compile_error`` result per requested run (or one, with
    ``stop_on_failure``), so callers can zip runs with their tests without a special case.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    compile: ExecResult | None = None
    runs: list[ExecResult]


HealthStatus: TypeAlias = Literal["ok", "degraded", "down"]
"""A backend's state: ``ok``, ``degraded`` (runs programs, says what is wrong) or ``down`` (runs none)."""


class BackendHealth(BaseModel):
    """A backend's own view of itself. ``degraded`` still runs programs (e.g. without isolation: say so)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: HealthStatus
    backend: str
    isolated: bool = Field(
        description="True when untrusted code cannot reach the host (namespaces/containers)."
    )
    message: str = ""
    languages: list[str] = Field(default_factory=list, description="Languages whose toolchains are usable.")


class PairSpec(BaseModel):
    """One paired run: the program and its peer start together, each reading what the other writes.

    Neither side's ``stdin`` is used (each side's stdin is the other's stdout) and neither result has a
    ``stdout``. ``peer_files`` are written next to the peer's own files for this run only (an
    interactor's input and answer files): the program never sees them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    program: RunSpec = RunSpec()
    peer: RunSpec = RunSpec()
    peer_files: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _wired(self) -> PairSpec:
        if self.program.stdin or self.peer.stdin:
            raise ValueError("paired runs read each other's output: stdin must be empty on both sides")
        if self.program.fetch_files or self.peer.fetch_files:
            raise ValueError("paired runs do not fetch files")
        if len(self.peer_files) > MAX_FILES:
            raise ValueError(f"at most {MAX_FILES} peer files")
        total = 0
        for path, content in self.peer_files.items():
            check_file_name(path)
            total += _encoded_size(content, f"peer file {path!r}")
        if total > MAX_STDIN_BYTES:
            raise ValueError(f"peer files exceed {MAX_STDIN_BYTES // MiB} MiB")
        return self


class PairResult(BaseModel):
    """How both sides of a paired run ended (their ``stdout`` is empty: it went to the other side)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    program: ExecResult
    peer: ExecResult


class PairRequest(BaseModel):
    """A program and its peer, each prepared once in a sandbox of its own, then run paired once per spec.

    With ``stop_on_failure`` the remaining runs are skipped after the first whose program is not ``ok``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    program: Program
    peer: Program
    runs: list[PairSpec] = Field(default_factory=lambda: [PairSpec()], min_length=1, max_length=10_000)
    stop_on_failure: bool = False


class PairResponse(BaseModel):
    """Both compile steps and the paired runs. When either side failed to compile nothing ran: ``runs``
    holds one result per requested run (one with ``stop_on_failure``), each side reporting the failure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    compile: ExecResult | None = None
    peer_compile: ExecResult | None = None
    runs: list[PairResult]


@runtime_checkable
class PreparedPair(Protocol):
    """A program and its peer prepared by one backend (each in its own sandbox), valid until the
    ``prepare_pair`` context exits. ``run`` may be awaited concurrently."""

    @property
    def compile_result(self) -> ExecResult | None: ...

    @property
    def peer_compile_result(self) -> ExecResult | None: ...

    async def run(self, spec: PairSpec) -> PairResult: ...


@runtime_checkable
class Prepared(Protocol):
    """A program prepared by a backend, valid until the ``prepare`` context exits.

    ``compile_result`` is None for interpreted languages. When compilation failed, every ``run`` returns a
    ``compile_error`` result without running anything. ``run`` may be awaited concurrently.
    """

    @property
    def compile_result(self) -> ExecResult | None: ...

    async def run(self, spec: RunSpec) -> ExecResult: ...


@runtime_checkable
class Executor(Protocol):
    """What runs programs for a caller: every local backend, and the clients of remote sandboxes. Async and
    safe to share between tasks.

    Lifecycle: construct (cheap, nothing started) → ``start()`` (pools, zygotes, containers; raises
    ``SandboxUnavailable`` when the infrastructure is missing; idempotent, and tried again after a failure,
    so a caller that calls it before each health check recovers once the infrastructure is back) → any
    number of ``execute`` / ``execute_pair`` → ``aclose()`` (nothing left running afterwards). Both raise
    ``UnsupportedLanguage`` for a language that cannot run here, ``InvalidRequest`` for a request that
    cannot run as asked and ``SandboxUnavailable`` for an infrastructure failure; a program that does not
    compile, crashes or runs out of time is a result, not an exception.
    """

    name: str

    async def start(self) -> None: ...

    async def execute(self, request: ExecRequest) -> ExecResponse: ...

    async def execute_pair(self, request: PairRequest) -> PairResponse: ...

    async def health(self) -> BackendHealth: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Backend(Executor, Protocol):
    """An executor that runs programs in this process's host: it prepares each program itself
    (``prepare`` compiles once, then ``run`` any number of times) and executes requests from that
    (``execute`` and ``execute_pair`` below, inherited by the backends that subclass it). ``prepare``
    raises ``UnsupportedLanguage`` for a language it cannot run and ``SandboxUnavailable`` when it fails
    as infrastructure.
    """

    def prepare(self, program: Program) -> AbstractAsyncContextManager[Prepared]: ...

    def prepare_pair(self, program: Program, peer: Program) -> AbstractAsyncContextManager[PreparedPair]: ...

    async def execute(self, request: ExecRequest) -> ExecResponse:
        return await execute(self, request)

    async def execute_pair(self, request: PairRequest) -> PairResponse:
        return await execute_pair(self, request)


async def execute(backend: Backend, request: ExecRequest) -> ExecResponse:
    """Prepare ``request.program`` once on ``backend`` and make its runs in order (the one-shot path)."""
    async with backend.prepare(request.program) as prepared:
        compiled = prepared.compile_result
        if compiled is not None and compiled.status is not ExecStatus.OK:
            count = 1 if request.stop_on_failure else len(request.runs)
            return ExecResponse(compile=compiled, runs=[compile_failure(compiled)] * count)
        results: list[ExecResult] = []
        for spec in request.runs:
            result = await prepared.run(spec)
            results.append(result)
            if request.stop_on_failure and not result.ok:
                break
        return ExecResponse(compile=compiled, runs=results)


async def execute_pair(backend: Backend, request: PairRequest) -> PairResponse:
    """Prepare both programs of ``request`` once on ``backend`` and make their paired runs in order."""
    async with backend.prepare_pair(request.program, request.peer) as prepared:
        compiled, peer_compiled = prepared.compile_result, prepared.peer_compile_result
        failed = [c for c in (compiled, peer_compiled) if c is not None and c.status is not ExecStatus.OK]
        if failed:
            count = 1 if request.stop_on_failure else len(request.runs)
            side = {True: compile_failure(failed[0]), False: not_run("the other side did not compile")}
            both = PairResult(
                program=side[compiled is failed[0]], peer=side[peer_compiled is failed[0]]
            )  # fmt: skip
            return PairResponse(compile=compiled, peer_compile=peer_compiled, runs=[both] * count)
        results: list[PairResult] = []
        for spec in request.runs:
            result = await prepared.run(spec)
            results.append(result)
            if request.stop_on_failure and not result.program.ok:
                break
        return PairResponse(compile=compiled, peer_compile=peer_compiled, runs=results)


def pair_compile_failure(program: ExecResult | None, peer: ExecResult | None) -> PairResult | None:
    """What a run of a pair reports when either side failed to compile (both sides say so), else None."""
    for compiled in (program, peer):
        if compiled is not None and not compiled.ok:
            failed = compile_failure(compiled)
            return PairResult(program=failed, peer=failed)
    return None


def not_run(why: str) -> ExecResult:
    """The result of a side that never started because of the sandbox, not the program."""
    return ExecResult(status=ExecStatus.SANDBOX_ERROR, message=f"not run: {why}")


def compile_failure(compiled: ExecResult) -> ExecResult:
    """The result every run of a program that failed to compile reports."""
    if compiled.status is ExecStatus.SANDBOX_ERROR:
        return compiled
    return compiled.model_copy(update={"status": ExecStatus.COMPILE_ERROR})
