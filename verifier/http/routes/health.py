"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from verifier.runtime import Runtime
from verifier.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """The process is alive and serving HTTP."""
    return HealthResponse(status="ok")


@router.get("/readyz", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def readyz(request: Request, response: Response) -> HealthResponse:
    """Plugins are loaded and every reward's resources are up; 503 while any is down or the server drains."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        response.status_code = 503
        return HealthResponse(status="down", rewards={})
    report = runtime.health()
    if report.status == "down" or request.app.state.admission.draining:
        # Draining after SIGTERM: take this replica out of the load balancer while in-flight batches finish.
        response.status_code = 503
        report.status = "down"
    return report
