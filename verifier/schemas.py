"""The v1 wire format: request and response bodies shared by the HTTP layer and the client."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from verifier.advantages import ScaleRewards
from verifier.messages import Message
from verifier.types import HealthStatus
from verifier.weights import Params as Params
from verifier.weights import Weights as Weights
from verifier.weights import parse_weights as parse_weights


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Item(_Strict):
    """One completion to score."""

    id: str | int | None = Field(default=None, description="echoed back in the result")
    prompt: str | list[Message] | None = Field(
        default=None, description="the prompt: text or chat messages"
    )
    completion: str | list[Message] = Field(description="the model's output: text or chat messages")
    rewards: Weights | None = Field(default=None, description="overrides the request's rewards for this item")
    reference: Any = Field(
        default=None, description="the gold answer, the tests...: whatever the reward needs"
    )
    params: Params | None = Field(default=None, description="per-reward params, merged over the request's")
    completion_tokens: int | None = Field(
        default=None, ge=0, description="the completion's length in tokens, for the length rewards"
    )
    data_source: str | None = Field(
        default=None, description="the item's dataset; picks the rewards through the profile's data_source map"
    )


class VerifyRequest(_Strict):
    """A batch to score. ``rewards`` and ``params`` are defaults that each item may override."""

    items: list[Item]
    profile: str | None = Field(
        default=None, description="a server-side preset of rewards and params (GET /v1/profiles)"
    )
    rewards: Weights | None = Field(default=None, description="replaces the profile's rewards")
    params: Params | None = Field(default=None, description="merged over the profile's params")
    group_size: int | None = Field(
        default=None, ge=1, description="consecutive items form GRPO groups of this size; adds advantages"
    )
    scale_rewards: ScaleRewards = Field(
        default="group", description="how advantages are scaled, as TRL's GRPOConfig.scale_rewards"
    )
    cache: bool = Field(
        default=True,
        description="reuse verdicts of deterministic rewards from the verdict cache; false scores every item afresh",
    )


class ItemResult(BaseModel):
    """Exactly one per request item, in request order."""

    id: str | int | None = None
    reward: float | None = Field(description="weighted sum of the non-null scores; null when none applies")
    scores: dict[str, float | None]
    details: dict[str, dict[str, Any]] = Field(default_factory=dict)
    errors: dict[str, str] = Field(default_factory=dict)
    advantage: float | None = Field(default=None, description="GRPO group-normalised advantage (group_size)")
    versions: dict[str, str] = Field(
        default_factory=dict,
        description="per reward, the version of the plugin that scored it (`verifier score --compare` reads it)",
    )


class VerifyResponse(BaseModel):
    results: list[ItemResult]


class RewardInfo(BaseModel):
    name: str
    plugin: str
    version: str
    description: str
    reads_scores: bool = False
    deterministic: bool = Field(default=False, description="its verdicts may be reused by the verdict cache")
    params_schema: dict[str, Any]


class RewardsResponse(BaseModel):
    rewards: list[RewardInfo]


class ProfileInfo(BaseModel):
    name: str
    description: str
    builtin: bool = Field(description="a preset shipped with the verifier (not from the settings)")
    rewards: dict[str, float]
    params: Params = Field(description="per reward, with the profile's reasoning fields applied")
    response_start: list[str]
    data_source: dict[str, str]


class ProfilesResponse(BaseModel):
    profiles: list[ProfileInfo]


class ErrorBody(BaseModel):
    type: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """The one shape of every error the service answers with."""

    error: ErrorBody


class HealthResponse(BaseModel):
    status: HealthStatus
    rewards: dict[str, dict[str, str]] = Field(default_factory=dict)
