"""The v1 wire format to and from the core's types: the one place where ``VerifyRequest`` becomes a
``ScoreRequest`` and a ``ScoredBatch`` becomes a ``VerifyResponse`` (for the HTTP routes, the Ray handle's
replica and the ``verifier score`` command alike)."""

from __future__ import annotations

from verifier.schemas import ItemResult, VerifyRequest, VerifyResponse
from verifier.scoring import RequestItem, ScoredBatch, ScoreRequest


def score_request(request: VerifyRequest) -> ScoreRequest:
    """The core's request for a wire request whose profile is resolved (``Profiles.resolve``)."""
    items = [
        RequestItem(
            completion=item.completion,
            prompt=item.prompt,
            reference=item.reference,
            id=item.id,
            completion_tokens=item.completion_tokens,
            rewards=item.rewards,
            params=item.params,
        )
        for item in request.items
    ]
    return ScoreRequest(
        items=items,
        rewards=request.rewards,
        params=request.params,
        group_size=request.group_size,
        scale_rewards=request.scale_rewards,
        cache=request.cache,
    )


def verify_response(batch: ScoredBatch) -> VerifyResponse:
    """The wire response for a scored batch: one ``ItemResult`` per item, in order."""
    results = [
        ItemResult(
            id=r.id,
            reward=r.reward,
            scores=r.scores,
            details=r.details,
            errors=r.errors,
            versions=r.versions,
            advantage=r.advantage,
        )
        for r in batch.results
    ]
    return VerifyResponse.model_construct(results=results)  # each ItemResult was validated above
