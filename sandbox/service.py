"""``sandbox serve``: the sandbox as its own HTTP service, so code execution scales out to other hosts.

Routes: ``POST /v1/execute`` (an ``ExecRequest``: one program, compiled once, and its runs),
``GET /v1/health`` (the backend's ``BackendHealth``; 503 when down), and SandboxFusion's
``POST /run_code`` shape for tools written against SandboxFusion.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox.errors import InvalidRequest, SandboxUnavailable
from sandbox.fusion import (
    RunCodeRequest,
    RunCodeResponse,
    sandbox_error,
    to_exec_request,
    to_run_code_response,
)
from sandbox.types import Backend, BackendHealth, ExecRequest, ExecResponse, execute


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
        return JSONResponse({"type": "sandbox_unavailable", "message": str(exc)}, status_code=503)

    @app.exception_handler(InvalidRequest)
    async def invalid(request: Request, exc: InvalidRequest) -> JSONResponse:
        if request.url.path == "/run_code":
            return JSONResponse(sandbox_error(str(exc)), status_code=200)
        return JSONResponse({"type": "invalid_request", "message": str(exc)}, status_code=422)

    @app.post("/v1/execute")
    async def execute_program(body: ExecRequest, backend: BackendDep) -> ExecResponse:
        """Compile a program once and run it once per run spec."""
        return await execute(backend, body)

    @app.get("/v1/health", response_model=BackendHealth)
    async def health(backend: BackendDep) -> JSONResponse:
        """The backend's health; 503 when it cannot run programs."""
        state = await backend.health()
        return JSONResponse(state.model_dump(), status_code=503 if state.status == "down" else 200)

    @app.post("/run_code")
    async def run_code(body: RunCodeRequest, backend: BackendDep) -> RunCodeResponse:
        """Run code in SandboxFusion's request and response shape."""
        return to_run_code_response(await execute(backend, to_exec_request(body)))

    return app
