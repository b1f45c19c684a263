"""SandboxFusion's ``/run_code`` request and response shapes, translated to and from ours.

Tools written for SandboxFusion (verl's sandbox client, for one) post ``RunCodeRequest`` and read
``status`` ("Success" / "Failed" / "SandboxError") and ``run_result`` / ``compile_result``
(``status`` "Finished" / "Error" / "TimeLimitExceeded", ``return_code``, ``stdout``, ``stderr``,
``execution_time``). Extra files arrive base64-encoded, as SandboxFusion sends them.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbox.types import ExecRequest, ExecResponse, ExecResult, ExecStatus, Limits, MiB, Program, RunSpec

# SandboxFusion's language names that differ from ours.
LANGUAGE_ALIASES = {"nodejs": "javascript", "js": "javascript", "python3": "python", "golang": "go"}


class RunCodeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str
    language: str = "python"
    compile_timeout: float = 10.0
    run_timeout: float = 10.0
    memory_limit_MB: int = -1
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
    memory = request.memory_limit_MB if request.memory_limit_MB > 0 else 1024
    files = {
        name: base64.b64decode(content).decode("utf-8", errors="replace")
        for name, content in request.files.items()
        if content is not None
    }
    language = LANGUAGE_ALIASES.get(request.language.lower(), request.language)
    run_limits = Limits(wall_time_s=request.run_timeout, memory_mb=memory, output_bytes=8 * MiB)
    compile_limits = Limits(
        wall_time_s=request.compile_timeout, memory_mb=max(memory, 2048), max_processes=128
    )
    program = Program(language=language, source=request.code, files=files, compile_limits=compile_limits)
    return ExecRequest(program=program, runs=[RunSpec(stdin=request.stdin or "", limits=run_limits)])


def _command_result(result: ExecResult) -> CommandRunResult:
    if result.status is ExecStatus.TIMEOUT:
        status: Literal["Finished", "Error", "TimeLimitExceeded"] = "TimeLimitExceeded"
    elif result.status is ExecStatus.SANDBOX_ERROR:
        status = "Error"
    else:
        status = "Finished"
    code = (
        result.exit_code if result.exit_code is not None else (128 + result.signal if result.signal else None)
    )
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
    return RunCodeResponse(status="Success" if run.ok else "Failed", message=run.message,
                           compile_result=compile_result, run_result=_command_result(run))  # fmt: skip


def sandbox_error(message: str) -> dict[str, Any]:
    return RunCodeResponse(status="SandboxError", message=message).model_dump()
