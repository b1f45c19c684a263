"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from verifier.runtime import Runtime, ServiceHealth
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
    health = runtime.health()
    draining = request.app.state.admission.draining
    if health.status == "down" or draining:
        # Draining after SIGTERM: take this replica out of the load balancer while in-flight batches finish.
        response.status_code = 503
    return health_response(health, draining=draining)


def health_response(health: ServiceHealth, *, draining: bool = False) -> HealthResponse:
    """The wire form of the runtime's health; a draining server reports itself down."""
    rewards = {name: {"status": report.status, "message": report.message} for name, report in health.rewards.items()}
    return HealthResponse(status="down" if draining else health.status, rewards=rewards)
