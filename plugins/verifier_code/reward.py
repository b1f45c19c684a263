"""The ``code`` reward: run the model's program against the item's tests in the sandbox.

One scoring call goes in three phases: every item's program runs (concurrently); then every checker run
of the batch, grouped by checker so a compiled checker compiles once (``checker.py``); then each item's
score by its ``scoring`` mode (``scoring.py``). References are read strictly (``shapes.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import ConfigDict, Field, ValidationError

from sandbox.errors import InvalidRequest, SandboxUnavailable, UnsupportedLanguage
from sandbox.languages import Language, get_language
from sandbox.types import (
    ExecRequest,
    ExecResponse,
    ExecResult,
    ExecStatus,
    Executor,
    Limits,
    PairRequest,
    PairResponse,
    PairResult,
    PairSpec,
    Program,
    RunSpec,
)
from verifier import Health, ReasoningTags, RewardItem, Score, split_reasoning
from verifier_code.checker import CheckerJudge, CheckTask, SandboxFailure
from verifier_code.compare import tokens_match, values_match
from verifier_code.extract import ExtractMode, extract_program
from verifier_code.harness import CANDIDATE, JUDGE
from verifier_code.metrics import PROGRAMS_IN_FLIGHT, record_runs
from verifier_code.scoring import ScoringMode, combine
from verifier_code.shapes import parse_reference
from verifier_code.suite import AssertSuite, CallCase, CallSuite, StdioCase, StdioSuite, Suite, UnusableReference

EXCERPT = 200
MAX_TEST_DETAILS = 50
HEALTH_INTERVAL_S = 15.0


class CodeParams(ReasoningTags):
    """Per-request parameters of the ``code`` reward (with the reasoning-tag conventions every reward shares:
    the program is looked for in the answer, after the reasoning)."""

    model_config = ConfigDict(extra="forbid")

    language: str = Field(
        "python",
        description="Language of the program (python, cpp, java, javascript, ...). When not given, a "
        "reference that names its language (open-r1's verification_info) decides.",
    )
    extract: ExtractMode = Field(
        "auto",
        description="auto: last fenced block of the language, else the raw completion if it has no fences; "
        "last_block / first_block: that fenced block or nothing; whole: the completion as is.",
    )
    scoring: ScoringMode = Field(
        "fraction",
        description="fraction: mean test score; all_or_nothing: 1/0; weighted: by the tests' weights; groups: "
        "IOI subtasks, a group earns its weight only when all its tests pass (weights from the reference).",
    )
    compile_error_score: float = Field(
        0.0, ge=-100.0, le=1.0, description="Score of a program that does not compile (may be negative)."
    )
    stop_on_first_failure: bool = Field(
        False,
        description="Stop after the first test that crashes or times out (the rest count as failed).",
    )
    float_tolerance: float | None = Field(
        None, ge=0, description="Numbers may differ by this (absolute or relative)."
    )
    time_limit_s: float = Field(5.0, gt=0, le=300, description="Wall-time limit of each test run.")
    memory_mb: int = Field(512, gt=0, le=16384, description="Memory limit of each test run.")
    checker_time_limit_s: float = Field(
        10.0, gt=0, le=300, description="Wall-time limit of each checker run (reported apart)."
    )
    checker_memory_mb: int = Field(1024, gt=0, le=16384, description="Memory limit of each checker run.")
    max_tests: int | None = Field(None, gt=0, description="Run only the first N tests.")
    include_prompt: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Assert tests: prepend the reference's prompt (auto: as a continuation when the code "
        "does not define the entry point itself, else before it, keeping the prompt's helpers).",
    )


@dataclass
class Outcome:
    passed: bool
    status: str
    time_s: float
    _: KW_ONLY
    input: str = ""
    expected: str = ""
    got: str = ""
    error: str = ""
    score: float = field(default=0.0, init=False)
    checker_time_s: float | None = field(default=None, init=False)
    message: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if self.passed:
            self.score = 1.0


@dataclass
class Job:
    """One item on its way through the phases of a scoring call: run the program, check, score."""

    params: CodeParams
    language: Language
    suite: Suite
    code: str
    outcomes: list[Outcome] = field(default_factory=list)
    compile_error: str | None = None
    checks: list[tuple[int, CheckTask]] = field(default_factory=list)
    final: Score | None = None
    # A run or the compile hit its time limit: on a loaded machine that can happen to a correct program, so
    # the verdict is kept out of the verdict cache.
    timed_out: bool = False


def _cut(text: str, size: int = EXCERPT) -> str:
    return text if len(text) <= size else text[:size] + f"... ({len(text)} chars)"


class CodeReward:
    """Scores items by running their program; one shared ``Executor`` (a local backend or a remote sandbox)."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.checkers = CheckerJudge(executor)
        self._health = Health("ok", "not checked yet")
        self._monitor: asyncio.Task[None] | None = None

    def health(self) -> Health:
        return self._health

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[CodeReward]:
        await self.refresh_health()
        self._monitor = asyncio.create_task(self._watch_health())
        try:
            yield self
        finally:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            await self.executor.aclose()

    async def refresh_health(self) -> Health:
        try:
            # start() is idempotent and tries again after a failure: an executor whose infrastructure was
            # missing at startup (no engine, no image) recovers at the next check.
            await self.executor.start()
            state = await self.executor.health()
        except SandboxUnavailable as exc:
            self._health = Health("down", str(exc))
            return self._health
        message = state.message if state.isolated else f"NOT ISOLATED: {state.message}"
        languages = ", ".join(state.languages)
        if languages:  # what /readyz shows: which languages this reward can score now
            message = f"{message}; languages: {languages}" if message else f"{state.backend}: {languages}"
        self._health = Health(state.status, message)
        return self._health

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            await self.refresh_health()

    async def __call__(self, items: Sequence[RewardItem[CodeParams]]) -> list[Score]:
        """All items' programs run concurrently; then every checker run of the batch, grouped by checker
        (one compile per distinct checker); then each item's score."""
        jobs = [self._job(item) for item in items]
        runnable = [job for job in jobs if isinstance(job, Job)]
        await asyncio.gather(*(self._run_program(job) for job in runnable))
        await self._check([job for job in runnable if job.final is None and job.checks])
        return [job if isinstance(job, Score) else job.final or self._verdict(job) for job in jobs]

    async def score_one(self, item: RewardItem[CodeParams]) -> Score:
        [result] = await self([item])
        return result

    def _job(self, item: RewardItem[CodeParams]) -> Job | Score:
        params = item.params
        try:
            suite = parse_reference(item.reference)
            language = get_language(params.language)
            named = suite.language if isinstance(suite, StdioSuite) else None
            if named is not None:
                wanted = get_language(named)
                if "language" in params.model_fields_set and wanted.name != language.name:
                    return Score(
                        None, {}, f"the reference's tests are for {wanted.name}, the params ask for {language.name}"
                    )
                language = wanted
        except (UnsupportedLanguage, UnusableReference) as exc:
            return Score(None, {}, str(exc))
        if not isinstance(suite, StdioSuite) and language.name != "python":
            return Score(None, {}, f"{type(suite).__name__} tests need language python, not {language.name}")
        answer = split_reasoning(item.completion_text, params).answer
        if answer is None:  # the reasoning never ended: no answer, whatever code it holds
            return Score(0.0, {"reason": "no_answer", "language": language.name})
        code = extract_program(answer, language, params.extract)
        if code is None:
            return Score(0.0, {"reason": "no_code", "language": language.name})
        # Lone surrogates (JSON "\ud800") cannot be written to a source file; the sandbox reads output the
        # same way, with replacement.
        code = code.encode("utf-8", "replace").decode("utf-8")
        return Job(params, language, suite, code)

    async def _run_program(self, job: Job) -> None:
        try:
            job.outcomes, job.compile_error = await self._run_suite(job)
        except SandboxUnavailable as exc:
            self._health = Health("down", str(exc))
            job.final = Score(None, {}, f"sandbox unavailable: {exc}")
            return
        except InvalidRequest as exc:  # UnsupportedLanguage included: this backend cannot run it
            job.final = Score(None, {}, str(exc))
            return
        except _JudgeUnusable as exc:
            job.final = Score(None, {"shape": job.suite.shape}, str(exc))
            return
        except ValidationError as exc:  # the sandbox's request limits (sizes, file counts)
            job.final = Score(None, {}, f"invalid sandbox request: {exc}")
            return
        sandbox_failure = next((o for o in job.outcomes if o.status == ExecStatus.SANDBOX_ERROR), None)
        if sandbox_failure is not None:
            job.final = Score(None, {}, f"sandbox error: {sandbox_failure.error}")
            return
        unjudged = next((o for o in job.outcomes if o.status in _NO_VERDICT), None)
        if unjudged is not None:  # the judge (tests or interactor) failed, not the program: no verdict
            job.final = Score(None, {"shape": job.suite.shape}, unjudged.error)

    async def _check(self, jobs: list[Job]) -> None:
        by_limits: dict[Limits, list[Job]] = {}
        for job in jobs:
            limits = Limits(wall_time_s=job.params.checker_time_limit_s, memory_mb=job.params.checker_memory_mb)
            by_limits.setdefault(limits, []).append(job)
        for limits, same in by_limits.items():
            tasks = [task for job in same for _, task in job.checks]
            try:
                await self.checkers.judge(tasks, limits)
            except SandboxUnavailable as exc:
                self._health = Health("down", str(exc))
                for job in same:
                    job.final = Score(None, {}, f"sandbox unavailable (checker): {exc}")
                continue
            except UnsupportedLanguage as exc:
                for job in same:
                    job.final = Score(None, {}, f"the checker cannot run here: {exc}")
                continue
            except (SandboxFailure, InvalidRequest, ValidationError) as exc:
                for job in same:
                    job.final = Score(None, {}, f"sandbox error (checker): {exc}")
                continue
            for job in same:
                _apply_checks(job)

    async def _run_suite(self, job: Job) -> tuple[list[Outcome], str | None]:
        suite, code, language, params = job.suite, job.code, job.language, job.params
        limits = Limits(wall_time_s=params.time_limit_s, memory_mb=params.memory_mb)
        if isinstance(suite, StdioSuite) and suite.interactor is None:
            cases = suite.cases[: params.max_tests]
            runs = [RunSpec(stdin=case.input, limits=limits) for case in cases]
            program = Program(language=language.name, source=code)
            exec_request = ExecRequest(program=program, runs=runs, stop_on_failure=params.stop_on_first_failure)
            response = await self._execute(self.executor.execute(exec_request), len(runs), language.name)
            record_runs([result.status.value for result in response.runs], language.name)
            job.timed_out = _timed_out([response.compile, *response.runs])
            outcomes = [
                self._stdio_result(job, index, result, suite.cases[index]) for index, result in enumerate(response.runs)
            ]
            compiled, total = response.compile, len(runs)
        else:
            pair_request, nonces = _pair_request(suite, code, language, params, limits)
            pair = await self._execute(self.executor.execute_pair(pair_request), len(nonces), language.name)
            record_runs([run.program.status.value for run in pair.runs], language.name)
            sides = [side for run in pair.runs for side in (run.program, run.peer)]
            job.timed_out = _timed_out([pair.compile, pair.peer_compile, *sides])
            if pair.peer_compile is not None and pair.peer_compile.status is not ExecStatus.OK:
                why = pair.peer_compile.stderr or pair.peer_compile.message
                raise _JudgeUnusable(f"the interactor does not compile: {_cut(why, 1000)}")
            outcomes = [
                _paired_outcome(suite, index, result, nonces[index], params) for index, result in enumerate(pair.runs)
            ]
            compiled, total = pair.compile, len(nonces)
        compile_error = None
        if compiled is not None and compiled.status is ExecStatus.COMPILE_ERROR:
            compile_error = _cut(compiled.stderr or compiled.message, 2000)
        outcomes += [Outcome(False, "not_run", 0.0) for _ in range(total - len(outcomes))]
        return outcomes, compile_error

    @staticmethod
    async def _execute(work: Awaitable[_Response], runs: int, language: str) -> _Response:
        try:
            with PROGRAMS_IN_FLIGHT.track_inprogress():
                return await work
        except SandboxUnavailable:
            record_runs([ExecStatus.SANDBOX_ERROR.value] * runs, language)  # none of them ran
            raise

    @staticmethod
    def _stdio_result(job: Job, index: int, result: ExecResult, case: StdioCase) -> Outcome:
        suite = job.suite
        assert isinstance(suite, StdioSuite)
        if suite.checker is not None and result.status is ExecStatus.OK:
            task = CheckTask(suite.checker, case.input, result.stdout, case.output or "")
            job.checks.append((index, task))
            return Outcome(False, "checking", result.wall_time_s, **_excerpt(case, result))
        return _stdio_outcome(result, case, job.params)

    def _verdict(self, job: Job) -> Score:
        params, outcomes = job.params, job.outcomes
        passed = sum(o.passed for o in outcomes)
        total = len(outcomes)
        details: dict[str, Any] = {
            "language": job.language.name,
            "shape": job.suite.shape,
            "passed": passed,
            "total": total,
            "tests": [_test_detail(o) for o in outcomes[:MAX_TEST_DETAILS]],
            "time_s": round(sum(o.time_s for o in outcomes), 4),
        }
        if job.compile_error is not None:
            details["reason"] = "compile_error"
            details["compile_error"] = job.compile_error
            return Score(params.compile_error_score, details, cacheable=not job.timed_out)
        cases = None if isinstance(job.suite, AssertSuite) else job.suite.cases[:total]
        try:
            value, extra = combine([o.score for o in outcomes], cases, params.scoring)
        except UnusableReference as exc:
            return Score(None, details, str(exc))
        details.update(extra)
        if job.checks:
            checked = [task.result for _, task in job.checks if task.result is not None]
            details["checker"] = {
                "convention": job.checks[0][1].checker.convention,
                "language": job.checks[0][1].checker.language,
                "time_s": round(sum(r.time_s for r in checked), 4),
                "cached": sum(r.cached for r in checked),
            }
        failure = next(((i, o) for i, o in enumerate(outcomes) if not o.passed), None)
        if failure is not None:
            index, outcome = failure
            details["first_failure"] = {
                "index": index,
                "status": outcome.status,
                "input": outcome.input,
                "expected": outcome.expected,
                "got": outcome.got,
                "error": outcome.error,
            }
            if outcome.message:
                details["first_failure"]["checker_message"] = outcome.message
        return Score(value, details, cacheable=not job.timed_out)


def _test_detail(outcome: Outcome) -> dict[str, Any]:
    detail: dict[str, Any] = {"status": outcome.status, "time_s": round(outcome.time_s, 4)}
    if outcome.checker_time_s is not None:
        detail["checker_time_s"] = round(outcome.checker_time_s, 4)
    if 0.0 < outcome.score < 1.0:
        detail["score"] = outcome.score
    return detail


def _excerpt(case: StdioCase, result: ExecResult) -> dict[str, str]:
    return {"input": _cut(case.input), "expected": _cut(case.output or ""), "got": _cut(result.stdout)}


def _apply_checks(job: Job) -> None:
    """Put the checkers' verdicts into the outcomes; any checker failure makes the item null + error."""
    for index, task in job.checks:
        verdict = task.result
        if verdict is None or verdict.score is None:
            error = verdict.error if verdict is not None else "no verdict"
            job.final = Score(None, {"shape": job.suite.shape}, f"checker failed on test {index}: {error}")
            return
        outcome = job.outcomes[index]
        outcome.score = verdict.score
        outcome.passed = verdict.score >= 1.0
        outcome.status = "passed" if outcome.passed else verdict.verdict
        outcome.checker_time_s = verdict.time_s
        outcome.message = verdict.message


def _assemble(suite: AssertSuite, code: str, include_prompt: str) -> str:
    if include_prompt == "never" or not suite.prompt:
        return code
    defines = re.search(rf"^\s*def\s+{re.escape(suite.entry_point)}\s*\(", code, re.MULTILINE) is not None
    if include_prompt == "always" or not defines:
        return suite.prompt + code
    return suite.prompt + "\n\n" + code


def _failed_run(result: ExecResult, **fields: str) -> Outcome:
    error = result.message
    if result.stderr:
        error = f"{error}: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ''}"
    return Outcome(False, result.status.value, result.wall_time_s, error=_cut(error, 500), **fields)


def _stdio_outcome(result: ExecResult, case: StdioCase, params: CodeParams) -> Outcome:
    excerpt = _excerpt(case, result)
    if result.status is not ExecStatus.OK:
        return _failed_run(result, **excerpt)
    if case.output is not None and tokens_match(result.stdout, case.output, params.float_tolerance):
        return Outcome(True, "passed", result.wall_time_s)
    return Outcome(False, "wrong_answer", result.wall_time_s, **excerpt)


def _timed_out(results: Sequence[ExecResult | None]) -> bool:
    return any(result is not None and result.status is ExecStatus.TIMEOUT for result in results)


class _JudgeUnusable(Exception):
    """The item's judge (tests, interactor) cannot judge it: null + this error, never a score."""


_Response = TypeVar("_Response", ExecResponse, PairResponse)
# Outcome statuses that mean the judge, not the program, failed: the item gets no score.
_NO_VERDICT = frozenset({"unjudgeable", "judge_failed"})
# The judge process gets a little longer than the program: the program's limit is what ends a slow run.
JUDGE_GRACE_S = 2.0


def _pair_request(
    suite: Suite, code: str, language: Language, params: CodeParams, limits: Limits
) -> tuple[PairRequest, list[str]]:
    """The program and its judge (the harness's judge, or the reference's interactor), one run per test."""
    # The same memory as the program's: a docker container's memory limit changes with an API call, and
    # containers take either side from one item to the next.
    judge_limits = Limits(wall_time_s=min(limits.wall_time_s + JUDGE_GRACE_S, 3600), memory_mb=limits.memory_mb)
    if isinstance(suite, StdioSuite):
        assert suite.interactor is not None
        interactor = suite.interactor
        cases = suite.cases[: params.max_tests]
        runs = [
            PairSpec(
                program=RunSpec(limits=limits),
                peer=RunSpec(argv=list(INTERACTOR_ARGV), limits=judge_limits),
                peer_files={"input.txt": case.input, "answer.txt": case.output or ""},
            )
            for case in cases
        ]
        request = PairRequest(
            program=Program(language=language.name, source=code),
            peer=Program(language=interactor.language, source=interactor.source),
            runs=runs,
            stop_on_failure=params.stop_on_first_failure,
        )
        return request, [""] * len(runs)
    if isinstance(suite, CallSuite):
        config = {"name": suite.fn_name, "solution_class": True}
        solution = suite.prelude + code
        job: dict[str, Any] = {"mode": "call"}
        per_run: list[dict[str, Any]] = [{"args": case.args} for case in suite.cases[: params.max_tests]]
    else:
        config = {"name": suite.entry_point, "solution_class": False}
        solution = _assemble(suite, code, params.include_prompt)
        job = {"mode": "assert", "helpers": suite.prompt, "tests": suite.test, "entry_point": suite.entry_point}
        per_run = [{}]
    nonces = [secrets.token_hex(16) for _ in per_run]
    runs = [
        PairSpec(
            program=RunSpec(limits=limits),
            peer=RunSpec(limits=judge_limits),
            peer_files={"run.json": json.dumps({**fields, "nonce": nonce})},
        )
        for fields, nonce in zip(per_run, nonces, strict=True)
    ]
    request = PairRequest(
        program=Program(language="python", source=CANDIDATE,
                        files={"solution.py": solution, "call.json": json.dumps(config)}),
        peer=Program(language="python", source=JUDGE, files={"judge.json": json.dumps(job)}),
        runs=runs,
        stop_on_failure=params.stop_on_first_failure,
    )  # fmt: skip
    return request, nonces


def _judge_verdict(judge: ExecResult, nonce: str) -> dict[str, Any] | None:
    """The judge's last verdict line: it starts with the run's nonce, which only the judge's files hold."""
    for line in reversed(judge.stderr.splitlines()):
        if line.startswith(nonce + " "):
            try:
                verdict = json.loads(line[len(nonce) + 1 :])
            except ValueError:
                return None
            return verdict if isinstance(verdict, dict) else None
    return None


def _paired_outcome(suite: Suite, index: int, pair: PairResult, nonce: str, params: CodeParams) -> Outcome:
    program, judge = pair.program, pair.peer
    for side in (program, judge):
        if side.status is ExecStatus.SANDBOX_ERROR:
            return Outcome(False, ExecStatus.SANDBOX_ERROR.value, 0.0, error=side.message)
    if isinstance(suite, StdioSuite):
        return _interactive_outcome(suite.cases[index], program, judge)
    verdict = _judge_verdict(judge, nonce)
    if verdict is None:
        if program.status is not ExecStatus.OK:
            return _failed_run(program)
        # The program is fine and the judge said nothing: its own limits, or a crash in the tests.
        why = f"the judge ended without a verdict ({judge.status.value}: {judge.message or _last_line(judge.stderr)})"
        return Outcome(False, "no_verdict", program.wall_time_s, error=_cut(why, 500))
    status = str(verdict.get("status", ""))
    if status == "unjudgeable":
        return Outcome(False, "unjudgeable", program.wall_time_s, error=_cut(str(verdict.get("error", "")), 500))
    if isinstance(suite, CallSuite):
        return _call_outcome(program, verdict, suite.cases[index], params, suite.unwrap_singleton)
    if status == "passed":
        return Outcome(True, "passed", program.wall_time_s)
    if program.status is not ExecStatus.OK:  # the run's own end (a timeout, a memory kill) says more
        return _failed_run(program)
    return Outcome(False, status or "failed", program.wall_time_s, error=_cut(str(verdict.get("error")), 500))


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _call_outcome(
    program: ExecResult, verdict: dict[str, Any], case: CallCase, params: CodeParams, unwrap_singleton: bool
) -> Outcome:
    excerpt = {"input": _cut(json.dumps(case.args)), "expected": _cut(json.dumps(case.expected))}
    if verdict.get("status") != "returned":
        if program.status is not ExecStatus.OK:
            return _failed_run(program, **excerpt)
        return Outcome(False, "error", program.wall_time_s, error=_cut(str(verdict.get("error", ""))), **excerpt)
    value = verdict.get("value")
    expected = case.expected
    ok = values_match(value, expected, params.float_tolerance) or (
        unwrap_singleton
        and isinstance(expected, list)
        and len(expected) == 1
        and values_match(value, expected[0], params.float_tolerance)
    )
    if ok:
        return Outcome(True, "passed", program.wall_time_s)
    return Outcome(False, "wrong_answer", program.wall_time_s, got=_cut(json.dumps(value)), **excerpt)


# testlib's order: the interactor reads the test's input, writes its log to the output file, and may read
# the answer; its stdin and stdout are the program's stdout and stdin.
INTERACTOR_ARGV = ("input.txt", "/tmp/interactor-output.txt", "answer.txt")
_INTERACTOR_VERDICTS = {1: "wrong_answer", 2: "presentation_error"}
_LIMIT_KILLS = frozenset({ExecStatus.TIMEOUT, ExecStatus.MEMORY_LIMIT, ExecStatus.OUTPUT_LIMIT})
PYTHON_FLUSH_FAILED = 120  # CPython's exit status when stdout cannot be flushed at exit (a closed pipe)


def _interactive_outcome(case: StdioCase, program: ExecResult, interactor: ExecResult) -> Outcome:
    """testlib's exit codes decide (0 accepted, 1 wrong answer, 2 presentation error, 3 the interactor
    failed). A program killed at a limit reports that limit (the interactor then saw it vanish); otherwise a
    wrong answer stands whatever the program did next (it may have been cut off mid-write). An accepted
    interaction still needs the program to have ended well. An interactor that fails, crashes or runs out of
    time while the program is fine gives no verdict."""
    excerpt = {"input": _cut(case.input), "expected": _cut(case.output or "")}
    message = _cut(interactor.stderr.strip(), 500)
    code = interactor.exit_code if interactor.status in (ExecStatus.OK, ExecStatus.RUNTIME_ERROR) else None
    if program.status in _LIMIT_KILLS:
        return _failed_run(program, **excerpt)
    if code in _INTERACTOR_VERDICTS:
        return Outcome(False, _INTERACTOR_VERDICTS[code], program.wall_time_s, error=message, **excerpt)
    if code == 3:
        return Outcome(False, "judge_failed", program.wall_time_s, error=f"the interactor failed: {message}")
    if code == 0:
        if program.status is not ExecStatus.OK:  # accepted, but the program did not end well
            return _failed_run(program, **excerpt)
        return Outcome(True, "passed", program.wall_time_s)
    if interactor.signal == signal.SIGPIPE or code == PYTHON_FLUSH_FAILED:
        # It wrote to a program that had stopped reading (and ended): the program broke the protocol.
        error = "the program stopped reading before the interactor was done"
        return Outcome(False, "wrong_answer", program.wall_time_s, error=error, **excerpt)
    why = f"the interactor ended without a verdict ({interactor.status.value}, exit {interactor.exit_code}, " \
          f"signal {interactor.signal}): {interactor.message or message}"  # fmt: skip
    return Outcome(False, "judge_failed", program.wall_time_s, error=_cut(why, 500))
