"""The reward catalogue."""

from __future__ import annotations

from fastapi import APIRouter

from verifier.http.auth import Authenticated
from verifier.http.deps import RuntimeDep
from verifier.schemas import RewardInfo, RewardsResponse

router = APIRouter(prefix="/v1", tags=["rewards"])


@router.get("/rewards", response_model=RewardsResponse)
async def list_rewards(runtime: RuntimeDep, _: Authenticated) -> RewardsResponse:
    """List every reward with its plugin, version, description and the JSON schema of its params."""
    return RewardsResponse(
        rewards=[
            RewardInfo(
                name=entry.name,
                plugin=entry.plugin.name,
                version=entry.plugin.version,
                description=entry.reward.description,
                reads_scores=entry.reward.reads_scores,
                deterministic=entry.reward.deterministic,
                params_schema=entry.reward.params.model_json_schema(),
            )
            for entry in runtime.registry
        ]
    )
