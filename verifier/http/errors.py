"""Every failure answers with one JSON shape: ``{"error": {"type", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from verifier.errors import NotReadyError, OverloadedError, RequestError, UnauthorizedError
from verifier.schemas import ErrorBody, ErrorResponse

log = logging.getLogger(__name__)

_HTTP_TYPES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "limit_exceeded",
    415: "unsupported_media_type",
}


def error_response(status: int, type_: str, message: str, details: dict[str, Any] | None = None) -> Response:
    body = ErrorResponse(error=ErrorBody(type=type_, message=message, details=details or {}))
    return Response(body.model_dump_json(), status_code=status, media_type="application/json")


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    response = error_response(exc.status, exc.type, exc.message, exc.details)
    if isinstance(exc, OverloadedError):
        response.headers["retry-after"] = str(exc.retry_after)
    elif isinstance(exc, UnauthorizedError):
        response.headers["www-authenticate"] = "Bearer"
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
    return error_response(
        422,
        "invalid_request",
        f"{where}: {errors[0]['msg']}" if errors else "invalid request",
        {"errors": errors},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, _HTTP_TYPES.get(exc.status_code, "http_error"), str(exc.detail))


async def _not_ready(request: Request, exc: Exception) -> Response:
    return error_response(503, "not_ready", str(exc))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; the server log has the traceback")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestError, _request_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(NotReadyError, _not_ready)
    app.add_exception_handler(Exception, _internal_error)
