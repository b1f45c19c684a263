"""Scoring through the host's own path (registry, params validation, batch scorer), as the service does."""

from __future__ import annotations

from typing import Any

import verifier_format

from verifier.registry import RewardRegistry, create_plugin_manager
from verifier.schemas import ItemResult, VerifyRequest
from verifier.scoring import BatchScorer
from verifier.wire import score_request, verify_response

REGISTRY = RewardRegistry.from_plugin_manager(
    create_plugin_manager(load_entrypoints=False, plugins={"format": verifier_format})
)


async def score_one(reward: str, completion: Any, params: dict[str, Any] | None = None, **item: Any) -> ItemResult:
    """One item scored by one reward."""
    request = VerifyRequest.model_validate(
        {"rewards": [reward], "params": {reward: params or {}}, "items": [{"completion": completion, **item}]}
    )
    return verify_response(await BatchScorer(REGISTRY).score(score_request(request))).results[0]


async def format_reason(completion: Any, **params: Any) -> tuple[float | None, str | None]:
    """The ``format`` score and its reason."""
    result = await score_one("format", completion, params)
    return result.scores["format"], result.details.get("format", {}).get("reason")


async def with_verdict(
    completion: Any, verdict_reward: str, cosine: dict[str, Any], verdict: dict[str, Any] | None = None,
    **item: Any,
) -> ItemResult:
    """``cosine_length`` together with the reward whose score is its verdict, on one item."""
    request = VerifyRequest.model_validate(
        {
            "params": {"cosine_length": {"verdict_reward": verdict_reward, **cosine}, verdict_reward: verdict or {}},
            "items": [{"completion": completion, "rewards": ["cosine_length", verdict_reward], **item}],
        }
    )
    return verify_response(await BatchScorer(REGISTRY).score(score_request(request))).results[0]
