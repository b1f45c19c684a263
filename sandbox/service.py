"""``sandbox serve``: the sandbox as its own HTTP service, so code execution scales out to other hosts.

Routes: ``POST /v1/execute`` (an ``ExecRequest``: one program, compiled once, and its runs),
``POST /v1/pair`` (a ``PairRequest``: a program and its peer, each in its own sandbox, wired stdin to stdout),
``GET /v1/health`` (the backend's ``BackendHealth``; 503 when down), ``GET /v1/languages`` (every language
of the table and whether this backend can run it), and SandboxFusion's ``POST /run_code`` and
``GET /v1/ping`` for tools written against SandboxFusion.

Every failure answers with one body, ``{"error": {"type", "message", "details"}}`` (the verifier's shape):
a request that cannot be run as asked (unsafe or conflicting file names, sizes, limits, an unknown
language) is 422 on every route; an infrastructure failure is 503, except on ``/run_code``, where
SandboxFusion's own ``"status": "SandboxError"`` answer says it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sandbox.errors import InvalidRequest, SandboxUnavailable, UnsupportedLanguage
from sandbox.fusion import (
    RunCodeRequest,
    RunCodeResponse,
    sandbox_error,
    to_exec_request,
    to_run_code_response,
)
from sandbox.languages import LANGUAGES
from sandbox.types import (
    Backend,
    BackendHealth,
    ExecRequest,
    ExecResponse,
    PairRequest,
    PairResponse,
)

log = logging.getLogger(__name__)


def error_response(status: int, type_: str, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    """The one error body of the service."""
    return JSONResponse({"error": {"type": type_, "message": message, "details": details or {}}}, status_code=status)


def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


BackendDep = Annotated[Backend, Depends(get_backend)]


def create_app(make_backend: Callable[[], Backend]) -> FastAPI:
    """An app whose lifespan starts the backend ``make_backend()`` returns and closes it at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = make_backend()
        await backend.start()
        app.state.backend = backend
        try:
            yield
        finally:
            await backend.aclose()

    app = FastAPI(title="r1-verifier sandbox", lifespan=lifespan)

    @app.exception_handler(SandboxUnavailable)
    async def unavailable(request: Request, exc: SandboxUnavailable) -> JSONResponse:
        if request.url.path == "/run_code":
            return JSONResponse(sandbox_error(str(exc)), status_code=200)
        return error_response(503, "sandbox_unavailable", str(exc))

    @app.exception_handler(InvalidRequest)
    async def invalid(request: Request, exc: InvalidRequest) -> JSONResponse:
        if isinstance(exc, UnsupportedLanguage):
            details = {"language": exc.language, "reason": exc.reason}
            return error_response(422, "unsupported_language", str(exc), details)
        return error_response(422, "invalid_request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        where = ".".join(str(part) for part in errors[0]["loc"]) if errors else ""
        message = f"{where}: {errors[0]['msg']}" if errors else "invalid request"
        return error_response(422, "invalid_request", message, {"errors": errors})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "internal error; the server log has the traceback")

    @app.post("/v1/execute")
    async def execute_program(body: ExecRequest, backend: BackendDep) -> ExecResponse:
        """Compile a program once and run it once per run spec."""
        return await backend.execute(body)

    @app.post("/v1/pair")
    async def pair_programs(body: PairRequest, backend: BackendDep) -> PairResponse:
        """Prepare a program and its peer, each in its own sandbox, and make their paired runs."""
        return await backend.execute_pair(body)

    @app.get("/v1/health", response_model=BackendHealth)
    async def health(backend: BackendDep) -> JSONResponse:
        """The backend's health; 503 when it cannot run programs."""
        state = await backend.health()
        return JSONResponse(state.model_dump(), status_code=503 if state.status == "down" else 200)

    @app.get("/v1/languages")
    async def languages(backend: BackendDep) -> dict[str, Any]:
        """Every language the sandbox knows, and whether this backend has its toolchain."""
        state = await backend.health()
        usable = set(state.languages)
        return {
            "backend": state.backend,
            "status": state.status,
            "languages": [
                {
                    "name": lang.name,
                    "aliases": list(lang.aliases),
                    "compiled": lang.compiled,
                    "toolchain": list(lang.toolchain),
                    "available": lang.name in usable,
                }
                for lang in LANGUAGES
            ],
        }

    @app.get("/v1/ping")
    async def ping() -> str:
        """SandboxFusion's liveness check: "pong"."""
        return "pong"

    @app.post("/run_code")
    async def run_code(body: RunCodeRequest, backend: BackendDep) -> RunCodeResponse:
        """Run code in SandboxFusion's request and response shape."""
        return to_run_code_response(await backend.execute(to_exec_request(body)))

    return app
