"""Batch scoring."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from verifier.http.admission import Admission
from verifier.http.auth import Authenticated
from verifier.http.body import declared_length, parse_body, read_body
from verifier.http.deps import RuntimeDep
from verifier.schemas import ErrorResponse, VerifyRequest, VerifyResponse
from verifier.wire import score_request, verify_response

router = APIRouter(prefix="/v1", tags=["verify"])

_ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 413, 422, 429, 503)}


@router.post(
    "/verify",
    response_model=VerifyResponse,
    responses=_ERRORS,  # type: ignore[arg-type]
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VerifyRequest"}}},
        }
    },
)
async def verify(request: Request, runtime: RuntimeDep, _: Authenticated) -> Response:
    """Score a batch of completions: exactly one result per item, in request order."""
    admission: Admission = request.app.state.admission
    limit = runtime.settings.max_request_bytes
    # Admitted by its declared size before the body is read, so a flood is refused without buffering it.
    with admission.admit(declared_length(request, limit)) as ticket:
        # The body is parsed straight from bytes by pydantic (no intermediate dicts): batches are large.
        parsed = parse_body(VerifyRequest, await read_body(request, limit, ticket.hold_bytes))
        request.app.state.metrics.batch_items.observe(len(parsed.items))
        resolved = runtime.profiles.resolve(parsed)
        result = await runtime.coalescer.score(score_request(resolved), admit=ticket.hold_items)
    return Response(verify_response(result).model_dump_json(), media_type="application/json")
