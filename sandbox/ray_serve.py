"""The sandbox as a Ray Serve deployment, and the client verifier replicas use to reach it by handle.

Code runs then land on whichever nodes the sandbox replicas are placed on (CPU nodes: give the deployment a
custom resource in ``ray_actor_options``), apart from the verifier replicas. The deployment has no HTTP
route: only actors of the cluster reach it, through a deployment handle, so Serve's public proxy never
exposes an unauthenticated ``/v1/execute``. Requests and answers cross as the service's JSON bodies.

A replica that dies under a request raises Ray's ``ActorDiedError`` in the caller: ``SandboxHandleClient``
maps every Ray failure to ``SandboxUnavailable`` (the item gets null + an error), never a guess.
"""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.exceptions import RayError
from ray.serve.deployment import Application
from ray.serve.exceptions import BackPressureError, RayServeException

from sandbox.errors import InvalidRequest, SandboxUnavailable, UnsupportedLanguage
from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.types import BackendHealth, ExecRequest, ExecResponse, Executor, PairRequest, PairResponse

APP_NAME = "sandbox"
DEPLOYMENT_NAME = "SandboxReplica"


class SandboxReplica:
    """One process backend (bubblewrap) per replica; started at replica start, closed at its shutdown."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.backend = ProcessBackend(ProcessOptions(**options))
        self.started = False

    async def _ready(self) -> None:
        if not self.started:
            await self.backend.start()
            self.started = True

    async def execute(self, request_json: str) -> tuple[str, str]:
        """``("ok", ExecResponse JSON)``, or ``("invalid" | "unsupported:LANG", message)`` for a bad request."""
        await self._ready()
        try:
            response = await self.backend.execute(ExecRequest.model_validate_json(request_json))
        except UnsupportedLanguage as exc:
            return f"unsupported:{exc.language}", exc.reason
        except InvalidRequest as exc:
            return "invalid", str(exc)
        return "ok", response.model_dump_json()

    async def execute_pair(self, request_json: str) -> tuple[str, str]:
        """As ``execute``, for a program and its peer (``PairRequest``)."""
        await self._ready()
        try:
            response = await self.backend.execute_pair(PairRequest.model_validate_json(request_json))
        except UnsupportedLanguage as exc:
            return f"unsupported:{exc.language}", exc.reason
        except InvalidRequest as exc:
            return "invalid", str(exc)
        return "ok", response.model_dump_json()

    async def health(self) -> str:
        await self._ready()
        return (await self.backend.health()).model_dump_json()

    async def check_health(self) -> None:
        """Serve's health probe: a backend that cannot run programs restarts the replica."""
        if self.started and (await self.backend.health()).status == "down":
            raise RuntimeError("the sandbox backend is down")

    async def __del__(self) -> None:
        await self.backend.aclose()


def build(options: dict[str, Any] | None = None, replicas: int | None = None, **deployment: Any) -> Application:
    """The sandbox application for ``serve.run(..., name=APP_NAME, route_prefix=None)``."""
    chosen: dict[str, Any] = {"name": DEPLOYMENT_NAME, "max_ongoing_requests": 64, "ray_actor_options": {"num_cpus": 1}}
    if replicas is not None:
        chosen["num_replicas"] = replicas
    chosen.update(deployment)
    return serve.deployment(SandboxReplica).options(**chosen).bind(options or {})


class SandboxHandleClient(Executor):
    """The sandbox deployment as an ``Executor``, like ``SandboxClient`` for ``sandbox serve``."""

    name = "ray"

    def __init__(self, app_name: str = APP_NAME, deployment_name: str = DEPLOYMENT_NAME) -> None:
        self.app_name = app_name
        self.deployment_name = deployment_name
        self._handle: Any = None

    async def start(self) -> None:
        """Nothing to start here: the replicas start their backends; the handle is taken at first use."""

    def _get(self) -> Any:
        if self._handle is None:
            self._handle = serve.get_deployment_handle(self.deployment_name, app_name=self.app_name)
        return self._handle

    async def execute(self, request: ExecRequest) -> ExecResponse:
        return ExecResponse.model_validate_json(await self._call("execute", request.model_dump_json()))

    async def execute_pair(self, request: PairRequest) -> PairResponse:
        return PairResponse.model_validate_json(await self._call("execute_pair", request.model_dump_json()))

    async def _call(self, method: str, request_json: str) -> str:
        try:
            outcome, body = await getattr(self._get(), method).remote(request_json)
        except (RayError, RayServeException, BackPressureError) as exc:
            raise SandboxUnavailable(f"sandbox deployment {self.app_name!r}: {type(exc).__name__}: {exc}") from exc
        if outcome == "ok":
            return str(body)
        if outcome.startswith("unsupported:"):
            raise UnsupportedLanguage(outcome.removeprefix("unsupported:"), body)
        raise InvalidRequest(body)

    async def health(self) -> BackendHealth:
        try:
            return BackendHealth.model_validate_json(await self._get().health.remote())
        except (RayError, RayServeException) as exc:
            message = f"{type(exc).__name__}: {exc}"
            return BackendHealth(status="down", backend=self.name, isolated=False, message=message)

    async def aclose(self) -> None:
        self._handle = None


def app_builder(args: dict[str, Any]) -> Application:
    """``serve run`` / ``serve deploy`` entry (``import_path: sandbox.ray_serve:app_builder``, ``route_prefix:
    null``). ``args``: ``options`` (``ProcessOptions`` fields: isolation, max_concurrency...), ``replicas``."""
    return build(args.get("options"), args.get("replicas"))
