"""``create_app(settings)``: the FastAPI application and its lifespan."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import pluggy
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import verifier
from verifier.http.admission import Admission
from verifier.http.auth import KeyChecker, check_exposure, hashed_keys, key_digest
from verifier.http.errors import install_error_handlers
from verifier.http.metrics import Metrics, Sources
from verifier.http.middleware import RequestContext
from verifier.http.routes import health, metrics, openrlhf, profiles, rewards, verify
from verifier.http.routes.openrlhf import OpenRLHFRequest
from verifier.runtime import running
from verifier.schemas import VerifyRequest
from verifier.settings import Settings

RESOLVED_SETTINGS_ENV = "R1_VERIFIER_SETTINGS_JSON"
"""Settings resolved once by ``verifier serve`` and handed to each uvicorn worker process (keys hashed)."""


def create_app(
    settings: Settings | None = None, *, plugin_manager: pluggy.PluginManager | None = None
) -> FastAPI:
    """The verifier app. Plugins load and reward resources open in the lifespan, not here."""
    settings = settings or Settings()
    check_exposure(settings)
    admission = Admission(settings.max_items_in_flight, settings.max_bytes_in_flight)
    app_metrics = Metrics(admission, max_concurrent_batches=settings.max_concurrent_batches)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, plugin_manager, observer=app_metrics) as runtime:
            app.state.runtime = runtime
            app_metrics.watch(Sources(runtime.health, runtime.scorer.cache, runtime.coalescer))
            restore_signals = _drain_on_exit_signals(admission)
            try:
                yield
            finally:
                restore_signals()
                app_metrics.watch(None)
                app.state.runtime = None

    app = FastAPI(
        title="r1-verifier",
        version=verifier.__version__,
        summary="Rule-based and model-based rewards for R1-style RL training, in batches.",
        lifespan=lifespan,
    )
    app.state.runtime = None
    app.state.admission = admission
    app.state.metrics = app_metrics
    app.state.key_checker = KeyChecker(key_digest(k.get_secret_value()) for k in settings.api_keys)
    install_error_handlers(app)
    for module in (verify, openrlhf, rewards, profiles, health, metrics):
        app.include_router(module.router)
    app.add_middleware(RequestContext, metrics=app_metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _drain_on_exit_signals(admission: Admission) -> Callable[[], None]:
    """On SIGTERM/SIGINT, refuse new batches (503) while uvicorn lets in-flight ones finish.

    uvicorn installs its own handlers before the lifespan starts; ours runs first and then calls theirs.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # e.g. a server run in a test thread: signals are not ours to take
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: FrameType | None) -> None:
        admission.draining = True
        chained = previous[signal.Signals(signum)]
        if callable(chained):
            chained(signum, frame)

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the request models of the routes that parse their bodies themselves."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (VerifyRequest, OpenRLHFRequest):
            request_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(request_schema.pop("$defs", {}))
            components[model.__name__] = request_schema
        app.openapi_schema = schema
    return app.openapi_schema


def settings_for_workers(settings: Settings) -> str:
    """The resolved settings as JSON for worker processes, API keys as their SHA-256 digests."""
    data = settings.model_dump(mode="json")
    data["api_keys"] = hashed_keys(settings)
    return json.dumps(data)


def create_app_from_env() -> FastAPI:
    """uvicorn factory for several workers: settings come from ``verifier serve`` or the environment."""
    handed = os.environ.get(RESOLVED_SETTINGS_ENV)
    return create_app(Settings.model_validate_json(handed) if handed else Settings())
