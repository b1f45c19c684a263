"""The ``docker`` backend: programs run in warm, locked-down containers from a pool (``docker_pool``).

A ``prepare`` leases one container for the program's whole life: the sources are written into its tmpfs
/work, compiled once there, and every run execs the program in the same container through the runner
(one request, no ``docker exec``). Runs of one prepared program are serialised on its container; different
programs run in parallel on different containers, up to ``max_containers``.

Limits per execution: wall time (the runner's deadline), CPU time, file size, open files and processes
(rlimits; the processes limit counts per uid, and every container has a uid of its own), output (the
runner stops reading and kills), memory (the container's memory cgroup, set to the run's limit; an OOM
kill there is ``memory_limit``, read from the cgroup's own counter rather than guessed).

Infrastructure failures: an unreachable engine or a missing image raise ``SandboxUnavailable`` from
``start``/``prepare``; a runner lost in the middle of a run gives that run a ``sandbox_error`` result.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import docker

from sandbox.docker_pool import ContainerPool, DockerOptions, SandboxContainer
from sandbox.errors import SandboxUnavailable, UnsupportedLanguage
from sandbox.exits import ExitFacts, classify
from sandbox.languages import LANGUAGES, PCH_DIR, Language, get_language
from sandbox.types import (
    MAX_FETCH_BYTES,
    Backend,
    BackendHealth,
    ExecResult,
    ExecStatus,
    Limits,
    MiB,
    PairResult,
    PairSpec,
    Prepared,
    PreparedPair,
    Program,
    RunSpec,
    compile_failure,
    pair_compile_failure,
)

__all__ = ["DockerBackend", "DockerOptions", "to_result"]

log = logging.getLogger(__name__)

# Beyond the wall limit, the runner may need a moment to kill leftovers and drain pipes.
_REPLY_GRACE_S = 15.0
# Statuses after which a container is not trusted for another lease.
# Health: a real run this recent vouches for the backend; otherwise a probe program runs, within a bound.
_FRESH_S = 10.0
_PROBE_TIMEOUT_S = 20.0
_PROBE_SOURCE = "print(sum(map(int, input().split())))"
_PROBE_LIMITS = Limits(wall_time_s=5.0, memory_mb=128, max_processes=8)
_MISBEHAVED = {ExecStatus.TIMEOUT, ExecStatus.MEMORY_LIMIT, ExecStatus.OUTPUT_LIMIT, ExecStatus.SANDBOX_ERROR}


class DockerBackend(Backend):
    """Backend ``docker``. Construct (cheap), ``await start()``, ``prepare`` programs, ``await aclose()``."""

    name = "docker"

    def __init__(
        self,
        options: DockerOptions | None = None,
        *,
        client_factory: Callable[[], docker.DockerClient] | None = None,
    ) -> None:
        self.options = options or DockerOptions()
        toolchain = {tool for language in LANGUAGES for tool in language.toolchain}
        self._pool = ContainerPool(self.options, toolchain, client_factory)
        self._slots: asyncio.Semaphore | None = None
        self._start_lock: asyncio.Lock | None = None
        self._pair_lock = asyncio.Lock()
        self._start_error: str | None = None
        self._started = False
        self._closed = False
        self._last_good_run = -math.inf  # monotonic time of the last run that ended without a sandbox error

    @property
    def pool(self) -> ContainerPool:
        return self._pool

    async def start(self) -> None:
        """Connect and warm the pool. Idempotent: once started it returns at once; after a failure (engine
        down, image missing) the next call tries again, so a health check that calls it recovers."""
        if self._closed:
            raise SandboxUnavailable("the docker backend is closed")
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            try:
                await asyncio.to_thread(self._pool.start)
            except SandboxUnavailable as exc:
                self._start_error = str(exc)
                raise
            self._slots = asyncio.Semaphore(self.options.max_containers)
            self._start_error = None
            self._started = True

    async def aclose(self) -> None:
        self._closed = True
        await asyncio.to_thread(self._pool.close)

    def languages(self) -> list[str]:
        """Languages whose every toolchain executable exists in the image."""
        paths = self._pool.toolchain_paths
        return [lang.name for lang in LANGUAGES if paths and all(paths.get(tool) for tool in lang.toolchain)]

    async def health(self) -> BackendHealth:
        """``down`` unless the engine answers and a program runs right: a real run that ended without a
        sandbox error in the last ``_FRESH_S`` seconds, or else a probe program now. A failed probe repairs:
        every idle container is replaced, so the next check (and the next item) gets fresh ones."""

        def down(message: str) -> BackendHealth:
            return BackendHealth(status="down", backend=self.name, isolated=True, message=message)

        if self._start_error is not None:
            return down(self._start_error)
        if self._slots is None or self._closed:
            return down("not started" if self._slots is None else "closed")
        try:
            await asyncio.to_thread(self._pool.ping)
        except SandboxUnavailable as exc:
            return down(str(exc))
        # With every container leased there is nothing to probe with: the programs running are the evidence.
        if time.monotonic() - self._last_good_run > _FRESH_S and not self._slots.locked():
            problem = await self._probe()
            if problem is not None:
                replaced = await asyncio.to_thread(self._pool.recycle_idle)
                return down(f"probe failed: {problem}; replaced {replaced} idle container(s)")
        counts = self._pool.counts()
        summary = f"image {self.options.image}; {counts['live']} containers, {counts['idle']} idle"
        if self._pool.last_error is not None and counts["idle"] == 0:
            return BackendHealth(
                status="degraded",
                backend=self.name,
                isolated=True,
                message=f"{summary}; {self._pool.last_error}",
                languages=self.languages(),
            )
        return BackendHealth(
            status="ok", backend=self.name, isolated=True, message=summary, languages=self.languages()
        )

    async def _probe(self) -> str | None:
        """Run the probe program; what went wrong, or None."""
        program = Program(language="python", source=_PROBE_SOURCE)
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT_S):
                async with self.prepare(program) as prepared:
                    result = await prepared.run(RunSpec(stdin="20 22", limits=_PROBE_LIMITS))
        except TimeoutError:
            return f"no answer within {_PROBE_TIMEOUT_S:g} s"
        except SandboxUnavailable as exc:
            return str(exc)
        if result.status is not ExecStatus.OK or result.stdout != "42\n":
            return f"the probe program gave {result.status.value} {result.stdout[:100]!r} {result.message}"
        return None

    @asynccontextmanager
    async def prepare(self, program: Program) -> AsyncIterator[Prepared]:
        language = get_language(program.language)
        if self._slots is None or self._closed:
            # Before the language check: an engine that is down must not read as "unsupported language".
            why = self._start_error or ("closed" if self._closed else "not started")
            raise SandboxUnavailable(f"the docker backend cannot run programs: {why}")
        if language.name not in self.languages():
            raise UnsupportedLanguage(language.name, f"no toolchain for it in the image {self.options.image}")
        async with self._slots:
            prepared = await self._lease_retrying(language, program)
            try:
                yield prepared
            finally:
                await self._finish(prepared)

    @asynccontextmanager
    async def prepare_pair(self, program: Program, peer: Program) -> AsyncIterator[PreparedPair]:
        """Each side in a container of its own; the host relays the bytes between their runners."""
        languages = (get_language(program.language), get_language(peer.language))
        if self._slots is None or self._closed:
            why = self._start_error or ("closed" if self._closed else "not started")
            raise SandboxUnavailable(f"the docker backend cannot run programs: {why}")
        if self.options.max_containers < 2:
            raise SandboxUnavailable("paired runs need two containers at once: set max_containers >= 2")
        for language in languages:
            if language.name not in self.languages():
                raise UnsupportedLanguage(language.name, f"no toolchain for it in the image {self.options.image}")
        slots = self._slots
        async with self._pair_lock:  # one pair at a time takes its two slots: pairs never wait on each other
            await slots.acquire()
            try:
                await slots.acquire()
            except BaseException:
                slots.release()
                raise
        leased: list[DockerPrepared] = []
        try:
            sides = zip(languages, (program, peer), strict=True)
            outcomes = await asyncio.gather(
                *(self._lease_retrying(language, side) for language, side in sides), return_exceptions=True
            )
            leased = [outcome for outcome in outcomes if isinstance(outcome, DockerPrepared)]
            failure = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
            if failure is not None:
                raise failure
            yield DockerPair(leased[0], leased[1])
        finally:
            await asyncio.gather(*(self._finish(prepared) for prepared in leased))
            slots.release()
            slots.release()

    async def _lease_retrying(self, language: Language, program: Program) -> DockerPrepared:
        try:
            return await self._lease(language, program)
        except SandboxUnavailable as exc:
            # A container that died while idle (engine restarted, removed by hand) fails its first
            # request; it is gone now, so one more try on another container before this counts.
            log.warning("sandbox container unusable (%s); retrying on another", exc)
            return await self._lease(language, program)

    async def _finish(self, prepared: DockerPrepared) -> None:
        await self._release(prepared)
        if prepared.ran_cleanly:
            self._last_good_run = time.monotonic()

    async def _lease(self, language: Language, program: Program) -> DockerPrepared:
        """A container with ``program`` written (and compiled) in it; on failure the container is released."""
        container = await asyncio.to_thread(self._pool.acquire)
        prepared = DockerPrepared(self._pool, container, language)
        try:
            await asyncio.to_thread(prepared.setup, program)
        except BaseException:
            # Cancelled, or failed: the setup thread may still be talking to the runner, so never reuse it.
            prepared.recycle_reason = prepared.recycle_reason or "setup did not complete"
            await self._release(prepared)
            raise
        return prepared

    async def _release(self, prepared: DockerPrepared) -> None:
        # In a thread that outlives a cancellation: the container is always returned or destroyed.
        await asyncio.shield(
            asyncio.to_thread(self._pool.release, prepared.container, prepared.recycle_reason)
        )


class DockerPrepared:
    """A program written (and compiled) in a leased container."""

    def __init__(self, pool: ContainerPool, container: SandboxContainer, language: Language) -> None:
        self._pool = pool
        self._container = container
        self.language = language
        self.compile_result: ExecResult | None = None
        self.recycle_reason: str | None = None
        self.tainted: str | None = None  # why no further run of this lease may start here
        self.ran_cleanly = False  # some run ended, and none with a sandbox error
        self.sandbox_failed = False
        self._lock = asyncio.Lock()

    @property
    def container(self) -> SandboxContainer:
        return self._container

    @property
    def container_id(self) -> str:
        """The container this program lives in (tests check recycling with it)."""
        return self._container.id

    async def run(self, spec: RunSpec) -> ExecResult:
        if self.compile_result is not None and not self.compile_result.ok:
            return compile_failure(self.compile_result)
        if self.tainted is not None:  # fail closed: never run on a container that could not be cleaned
            return ExecResult(status=ExecStatus.SANDBOX_ERROR, message=self.tainted)
        argv, python_main = self._command(spec)
        async with self._lock:  # one execution at a time per container
            return await asyncio.to_thread(self._execute, argv, spec.stdin, spec.limits, python_main, spec.fetch_files)

    def _command(self, spec: RunSpec) -> tuple[list[str], dict[str, Any] | None]:
        argv = self.language.render(self.language.run, memory_mb=spec.limits.memory_mb) + list(spec.argv)
        python_main = None
        if self.language.name == "python" and self._pool.options.fast_python and self._container.fork_python:
            # A fork of the container's zygote runs the source in place; argv is the fallback if it cannot.
            python_main = {"script": self.language.source_name, "args": list(spec.argv)}
        return argv, python_main

    def setup(self, program: Program) -> None:
        files = {self.language.source_name: program.source, **program.files}
        encoded = {
            path: base64.b64encode(text.encode("utf-8", "surrogateescape")).decode()
            for path, text in files.items()
        }
        # Sealed: every run starts from /work exactly as it is now (after the compile, for compiled languages).
        write = {"op": "write", "files": encoded, "seal": self.language.compile is None}
        try:
            self._container.call(write, _REPLY_GRACE_S)
        except SandboxUnavailable:
            self.recycle_reason = "write failed"
            raise
        if self.language.compile is None:
            return
        limits = program.compile_limits
        # The image holds the precompiled headers at PCH_DIR (sandbox/Dockerfile); an older image has no such
        # directory, and g++ skips an include directory that does not exist.
        argv = self.language.compile_argv(memory_mb=limits.memory_mb, pch_dir=PCH_DIR)
        result, reply = self._execute_reply(argv, "", limits, seal=True)
        if result.status is ExecStatus.OK and reply.get("wipe_problems"):
            # The compile left /work unsealable (too large, odd files): no run may start from it.
            result = result.model_copy(
                update={"status": ExecStatus.COMPILE_ERROR, "message": "; ".join(reply["wipe_problems"])}
            )
        elif result.status not in (ExecStatus.OK, ExecStatus.SANDBOX_ERROR):
            why = {
                ExecStatus.TIMEOUT: "compilation timed out",
                ExecStatus.MEMORY_LIMIT: "compiler ran out of memory",
            }
            result = result.model_copy(
                update={
                    "status": ExecStatus.COMPILE_ERROR,
                    "message": why.get(result.status, "compilation failed"),
                }
            )
        self.compile_result = result

    def _execute(
        self,
        argv: list[str],
        stdin: str,
        limits: Limits,
        python_main: dict[str, Any] | None = None,
        fetch: list[str] | None = None,
    ) -> ExecResult:
        return self._execute_reply(argv, stdin, limits, python_main, fetch=fetch or [])[0]

    def _execute_reply(
        self,
        argv: list[str],
        stdin: str,
        limits: Limits,
        python_main: dict[str, Any] | None = None,
        *,
        seal: bool = False,
        fetch: list[str] | None = None,
    ) -> tuple[ExecResult, dict[str, Any]]:
        request = self._exec_message(argv, stdin, limits, python_main, seal=seal, fetch=fetch)
        try:
            self._pool.set_memory(self._container, limits.memory_mb)
            reply = self._container.call(request, limits.wall_time_s + _REPLY_GRACE_S)
        except SandboxUnavailable as exc:
            return self._lost(exc), {}
        return self._outcome(reply, limits), reply

    def _lost(self, exc: SandboxUnavailable) -> ExecResult:
        self.recycle_reason = str(exc)
        self.ran_cleanly, self.sandbox_failed = False, True
        return ExecResult(status=ExecStatus.SANDBOX_ERROR, message=str(exc))

    def _exec_message(
        self,
        argv: list[str],
        stdin: str,
        limits: Limits,
        python_main: dict[str, Any] | None = None,
        *,
        seal: bool = False,
        fetch: list[str] | None = None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "op": "exec",
            "argv": argv,
            "stdin": base64.b64encode(stdin.encode("utf-8", "surrogateescape")).decode(),
            "env": dict(self.language.env),
            "limits": {
                "wall_s": limits.wall_time_s,
                # RLIMIT_CPU counts whole seconds; the classification compares the exact figure.
                "cpu_s": max(1, math.ceil(limits.effective_cpu_time_s)),
                # The whole tree's CPU time, watched by the runner in the container's cgroup.
                "cpu_limit_s": limits.effective_cpu_time_s,
                "file_size_bytes": limits.file_size_mb * MiB,
                "open_files": limits.open_files,
                # RLIMIT_NPROC counts every task of the uid, and the runner and the zygote are two of them.
                "processes": limits.max_processes + 2,
                "output_bytes": limits.output_bytes,
            },
            "seal": seal,
        }
        if fetch:
            request.update(fetch=list(fetch), fetch_limit=MAX_FETCH_BYTES)
        if python_main is not None:
            request["python_main"] = python_main
        return request

    def _outcome(self, reply: dict[str, Any], limits: Limits) -> ExecResult:
        """The result of an exec reply, and what it says about the container (recycle, taint)."""
        self._container.runs += 1
        result = to_result(reply, limits)
        self.ran_cleanly = result.status is not ExecStatus.SANDBOX_ERROR and not self.sandbox_failed
        self.sandbox_failed = self.sandbox_failed or not self.ran_cleanly
        if result.status in _MISBEHAVED:
            self.recycle_reason = self.recycle_reason or f"a run ended with {result.status.value}"
        elif reply.get("strays"):
            self.recycle_reason = self.recycle_reason or f"a run left {reply['strays']} process(es) behind"
        if reply.get("wipe_problems"):
            problems = "; ".join(reply["wipe_problems"])
            self.recycle_reason = self.recycle_reason or problems
            self.tainted = f"the container could not be cleaned after a run: {problems}"
        return result


class DockerPair:
    """A program and its peer, each leased in its own container. A paired run execs both with ``link``;
    two threads relay what each side writes to the other's stdin (see the runner's protocol)."""

    def __init__(self, program: DockerPrepared, peer: DockerPrepared) -> None:
        self.program = program
        self.peer = peer

    @property
    def compile_result(self) -> ExecResult | None:
        return self.program.compile_result

    @property
    def peer_compile_result(self) -> ExecResult | None:
        return self.peer.compile_result

    async def run(self, spec: PairSpec) -> PairResult:
        failed = pair_compile_failure(self.program.compile_result, self.peer.compile_result)
        if failed is not None:
            return failed
        for side in (self.program, self.peer):
            if side.tainted is not None:
                tainted = ExecResult(status=ExecStatus.SANDBOX_ERROR, message=side.tainted)
                return PairResult(program=tainted, peer=tainted)
        async with self.program._lock, self.peer._lock:
            program, peer = await asyncio.to_thread(self._run, spec)
        return PairResult(program=program, peer=peer)

    def _run(self, spec: PairSpec) -> tuple[ExecResult, ExecResult]:
        sides = ((self.program, spec.program), (self.peer, spec.peer))
        started: list[tuple[DockerPrepared, RunSpec]] = []
        failures: dict[int, ExecResult] = {}
        try:
            if spec.peer_files:  # this run's only: the seal puts /work back after the run
                files = {path: base64.b64encode(text.encode("utf-8", "surrogateescape")).decode()
                         for path, text in spec.peer_files.items()}  # fmt: skip
                self.peer.container.call({"op": "write", "files": files, "seal": False}, _REPLY_GRACE_S)
            for prepared, run in sides:
                argv, python_main = prepared._command(run)
                message = prepared._exec_message(argv, "", run.limits, python_main)
                message["link"] = True
                prepared._pool.set_memory(prepared.container, run.limits.memory_mb)
                prepared.container.channel.send(message, run.limits.wall_time_s + _REPLY_GRACE_S)
                started.append((prepared, run))
        except SandboxUnavailable as exc:
            failures = {index: side[0]._lost(exc) for index, side in enumerate(sides) if side not in started}
        replies: dict[int, dict[str, Any]] = {}
        threads = [
            threading.Thread(target=self._relay, args=(index, sides, replies, failures), daemon=True)
            for index in range(len(started))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for index, (prepared, _) in enumerate(started):
            if index in replies:  # nothing more of this run will be sent to it
                try:
                    prepared.container.channel.send({"op": "unlink"}, _REPLY_GRACE_S)
                except SandboxUnavailable as exc:
                    failures[index] = prepared._lost(exc)
        results = []
        for index, (prepared, run) in enumerate(sides):
            if index in failures:
                results.append(failures[index])
            else:
                results.append(prepared._outcome(replies[index], run.limits))
        return results[0], results[1]

    @staticmethod
    def _relay(
        index: int,
        sides: tuple[tuple[DockerPrepared, RunSpec], ...],
        replies: dict[int, dict[str, Any]],
        failures: dict[int, ExecResult],
    ) -> None:
        """Read side ``index``'s runner until its reply, passing its output to the other side's stdin."""
        source, (target, target_run) = sides[index][0], sides[1 - index]
        # One timeout per socket (sends and receives share it): the target's own, so that relaying into
        # it never shortens how long its reply may take.
        timeout_s = target_run.limits.wall_time_s + _REPLY_GRACE_S
        eof_sent = False
        try:
            while True:
                message = source.container.channel.receive()
                event = message.get("event")
                if event is None:
                    if not message.get("ok"):
                        raise SandboxUnavailable(f"the sandbox runner failed: {message.get('error', message)}")
                    replies[index] = message
                    break
                with contextlib.suppress(SandboxUnavailable):  # the other side's own relay reports it
                    if event == "out" and not eof_sent:
                        target.container.channel.send({"op": "in", "data": message.get("data", "")}, timeout_s)
                    elif event == "eof" and not eof_sent:
                        eof_sent = True
                        target.container.channel.send({"op": "eof"}, timeout_s)
        except SandboxUnavailable as exc:
            failures[index] = source._lost(exc)
        if not eof_sent:
            with contextlib.suppress(SandboxUnavailable):
                target.container.channel.send({"op": "eof"}, timeout_s)


def to_result(reply: dict[str, Any], limits: Limits) -> ExecResult:
    """Turn a runner's exec reply into an ``ExecResult``; ``sandbox.exits.classify`` reads the exit."""
    stderr = base64.b64decode(reply.get("stderr", "")).decode("utf-8", errors="replace")
    exit_code: int | None = reply.get("exit_code")
    sig: int | None = reply.get("signal")
    cpu = float(reply.get("cpu_s", 0.0))
    peak = float(reply.get("max_rss_kb", 0)) / 1024
    killed_for = reply.get("killed_for")
    facts = ExitFacts(
        exit_code=exit_code,
        signal=sig,
        cpu_time_s=cpu,
        peak_memory_mb=peak,
        killed_for=killed_for if killed_for in ("wall_time", "cpu_time", "output") else None,
        oom_killed=bool(reply.get("oom_kills")),
        stderr=stderr,
        start_error=str(reply["exec_error"]) if "exec_error" in reply else None,
    )
    status, message = classify(facts, limits)
    if facts.start_error is not None:
        return ExecResult(status=status, message=message)
    return ExecResult(
        status=status,
        exit_code=exit_code,
        signal=sig,
        stdout=base64.b64decode(reply["stdout"]).decode("utf-8", errors="replace"),
        stderr=stderr,
        stdout_truncated=bool(reply["stdout_truncated"]),
        stderr_truncated=bool(reply["stderr_truncated"]),
        wall_time_s=float(reply["wall_s"]),
        cpu_time_s=cpu,
        peak_memory_mb=peak,
        message=message,
        files=dict(reply.get("files") or {}),
    )
