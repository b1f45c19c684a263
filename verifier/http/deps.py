"""Request dependencies, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from verifier.errors import NotReadyError
from verifier.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:  # async: no thread-pool hop per request (see require_key)
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise NotReadyError("the verifier is not running (starting up or shutting down)")
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
