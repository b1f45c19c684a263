"""``create_app(settings)``: the FastAPI application and its lifespan."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pluggy
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import verifier
from verifier.http.errors import install_error_handlers
from verifier.http.routes import health, rewards, verify
from verifier.runtime import running
from verifier.schemas import VerifyRequest
from verifier.settings import Settings

RESOLVED_SETTINGS_ENV = "R1_VERIFIER_SETTINGS_JSON"
"""Settings resolved once by ``verifier serve`` and handed verbatim to each uvicorn worker process."""


def create_app(
    settings: Settings | None = None, *, plugin_manager: pluggy.PluginManager | None = None
) -> FastAPI:
    """The verifier app. Plugins load and reward resources open in the lifespan, not here."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, plugin_manager) as runtime:
            app.state.runtime = runtime
            try:
                yield
            finally:
                app.state.runtime = None

    app = FastAPI(
        title="r1-verifier",
        version=verifier.__version__,
        summary="Rule-based and model-based rewards for R1-style RL training, in batches.",
        lifespan=lifespan,
    )
    app.state.runtime = None
    install_error_handlers(app)
    for module in (verify, rewards, health):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the request model of ``/v1/verify``, whose body the route parses itself."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        request_schema = VerifyRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(request_schema.pop("$defs", {}))
        components["VerifyRequest"] = request_schema
        app.openapi_schema = schema
    return app.openapi_schema


def create_app_from_env() -> FastAPI:
    """uvicorn factory for several workers: settings come from ``verifier serve`` or the environment."""
    handed = os.environ.get(RESOLVED_SETTINGS_ENV)
    return create_app(Settings.model_validate_json(handed) if handed else Settings())
