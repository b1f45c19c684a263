"""The verifier as a Ray Serve deployment: the same FastAPI app, one copy per replica, spread over the nodes.

Each replica is a Ray actor that builds ``create_app(settings)`` and enters its lifespan, so every replica has
its own math pool and, unless code runs go to the sandbox deployment, its own sandbox backend. Serve's proxy on
every node is the HTTP ingress: callers keep the same ``/v1`` API. Ray-native callers (a verl reward worker, a
Ray actor) call the replica's ``score`` method through a deployment handle instead (``verifier.rayserve.handle``).

Backpressure stays the app's own: a replica takes up to ``min(max_items_in_flight, 2048)`` requests from Serve,
so a request past the app's items/bytes bounds gets the usual 429 with Retry-After; beyond that Serve queues up
to ``max_queued_requests`` per caller and then answers 503. The client retries both.
"""

from __future__ import annotations

from typing import Any

import ray
from fastapi import FastAPI
from ray import serve
from ray.serve.deployment import Application
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verifier.errors import LimitExceededError, RequestError
from verifier.http.app import create_app, settings_for_workers
from verifier.http.body import parse_body
from verifier.http.errors import error_response
from verifier.runtime import Runtime
from verifier.schemas import VerifyRequest
from verifier.settings import Settings
from verifier.wire import score_request, verify_response

REPLICA_HEADER = "x-verifier-replica"
"""Response header naming the node and the replica that answered (``NODE_ID/REPLICA_ID``), to see the spread."""

MAX_ONGOING_REQUESTS = 2048
"""Most requests one replica takes from Serve at once; past it, Serve queues up to as many, then answers 503."""

APP_NAME = "verifier"
DEPLOYMENT_NAME = "VerifierReplica"


class _ReplicaHeader:
    """Adds ``x-verifier-replica`` to every response of this replica."""

    def __init__(self, app: ASGIApp, value: str) -> None:
        self.app = app
        self.value = value.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (REPLICA_HEADER.encode(), self.value)]
            await send(message)

        await self.app(scope, receive, send_with_header)


def replica_identity() -> str:
    """``NODE_ID/REPLICA_ID`` of the Serve replica this runs in."""
    node = ray.get_runtime_context().get_node_id()
    return f"{node}/{serve.get_replica_context().replica_id.unique_id}"


@serve.ingress()
class VerifierReplica:
    """One verifier: the HTTP app for Serve's proxy, and ``score`` for deployment-handle callers."""

    def __init__(self, settings_json: str) -> None:
        self.settings = Settings.model_validate_json(settings_json)
        self.identity = replica_identity()
        self.verifier_app: FastAPI | None = None

    def __serve_build_asgi_app__(self) -> FastAPI:
        app = create_app(self.settings)
        app.add_middleware(_ReplicaHeader, value=self.identity)
        self.verifier_app = app
        return app

    async def score(self, body: bytes) -> tuple[int, bytes, str]:
        """Score one ``/v1/verify`` body: ``(status, JSON body, replica identity)``; errors in the HTTP shape."""
        app = self.verifier_app
        assert app is not None and app.state.runtime is not None, "the replica's lifespan has not run"
        runtime: Runtime = app.state.runtime
        try:
            if len(body) > self.settings.max_request_bytes:
                raise LimitExceededError("request bytes", len(body), self.settings.max_request_bytes)
            # The same admission and coalescing as the HTTP route: the handle path is not a way around them.
            with app.state.admission.admit(len(body)) as ticket:
                request = parse_body(VerifyRequest, body)
                resolved = runtime.profiles.resolve(request)
                scored = await runtime.coalescer.score(score_request(resolved), admit=ticket.hold_items)
                result = verify_response(scored)
        except RequestError as exc:
            return exc.status, bytes(error_response(exc.status, exc.type, exc.message, exc.details).body), self.identity
        return 200, result.model_dump_json().encode(), self.identity


def replica_options(settings: Settings, replicas: int | None = None, **options: Any) -> dict[str, Any]:
    """Serve deployment options for the verifier replicas; ``options`` (Serve's own names) win."""
    chosen: dict[str, Any] = {
        "name": DEPLOYMENT_NAME,
        # The app's own admission (items and bytes in flight) decides, with its 429 + Retry-After: Serve hands a
        # replica as many requests as could fit there (each holds at least one item), capped for the event loop.
        "max_ongoing_requests": min(settings.max_items_in_flight, MAX_ONGOING_REQUESTS),
        "max_queued_requests": MAX_ONGOING_REQUESTS,
        "graceful_shutdown_timeout_s": settings.graceful_shutdown_s,
        "health_check_period_s": 5,
        "ray_actor_options": {"num_cpus": 1},
    }
    if replicas is not None:
        chosen["num_replicas"] = replicas
    chosen.update(options)
    return chosen


def build(settings: Settings, replicas: int | None = None, **options: Any) -> Application:
    """The verifier application, bound and ready for ``serve.run``."""
    deployment = serve.deployment(VerifierReplica).options(**replica_options(settings, replicas, **options))
    return deployment.bind(settings_for_workers(settings))


def app_builder(args: dict[str, Any]) -> Application:
    """``serve run`` / ``serve deploy`` entry (``import_path: verifier.rayserve:app_builder``).

    ``args``: ``settings`` (the verifier's settings, as in its TOML file; ``VERIFIER_*`` variables on the
    replicas' nodes apply below them), and optionally ``replicas`` and any Serve deployment option.
    """
    args = dict(args)
    settings = Settings.model_validate(args.pop("settings", {}))
    replicas = args.pop("replicas", None)
    return build(settings, replicas, **args)


def with_sandbox_deployment(settings: Settings, sandbox_app: str) -> Settings:
    """The settings with the ``code`` reward sending its programs to the sandbox deployment ``sandbox_app``."""
    options = {**settings.plugin_options}
    options["code"] = {**options.get("code", {}), "backend": "ray", "ray_app": sandbox_app}
    return settings.model_copy(update={"plugin_options": options})


def deploy(
    address: str,
    settings: Settings,
    *,
    replicas: int | None = None,
    sandbox_replicas: int = 0,
    sandbox_options: dict[str, Any] | None = None,
    replica_overrides: dict[str, Any] | None = None,
    sandbox_overrides: dict[str, Any] | None = None,
    app_name: str = APP_NAME,
    route_prefix: str = "/",
) -> str:
    """Deploy on the running cluster at ``address`` (``auto``, ``HOST:6379``); returns the ingress URL.

    Serve's proxy listens on ``settings.host:settings.port`` on every node. With ``sandbox_replicas`` > 0 the
    sandbox runs as its own deployment (application ``sandbox``) and the code reward reaches it by handle;
    otherwise each verifier replica runs programs in its own sandbox backend. ``replica_overrides`` and
    ``sandbox_overrides`` are Serve deployment options (``autoscaling_config``, ``ray_actor_options``...). The
    applications stay up after this returns (``serve shutdown``, or ``ray stop`` on the nodes, removes them).
    """
    from sandbox import ray_serve as sandbox_serve

    ray.init(address=address, log_to_driver=False, ignore_reinit_error=True)
    serve.start(http_options={"host": settings.host, "port": settings.port}, proxy_location="EveryNode")
    if sandbox_replicas > 0:
        serve.run(
            sandbox_serve.build(sandbox_options, sandbox_replicas, **(sandbox_overrides or {})),
            name=sandbox_serve.APP_NAME,
            route_prefix=None,
        )
        settings = with_sandbox_deployment(settings, sandbox_serve.APP_NAME)
    serve.run(build(settings, replicas, **(replica_overrides or {})), name=app_name, route_prefix=route_prefix)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}{route_prefix.rstrip('/')}"
