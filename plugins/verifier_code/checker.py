"""Special judges: running a reference's checker on the program's outputs, sandboxed like any program.

A checker is one more sandboxed program, through the same executor as the model's: its files are the test
input, the program's output and the answer, written by the host into the checker's own fresh job (the
model's program never sees that directory, and its output reaches the checker only as a file). The verdict
is read from the checker's exit code (testlib) or its stdout (CMS), never from text the program printed.

What is cached, and why not more: the backend API prepares (compiles) a program for the runs of one
``ExecRequest`` and keeps no binary past it, so a compiled checker cannot be kept between requests. Instead:

- every test of every item in one scoring call that uses the same checker (same content hash) goes into
  one request, as far as the sandbox's per-program file limits allow (files are named by content, so
  a group's shared inputs and answers are there once): a C++ checker compiles once per batch, not once
  per test or per item (Python checkers, with nothing to compile, go in small requests run in parallel);
- a checker that failed to compile is remembered by content hash, and later items fail fast (null + the
  compiler's message) without compiling it again;
- verdicts are remembered by (checker hash, input, output, answer) hash: a GRPO group's programs often
  print the same output, and a deterministic checker gives it the same verdict.

Any checker failure (testlib's exit 3, a crash, a timeout, an exit code or output outside the convention,
a compile error) makes the item ``null`` + error: a broken judge must not hand out 0.0 or 1.0.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.types import ExecRequest, ExecResult, ExecStatus, Executor, Limits, Program, RunSpec
from verifier_code.suite import Checker

CHECKER_FAILED = 3
"""testlib's exit code for "the checker failed"; the Python wrapper maps an uncaught exception to it."""
MESSAGE_CHARS = 300
CACHE_ENTRIES = 20_000
BROKEN_ENTRIES = 256
# One checker request stays within what the sandbox accepts of one program (its extra files, their size).
REQUEST_FILES = 250
REQUEST_BYTES = 12 * 1024 * 1024
COMPILED_RUNS = 2_000
INTERPRETED_RUNS = 8

# Runs the reference's Python checker as __main__ with its argv; an uncaught exception (a bug in the
# checker, or a MemoryError) is a checker failure, not testlib's "wrong answer" exit code 1.
PYTHON_WRAPPER = """\
import os, runpy, sys, traceback
try:
    runpy.run_path("checker.py", run_name="__main__")
except SystemExit:
    raise
except BaseException:
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(3)
"""


@dataclass
class CheckVerdict:
    score: float | None
    """In [0, 1]; None when the checker failed (then ``error`` says how)."""
    verdict: str
    message: str = ""
    time_s: float = 0.0
    error: str | None = None
    cached: bool = False


@dataclass
class CheckTask:
    checker: Checker
    input: str
    output: str
    answer: str
    result: CheckVerdict | None = None

    @functools.cached_property
    def key(self) -> str:
        digest = hashlib.sha256(self.checker.digest.encode())
        for part in (self.input, self.output, self.answer):
            data = part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "little") + data)
        return digest.hexdigest()


class SandboxFailure(Exception):
    """The sandbox, not the checker, failed on a checker run (a ``sandbox_error`` result)."""


def _cut(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + f"... ({len(text)} chars)"


def read_verdict(checker: Checker, result: ExecResult) -> CheckVerdict:
    """The verdict a finished checker run gives, by its convention."""
    message = _cut(result.stderr)
    ran = (
        result.signal is None
        and result.exit_code is not None
        and result.status
        in (
            ExecStatus.OK,
            ExecStatus.RUNTIME_ERROR,
            ExecStatus.MEMORY_LIMIT,  # a guess from the stderr text the checker wrote; the exit code decides
        )
    )
    if result.status is ExecStatus.SANDBOX_ERROR:
        raise SandboxFailure(result.message)
    if not ran:
        why = result.message or result.status.value
        return CheckVerdict(
            None, "checker_crashed", message, result.wall_time_s, f"checker {result.status.value}: {why}"
        )
    code = result.exit_code
    if checker.convention == "testlib":
        known = {0: (1.0, "accepted"), 1: (0.0, "wrong_answer"), 2: (0.0, "presentation_error")}
        if code in known:
            score, verdict = known[code]
            return CheckVerdict(score, verdict, message, result.wall_time_s)
        why = (
            "the checker failed (exit 3)"
            if code == CHECKER_FAILED
            else f"exit code {code} is not a testlib verdict (0-3)"
        )
        return CheckVerdict(None, "checker_failed", message, result.wall_time_s, f"{why}: {message}")
    if code != 0:
        return CheckVerdict(
            None, "checker_failed", message, result.wall_time_s, f"CMS checker exit code {code}: {message}"
        )
    text = result.stdout.strip()
    try:
        score = float(text)
    except ValueError:
        score = math.nan
    if result.stdout_truncated or not (0.0 <= score <= 1.0):
        error = f"CMS checker printed {_cut(text)!r}, not a score in [0, 1]"
        return CheckVerdict(None, "checker_failed", message, result.wall_time_s, error)
    verdict = "accepted" if score >= 1.0 else "partial" if score > 0 else "wrong_answer"
    return CheckVerdict(score, verdict, message, result.wall_time_s)


class CheckerJudge:
    """Runs checkers for a batch of tasks through ``executor`` (see the module docstring for the caching)."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._verdicts: OrderedDict[str, CheckVerdict] = OrderedDict()
        self._broken: OrderedDict[str, str] = OrderedDict()
        self.compiles = 0
        """Checker requests that compiled something (for tests and metrics)."""

    async def judge(self, tasks: Sequence[CheckTask], limits: Limits) -> None:
        """Fill in every task's ``result``. Raises ``SandboxUnavailable`` / ``SandboxFailure`` when the
        sandbox, not a checker, failed."""
        pending: dict[str, list[CheckTask]] = {}
        for task in tasks:
            cached = self._verdicts.get(task.key)
            broken = self._broken.get(task.checker.digest)
            if cached is not None:
                self._verdicts.move_to_end(task.key)
                task.result = CheckVerdict(cached.score, cached.verdict, cached.message, 0.0, None, True)
            elif broken is not None:
                task.result = CheckVerdict(None, "checker_compile_error", "", 0.0, broken, True)
            else:
                pending.setdefault(task.key, []).append(task)
        by_checker: dict[str, list[list[CheckTask]]] = {}
        for same in pending.values():
            by_checker.setdefault(same[0].checker.digest, []).append(same)
        requests = [chunk for groups in by_checker.values() for chunk in _chunks(groups)]
        await asyncio.gather(*(self._run(chunk, limits) for chunk in requests))

    async def _run(self, chunk: list[list[CheckTask]], limits: Limits) -> None:
        checker = chunk[0][0].checker
        files: dict[str, str] = {}
        runs: list[RunSpec] = []
        for same in chunk:
            named = _files(same[0])
            files.update(named)
            inp, out, ans = named
            argv = [inp, out, ans] if checker.convention == "testlib" else [inp, ans, out]
            runs.append(RunSpec(argv=argv, limits=limits))
        if checker.language == "python":
            program = Program(language="python", source=PYTHON_WRAPPER, files={"checker.py": checker.source, **files})
        else:
            program = Program(language="cpp", source=checker.source, files=files)
        response = await self.executor.execute(ExecRequest(program=program, runs=runs))
        compiled = response.compile
        if compiled is not None:
            self.compiles += 1
            if compiled.status is ExecStatus.SANDBOX_ERROR:
                raise SandboxFailure(compiled.message)
            if compiled.status is not ExecStatus.OK:
                error = f"the checker does not compile: {_cut(compiled.stderr or compiled.message)}"
                self._remember_broken(checker.digest, error)
                for same in chunk:
                    for task in same:
                        task.result = CheckVerdict(None, "checker_compile_error", "", 0.0, error)
                return
        for same, result in zip(chunk, response.runs, strict=True):
            verdict = read_verdict(checker, result)
            if verdict.score is not None:
                self._remember(same[0].key, verdict)
            for task in same:
                task.result = verdict

    def _remember(self, key: str, verdict: CheckVerdict) -> None:
        self._verdicts[key] = verdict
        while len(self._verdicts) > CACHE_ENTRIES:
            self._verdicts.popitem(last=False)

    def _remember_broken(self, digest: str, error: str) -> None:
        self._broken[digest] = error
        while len(self._broken) > BROKEN_ENTRIES:
            self._broken.popitem(last=False)


def _files(task: CheckTask) -> dict[str, str]:
    """The task's input, output and answer files, in that order, named by content: the tests' inputs and
    answers are the same for every item of a group, so one request holds each once."""

    def name(folder: str, text: str) -> str:
        return f"{folder}/{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:24]}"

    return {
        name("in", task.input): task.input,
        name("out", task.output): task.output,
        name("ans", task.answer): task.answer,
    }


def _chunks(groups: list[list[CheckTask]]) -> list[list[list[CheckTask]]]:
    """Requests for one checker: compiled ones as few as fit (one compile each), interpreted ones small."""
    limit = COMPILED_RUNS if groups[0][0].checker.language == "cpp" else INTERPRETED_RUNS
    chunks: list[list[list[CheckTask]]] = [[]]
    seen: set[str] = set()
    size = 0
    for same in groups:
        named = _files(same[0])
        new = {path: text for path, text in named.items() if path not in seen}
        weight = sum(len(text.encode("utf-8", "surrogatepass")) for text in new.values())
        full = len(chunks[-1]) >= limit or len(seen) + len(new) > REQUEST_FILES or size + weight > REQUEST_BYTES
        if chunks[-1] and full:
            chunks.append([])
            seen, size = set(), 0
            new = named
            weight = sum(len(text.encode("utf-8", "surrogatepass")) for text in new.values())
        chunks[-1].append(same)
        seen.update(new)
        size += weight
    return chunks
