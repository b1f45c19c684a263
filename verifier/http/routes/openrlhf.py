"""OpenRLHF's remote reward protocol (``--remote_rm_url``), answered by the same scorer as ``/v1/verify``.

OpenRLHF posts ``{"query": [...], "prompts": [...], "labels": [...]}`` where each query is the prompt followed
by the response (its oldest versions send the queries only: then the response starts after a ``response_start``
marker, from the URL or the profile, and a query without one gets no reward rather than being scored whole),
and reads ``rewards`` (for advantages), ``scores`` (0..1, for dynamic filtering) and
``extra_logs`` (per-sample values it logs). Its client sends no headers of its own, so on a keyed service the
key may come as the ``key`` query parameter (the service never logs query strings).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verifier.errors import InvalidRequestError, UnscoredError
from verifier.http.admission import Admission
from verifier.http.auth import KeyChecker
from verifier.http.body import declared_length, parse_body, read_body
from verifier.http.deps import RuntimeDep
from verifier.profiles import split_query
from verifier.schemas import ErrorResponse, Item, ItemResult, VerifyRequest, VerifyResponse, parse_weights
from verifier.wire import score_request, verify_response

router = APIRouter(prefix="/v1", tags=["interop"])

UNSCORED_LOG = "verifier/unscored"


class OpenRLHFRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenRLHF versions add fields; unknown ones are ignored

    query: list[str] = Field(description="prompt + response, as OpenRLHF renders them")
    prompts: list[str] | None = Field(default=None, description="the prompts, to cut from the queries")
    labels: list[Any] | None = Field(default=None, description="references (--label_key), one per query")


class OpenRLHFResponse(BaseModel):
    rewards: list[float] = Field(description="the weighted reward per query")
    scores: list[float] = Field(description="reward / total weight, clamped to [0, 1]")
    extra_logs: dict[str, list[float]] = Field(description="each reward's score per query, and unscored flags")


class OpenRLHFQuery(BaseModel):
    """The route's query parameters (OpenRLHF's client can set only its URL)."""

    rewards: str | None = Field(
        default=None, description="name[:weight],... (default: the profile's, else the openrlhf_rewards setting)"
    )
    profile: str | None = Field(default=None, description="a reward profile (GET /v1/profiles)")
    response_start: str | None = Field(
        default=None,
        description="queries without prompts: the response starts after this marker (default: the profile's "
        "response_start)",
    )
    on_unscored: Literal["error", "zero"] | None = Field(
        default=None, description="a query no reward could score: fail the request (502) or score it 0.0"
    )
    key: str | None = Field(default=None, description="API key, for clients that cannot send headers")


def _query_parameters() -> list[dict[str, Any]]:
    """``OpenRLHFQuery`` as OpenAPI query parameters (the route reads them itself, see ``_query``)."""
    schema = OpenRLHFQuery.model_json_schema()
    return [
        {"name": name, "in": "query", "required": False, "description": field.pop("description", ""), "schema": field}
        for name, field in schema["properties"].items()
    ]


@router.post(
    "/openrlhf",
    response_model=OpenRLHFResponse,
    responses={status: {"model": ErrorResponse} for status in (400, 401, 413, 422, 429, 502, 503)},
    openapi_extra={
        "parameters": _query_parameters(),
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenRLHFRequest"}}},
        },
    },
)
async def openrlhf(request: Request, runtime: RuntimeDep) -> Response:
    """Score a batch in OpenRLHF's remote reward protocol."""
    query = _query(request)
    _authenticate(request, query.key)
    profile, response_start = query.profile, query.response_start
    chosen = runtime.profiles.get(profile) if profile is not None else None
    weights = _weights(query.rewards) if query.rewards is not None else None
    if weights is None and (chosen is None or not chosen.rewards):
        weights = runtime.settings.openrlhf_rewards
    if response_start == "":
        raise InvalidRequestError([{"loc": ["query", "response_start"], "msg": "an empty marker"}])
    markers = (response_start,) if response_start is not None else chosen.response_start if chosen else ()
    policy = query.on_unscored or runtime.settings.openrlhf_on_unscored
    admission: Admission = request.app.state.admission
    limit = runtime.settings.max_request_bytes
    with admission.admit(declared_length(request, limit)) as ticket:
        body = parse_body(OpenRLHFRequest, await read_body(request, limit, ticket.hold_bytes))
        items, unsplit = _items(body, markers)
        scored = runtime.profiles.resolve(VerifyRequest(items=items, rewards=weights, profile=profile))
        resolved = scored.rewards or {}
        weights = resolved if isinstance(resolved, dict) else dict.fromkeys(resolved, 1.0)
        # One sample a request is how OpenRLHF's client sends: the coalescer scores concurrent ones together.
        result = (
            verify_response(await runtime.coalescer.score(score_request(scored), admit=ticket.hold_items))
            if items
            else VerifyResponse(results=[])
        )
    answer = _answer(_with_unsplit(result, unsplit, weights), weights, policy)
    # Serialised here rather than re-validated through response_model: per-sample clients send thousands.
    return Response(answer.model_dump_json(), media_type="application/json")


def _query(request: Request) -> OpenRLHFQuery:
    # Read here rather than declared as FastAPI query parameters: FastAPI's per-parameter introspection was half
    # of this route's CPU per request, and per-sample clients send thousands of requests at once.
    try:
        return OpenRLHFQuery.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise InvalidRequestError(
            [{"loc": ["query", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None


def _authenticate(request: Request, key: str | None) -> None:
    checker: KeyChecker = request.app.state.key_checker
    if key is not None and not request.headers.get("authorization"):
        checker.check_token(key)
    else:
        checker(request)


def _weights(raw: str) -> dict[str, float]:
    try:
        return parse_weights(raw)
    except ValueError as exc:
        raise InvalidRequestError([{"loc": ["query", "rewards"], "msg": str(exc)}]) from None


def _items(body: OpenRLHFRequest, markers: tuple[str, ...]) -> tuple[list[Item], dict[int, str]]:
    """The items to score, and the queries that cannot be cut into prompt and response (index -> error)."""
    for field, values in (("prompts", body.prompts), ("labels", body.labels)):
        if values is not None and len(values) != len(body.query):
            raise InvalidRequestError(
                [{"loc": ["body", field], "msg": f"{len(values)} {field} for {len(body.query)} queries"}]
            )
    items: list[Item] = []
    unsplit: dict[int, str] = {}
    for i, query in enumerate(body.query):
        prompt = body.prompts[i] if body.prompts is not None else None
        completion = query
        if prompt and query.startswith(prompt):
            completion = query[len(prompt) :]
        elif markers:
            # No prompt to cut: the response starts after the template's assistant marker. Without one,
            # format and language would read the whole prompt as the response, so the query is not scored.
            split = split_query(query, markers)
            if split is None:
                unsplit[i] = f"no response_start marker ({', '.join(map(repr, markers))}) in the query"
                continue
            prompt, completion = split
        # Otherwise the response is what follows the prompt; a query that does not start with it is scored whole.
        reference = body.labels[i] if body.labels is not None else None
        items.append(Item(id=i, prompt=prompt, completion=completion, reference=reference))
    return items, unsplit


def _with_unsplit(result: VerifyResponse, unsplit: dict[int, str], weights: dict[str, float]) -> VerifyResponse:
    if not unsplit:
        return result
    results = list(result.results)
    for index in sorted(unsplit):
        missing = ItemResult(
            id=index, reward=None, scores=dict.fromkeys(weights), errors={"openrlhf": unsplit[index]}
        )
        results.insert(index, missing)
    return VerifyResponse.model_construct(results=results)


def _answer(result: VerifyResponse, weights: dict[str, float], policy: str) -> OpenRLHFResponse:
    unscored = [r for r in result.results if r.reward is None]
    if unscored and policy == "error":
        # OpenRLHF cannot take a null; a 0.0 would be learnt from. Fail loudly (its client retries, then stops).
        raise UnscoredError(
            f"{len(unscored)} of {len(result.results)} queries could not be scored; "
            "pass on_unscored=zero to score them 0.0 instead",
            {"unscored": [{"index": r.id, "errors": r.errors} for r in unscored[:20]]},
        )
    total = sum(w for w in weights.values() if w > 0) or 1.0
    rewards = [r.reward if r.reward is not None else 0.0 for r in result.results]
    logs: dict[str, list[float]] = {
        name: [r.scores.get(name) or 0.0 for r in result.results] for name in weights
    }
    logs[UNSCORED_LOG] = [1.0 if r.reward is None else 0.0 for r in result.results]
    return OpenRLHFResponse(
        rewards=rewards, scores=[min(1.0, max(0.0, r / total)) for r in rewards], extra_logs=logs
    )
