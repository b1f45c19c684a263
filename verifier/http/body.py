"""Request bodies read with a size limit and parsed straight from bytes by pydantic (batches are large)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from verifier.errors import InvalidRequestError, LimitExceededError

ModelT = TypeVar("ModelT", bound=BaseModel)


def declared_length(request: Request, limit: int) -> int | None:
    """The body's declared ``Content-Length``, refused with 413 when it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return None
    if int(declared) > limit:
        raise LimitExceededError("request bytes", int(declared), limit)
    return int(declared)


async def read_body(request: Request, limit: int, on_progress: Callable[[int], None] | None = None) -> bytes:
    """The body, refused with 413 as soon as it (or its declared length) passes ``limit`` bytes.
    ``on_progress`` is told the size read so far after each chunk (admission counts a chunked body so)."""
    declared_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise LimitExceededError("request bytes", size, limit)
        if on_progress is not None and chunk:
            on_progress(size)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(model: type[ModelT], body: bytes) -> ModelT:
    """Validate JSON bytes into ``model``; a 422 with every field path on failure."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequestError(
            [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None
