"""SandboxFusion's ``/run_code`` request and response shapes, translated to and from ours.

Tools written for SandboxFusion (its SDK, verl's sandbox client) post ``RunCodeRequest`` and read
``status`` ("Success" / "Failed" / "SandboxError") and ``run_result`` / ``compile_result``
(``status`` "Finished" / "Error" / "TimeLimitExceeded", ``return_code``, ``stdout``, ``stderr``,
``execution_time``), as SandboxFusion's ``parse_run_status`` and its SDK's ``summary_run_code_result``
read them: a failed or timed-out compile has no ``run_result``; a timeout is "TimeLimitExceeded" with no
return code; anything that ran has one (128 + the signal when killed); ``message`` is empty unless the
sandbox failed or a limit fired. Extra files arrive base64-encoded; the program runs in a writable working
directory of its own, and ``fetch_files`` come back base64-encoded in ``files`` (missing ones left out).
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.errors import InvalidRequest, UnsupportedLanguage
from sandbox.languages import get_language
from sandbox.types import ExecRequest, ExecResponse, ExecResult, ExecStatus, Limits, MiB, Program, RunSpec

# SandboxFusion's language names that differ from ours (the rest are names or aliases in sandbox.languages).
LANGUAGE_ALIASES = {"nodejs": "javascript", "js": "javascript", "python3": "python", "golang": "go"}

# SandboxFusion languages this sandbox does not provide, and why: said by name instead of "unknown language".
NOT_PROVIDED = {
    "go_test": "needs Go modules (testify) fetched from the network",
    "jest": "needs an npm install of jest",
    "sql": "not provided",
    "cuda": "needs a GPU",
    "python_gpu": "needs a GPU",
    "lean": "needs a Lean toolchain and mathlib",
    "swift": "Debian has no Swift compiler",
    "julia": "Debian bookworm has no julia package",
    "racket": "not installed (about 400 MB)",
}

_COMPILE_TIMED_OUT = "compilation timed out"  # the backends' message for a compile stopped at its time limit


class RunCodeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str
    language: str = "python"
    compile_timeout: float = Field(10.0, gt=0, le=3600)
    run_timeout: float = Field(10.0, gt=0, le=3600)
    memory_limit_MB: int = Field(-1, ge=-1, le=65536, description="-1 or 0: the default (1024 MB).")
    stdin: str | None = None
    files: dict[str, str | None] = Field(default_factory=dict)
    fetch_files: list[str] = Field(default_factory=list)


class CommandRunResult(BaseModel):
    status: Literal["Finished", "Error", "TimeLimitExceeded"]
    execution_time: float | None = None
    return_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


class RunCodeResponse(BaseModel):
    status: Literal["Success", "Failed", "SandboxError"]
    message: str = ""
    compile_result: CommandRunResult | None = None
    run_result: CommandRunResult | None = None
    executor_pod_name: str | None = None
    files: dict[str, str] = Field(default_factory=dict)


def to_exec_request(request: RunCodeRequest) -> ExecRequest:
    """Our request for SandboxFusion's; ``InvalidRequest`` names what cannot be run as asked."""
    memory = request.memory_limit_MB if request.memory_limit_MB > 0 else 1024
    files = {}
    for name, content in request.files.items():
        if content is None:
            continue
        try:
            files[name] = base64.b64decode(content, validate=True).decode("utf-8", errors="replace")
        except ValueError:  # binascii.Error is one
            raise InvalidRequest(f"files[{name!r}]: not base64") from None
    language = LANGUAGE_ALIASES.get(request.language.lower(), request.language)
    if language in NOT_PROVIDED:
        raise UnsupportedLanguage(language, NOT_PROVIDED[language])
    code = request.code
    if get_language_or_none(language) == "php" and "<?php" not in code:
        code = "<?php\n" + code  # as SandboxFusion does: PHP would print an untagged program as text
    try:
        run_limits = Limits(wall_time_s=request.run_timeout, memory_mb=memory, output_bytes=8 * MiB)
        compile_limits = Limits(wall_time_s=request.compile_timeout, memory_mb=max(memory, 2048), max_processes=128)
        program = Program(language=language, source=code, files=files, compile_limits=compile_limits)
        run = RunSpec(
            stdin=request.stdin or "", limits=run_limits, writable=True, fetch_files=list(request.fetch_files)
        )
        return ExecRequest(program=program, runs=[run])
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from None


def get_language_or_none(name: str) -> str | None:
    try:
        return get_language(name).name
    except UnsupportedLanguage:
        return None


def validation_message(exc: ValidationError) -> str:
    """The first problem of a validation error, as ``where: what``."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    where = ".".join(str(part) for part in errors[0].get("loc", ()))
    return f"{where}: {errors[0].get('msg', '')}" if where else str(errors[0].get("msg", ""))


def _command_result(result: ExecResult) -> CommandRunResult:
    timed_out = result.status is ExecStatus.TIMEOUT or (
        result.status is ExecStatus.COMPILE_ERROR and result.message == _COMPILE_TIMED_OUT
    )
    code = (
        result.exit_code if result.exit_code is not None else (128 + result.signal if result.signal else None)
    )
    if timed_out:
        status: Literal["Finished", "Error", "TimeLimitExceeded"] = "TimeLimitExceeded"
        code = None  # SandboxFusion reports none: the process did not finish
    elif result.status is ExecStatus.SANDBOX_ERROR:
        status = "Error"
    else:
        status = "Finished"
    return CommandRunResult(status=status, execution_time=result.wall_time_s, return_code=code,
                            stdout=result.stdout, stderr=result.stderr)  # fmt: skip


def to_run_code_response(response: ExecResponse) -> RunCodeResponse:
    compile_result = _command_result(response.compile) if response.compile is not None else None
    if response.compile is not None and response.compile.status is not ExecStatus.OK:
        status: Literal["Failed", "SandboxError"] = (
            "SandboxError" if response.compile.status is ExecStatus.SANDBOX_ERROR else "Failed"
        )
        return RunCodeResponse(status=status, message=response.compile.message, compile_result=compile_result)
    run = response.runs[0]
    if run.status is ExecStatus.SANDBOX_ERROR:
        return RunCodeResponse(status="SandboxError", message=run.message, compile_result=compile_result)
    if run.ok:
        return RunCodeResponse(status="Success", compile_result=compile_result, run_result=_command_result(run),
                               files=run.files)  # fmt: skip
    return RunCodeResponse(status="Failed", message=run.message, compile_result=compile_result,
                           run_result=_command_result(run), files=run.files)  # fmt: skip


def sandbox_error(message: str) -> dict[str, Any]:
    return RunCodeResponse(status="SandboxError", message=message).model_dump()
