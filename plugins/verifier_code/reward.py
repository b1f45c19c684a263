"""The ``code`` reward: run the model's program against the item's tests in the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.errors import InvalidRequest, SandboxUnavailable, UnsupportedLanguage
from sandbox.languages import Language, get_language
from sandbox.types import (
    BackendHealth,
    ExecRequest,
    ExecResponse,
    ExecResult,
    ExecStatus,
    Limits,
    Program,
    RunSpec,
)
from verifier import Health, RewardItem, Score
from verifier_code.compare import tokens_match, values_match
from verifier_code.extract import ExtractMode, extract_program
from verifier_code.harness import HARNESS
from verifier_code.metrics import PROGRAMS_IN_FLIGHT, record_runs
from verifier_code.suite import AssertSuite, CallSuite, StdioSuite, Suite, UnusableReference, parse_reference

EXCERPT = 200
MAX_TEST_DETAILS = 50
HEALTH_INTERVAL_S = 15.0


class CodeParams(BaseModel):
    """Per-request parameters of the ``code`` reward."""

    model_config = ConfigDict(extra="forbid")

    language: str = Field(
        "python", description="Language of the program (python, cpp, java, javascript, ...)."
    )
    extract: ExtractMode = Field(
        "auto",
        description="auto: last fenced block of the language, else the raw completion if it has no fences; "
        "last_block / first_block: that fenced block or nothing; whole: the completion as is.",
    )
    scoring: Literal["fraction", "all_or_nothing"] = Field(
        "fraction", description="Score = share of tests passed, or 1/0."
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
    max_tests: int | None = Field(None, gt=0, description="Run only the first N tests.")
    include_prompt: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Assert tests: prepend the reference's prompt (auto: as a continuation when the code "
        "does not define the entry point itself, else before it, keeping the prompt's helpers).",
    )


class Executor(Protocol):
    async def execute(self, request: ExecRequest) -> ExecResponse: ...

    async def health(self) -> BackendHealth: ...

    async def aclose(self) -> None: ...


@dataclass
class Outcome:
    passed: bool
    status: str
    time_s: float
    input: str = ""
    expected: str = ""
    got: str = ""
    error: str = ""


def _cut(text: str, size: int = EXCERPT) -> str:
    return text if len(text) <= size else text[:size] + f"... ({len(text)} chars)"


class CodeReward:
    """Scores items by running their program; one shared executor (in-process backend or sandbox servers)."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._health = Health("ok", "not checked yet")
        self._monitor: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ host hooks

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
            state = await self.executor.health()
        except SandboxUnavailable as exc:
            self._health = Health("down", str(exc))
            return self._health
        message = state.message if state.isolated else f"NOT ISOLATED: {state.message}"
        self._health = Health(state.status, message or f"{state.backend}: {', '.join(state.languages)}")
        return self._health

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            await self.refresh_health()

    # ------------------------------------------------------------------ scoring

    async def __call__(self, items: Sequence[RewardItem]) -> list[Score]:
        return list(await asyncio.gather(*(self.score_one(item) for item in items)))

    async def score_one(self, item: RewardItem) -> Score:
        params = item.params if isinstance(item.params, CodeParams) else CodeParams()
        try:
            language = get_language(params.language)
            suite = parse_reference(item.reference)
        except (UnsupportedLanguage, UnusableReference) as exc:
            return Score(None, {}, str(exc))
        if not isinstance(suite, StdioSuite) and language.name != "python":
            return Score(None, {}, f"{type(suite).__name__} tests need language python, not {language.name}")
        code = extract_program(item.completion_text, language, params.extract)
        if code is None:
            return Score(0.0, {"reason": "no_code", "language": language.name})
        try:
            outcomes, compile_error = await self._run_suite(suite, code, language, params)
        except SandboxUnavailable as exc:
            self._health = Health("down", str(exc))
            return Score(None, {}, f"sandbox unavailable: {exc}")
        except UnsupportedLanguage as exc:
            return Score(None, {}, str(exc))
        except (InvalidRequest, ValidationError) as exc:  # the sandbox cannot run this item as asked
            return Score(None, {}, f"invalid sandbox request: {exc}")
        sandbox_failure = next((o for o in outcomes if o.status == ExecStatus.SANDBOX_ERROR), None)
        if sandbox_failure is not None:
            return Score(None, {}, f"sandbox error: {sandbox_failure.error}")
        return self._verdict(outcomes, compile_error, language, params)

    async def _run_suite(
        self, suite: Suite, code: str, language: Language, params: CodeParams
    ) -> tuple[list[Outcome], str | None]:
        limits = Limits(wall_time_s=params.time_limit_s, memory_mb=params.memory_mb)
        token = secrets.token_hex(16)
        if isinstance(suite, StdioSuite):
            cases = suite.cases[: params.max_tests]
            runs = [RunSpec(stdin=case.input, limits=limits) for case in cases]
            program = Program(language=language.name, source=code)
        elif isinstance(suite, CallSuite):
            calls = suite.cases[: params.max_tests]
            request = {"mode": "call", "fn_name": suite.fn_name}
            runs = [
                RunSpec(stdin=f"{token}\n{json.dumps({**request, 'args': c.args})}\n", limits=limits)
                for c in calls
            ]
            program = Program(language="python", source=HARNESS, files={"solution.py": code})
        else:
            source = _assemble(suite, code, params.include_prompt)
            request = {"mode": "assert", "entry_point": suite.entry_point}
            runs = [RunSpec(stdin=f"{token}\n{json.dumps(request)}\n", limits=limits)]
            program = Program(
                language="python", source=HARNESS, files={"solution.py": source, "tests.py": suite.test}
            )
        exec_request = ExecRequest(program=program, runs=runs, stop_on_failure=params.stop_on_first_failure)
        try:
            with PROGRAMS_IN_FLIGHT.track_inprogress():
                response = await self.executor.execute(exec_request)
        except SandboxUnavailable:
            record_runs([ExecStatus.SANDBOX_ERROR.value] * len(runs), language.name)  # none of them ran
            raise
        record_runs([result.status.value for result in response.runs], language.name)
        compile_error = None
        if response.compile is not None and response.compile.status is ExecStatus.COMPILE_ERROR:
            compile_error = _cut(response.compile.stderr or response.compile.message, 2000)
        outcomes: list[Outcome] = []
        for index, result in enumerate(response.runs):
            if isinstance(suite, StdioSuite):
                outcomes.append(_stdio_outcome(result, suite.cases[index], params))
            elif isinstance(suite, CallSuite):
                outcomes.append(_call_outcome(result, suite.cases[index], token, params))
            else:
                outcomes.append(_assert_outcome(result, token))
        total = len(runs)
        outcomes += [Outcome(False, "not_run", 0.0) for _ in range(total - len(outcomes))]
        return outcomes, compile_error

    def _verdict(
        self, outcomes: list[Outcome], compile_error: str | None, language: Language, params: CodeParams
    ) -> Score:
        passed = sum(o.passed for o in outcomes)
        total = len(outcomes)
        value = passed / total
        if params.scoring == "all_or_nothing":
            value = float(passed == total)
        details: dict[str, Any] = {
            "language": language.name,
            "passed": passed,
            "total": total,
            "tests": [
                {"status": o.status, "time_s": round(o.time_s, 4)} for o in outcomes[:MAX_TEST_DETAILS]
            ],
        }
        if compile_error is not None:
            details["reason"] = "compile_error"
            details["compile_error"] = compile_error
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
        return Score(value, details)


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


def _stdio_outcome(result: ExecResult, case: Any, params: CodeParams) -> Outcome:
    excerpt = {"input": _cut(case.input), "expected": _cut(case.output), "got": _cut(result.stdout)}
    if result.status is not ExecStatus.OK:
        return _failed_run(result, **excerpt)
    if tokens_match(result.stdout, case.output, params.float_tolerance):
        return Outcome(True, "passed", result.wall_time_s)
    return Outcome(False, "wrong_answer", result.wall_time_s, **excerpt)


def _harness_verdict(result: ExecResult, token: str) -> dict[str, Any] | None:
    """The harness's last verdict line, if the run got that far (the program cannot forge it)."""
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(token + " "):
            try:
                verdict = json.loads(line[len(token) + 1 :])
            except ValueError:
                return None
            return verdict if isinstance(verdict, dict) else None
    return None


def _call_outcome(result: ExecResult, case: Any, token: str, params: CodeParams) -> Outcome:
    excerpt = {"input": _cut(json.dumps(case.args)), "expected": _cut(json.dumps(case.expected))}
    verdict = _harness_verdict(result, token)
    if result.status is not ExecStatus.OK or verdict is None:
        outcome = _failed_run(result, **excerpt)
        if verdict is None and result.status is ExecStatus.OK:
            outcome.status, outcome.error = "no_verdict", "the program exited before the harness finished"
        return outcome
    if verdict.get("status") != "returned":
        return Outcome(
            False, "error", result.wall_time_s, error=_cut(str(verdict.get("error", ""))), **excerpt
        )
    value = verdict.get("value")
    expected = case.expected
    ok = values_match(value, expected, params.float_tolerance) or (
        isinstance(expected, list)
        and len(expected) == 1
        and values_match(value, expected[0], params.float_tolerance)
    )
    if ok:
        return Outcome(True, "passed", result.wall_time_s)
    return Outcome(False, "wrong_answer", result.wall_time_s, got=_cut(json.dumps(value)), **excerpt)


def _assert_outcome(result: ExecResult, token: str) -> Outcome:
    verdict = _harness_verdict(result, token)
    if result.status is not ExecStatus.OK or verdict is None:
        outcome = _failed_run(result)
        if verdict is None and result.status is ExecStatus.OK:
            outcome.status, outcome.error = "no_verdict", "the program exited before the tests ran"
        return outcome
    if verdict.get("status") == "passed":
        return Outcome(True, "passed", result.wall_time_s)
    return Outcome(
        False, str(verdict.get("status", "failed")), result.wall_time_s, error=_cut(str(verdict.get("error")))
    )
