"""Plugin options (``plugin_options.judge`` in the host settings) and per-request parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from verifier import ReasoningTags
from verifier_judge.templates import TemplateSpec


class EndpointOptions(BaseModel):
    """One OpenAI-compatible server (a ``vllm serve`` replica, ...)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., description="Base URL, e.g. http://judge:8000 (the client appends /v1/...).")
    api_key: SecretStr | None = Field(None, description="Bearer token for this endpoint (default: api_key).")
    max_concurrency: int = Field(16, gt=0, description="Requests in flight to this endpoint at once.")
    requests_per_second: float | None = Field(
        None, gt=0, description="Rate limit of this endpoint (token bucket; null: none)."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"endpoint url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")


class ServerOptions(BaseModel):
    """Where a model is served and how to talk to it: what the judge and the reward model share."""

    model_config = ConfigDict(extra="forbid")

    endpoints: list[EndpointOptions] = Field(
        default_factory=list, description="Servers of the model, tried in turn (round robin, failover)."
    )
    model: str = Field("judge", description="Model name sent in each request (as the servers list it).")
    api_key: SecretStr | None = Field(None, description="Bearer token for every endpoint without its own.")
    timeout_s: float = Field(60.0, gt=0, description="Timeout of one request to one endpoint.")
    retries: int = Field(3, ge=0, description="Further attempts per endpoint on 429, 5xx and connection errors.")
    backoff_s: float = Field(0.5, ge=0, description="First backoff; doubles per attempt (Retry-After wins).")
    max_backoff_s: float = Field(30.0, ge=0, description="Longest single wait between attempts.")
    cache_size: int = Field(100_000, ge=0, description="Results kept in memory (LRU; 0: no cache).")
    health_interval_s: float = Field(30.0, gt=0, description="How often /readyz re-probes the endpoints.")


class RewardModelOptions(ServerOptions):
    """The ``reward_model`` reward: an outcome reward model behind vLLM's pooling API (``/pooling``)."""

    model: str = Field("reward-model", description="Model name sent in each request (as the servers list it).")
    activation: Literal["sigmoid", "none"] = Field(
        "sigmoid", description="sigmoid: the model returns a logit (a reward head); none: already in [0, 1]."
    )
    label_index: int = Field(
        -1, description="Which number of the pooled output is the reward (-1: the last; a classifier's positive class)."
    )


class JudgeOptions(ServerOptions):
    """How the ``judge`` reward reaches its model. All of it is configuration, none of it is code."""

    templates: dict[str, TemplateSpec] = Field(
        default_factory=dict, description="Rubric templates, added to or replacing the built-in ones."
    )
    default_template: str = Field("helpfulness", description="Template used when a request names none.")
    fallback_template: str = Field(
        "correctness", description="Template of the `judge_fallback` reward when a request names none."
    )
    max_answer_chars: int = Field(
        24_000,
        gt=200,
        description="Longest answer (and reference) sent; a longer one loses its middle, marked, both ends kept.",
    )
    overlong_answer: Literal["cut_middle", "zero"] = Field(
        "cut_middle", description="An answer past max_answer_chars: cut_middle, or zero (0.0, not sent)."
    )
    response_format: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema",
        description="Ask for structured output; an endpoint that refuses it is asked again without, "
        "and the reply parsed with the text fallback.",
    )
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the judge.")
    seed: int | None = Field(None, description="Sampling seed sent with each request (vLLM honours it).")
    max_tokens: int = Field(256, gt=0, description="Longest judgment, in tokens.")
    reward_model: RewardModelOptions = Field(
        default_factory=RewardModelOptions, description="The `reward_model` reward's server (its own endpoints)."
    )


class JudgeParams(ReasoningTags):
    """Per-request parameters of the ``judge`` reward; ``think_tag`` and ``think_in_prompt`` say where the
    reasoning ends, as for every reward (``verifier.split_reasoning``)."""

    model_config = ConfigDict(extra="forbid")

    template: str | None = Field(None, description="Rubric template name (default: the configured one).")
    judge_reasoning: bool = Field(
        False, description="Judge the whole completion, chain of thought included (default: the final answer)."
    )
    swap_positions: bool = Field(
        True, description="Ask a pairwise template twice, the two responses swapped, and average (position bias)."
    )


class JudgeFallbackParams(JudgeParams):
    """Per-request parameters of the ``judge_fallback`` reward: a rule reward first, the judge for its misses."""

    template: str | None = Field(None, description="Rubric template name (default: the configured fallback one).")
    rule_reward: str = Field("math", description="The rule reward requested for the same item (weight 0 is fine).")
    rule_threshold: float = Field(1.0, description="A rule score at or above this stands and the judge is not asked.")
    on_rule_null: Literal["fail", "judge"] = Field(
        "fail", description="A null rule score: fail (null + error, no call), or judge (ask the judge)."
    )
    judge_threshold: float | None = Field(
        None, ge=0, le=1, description="When set, the judge's score becomes 1.0 at or above it, else 0.0."
    )

    @field_validator("rule_reward")
    @classmethod
    def _not_itself(cls, value: str) -> str:
        if value == "judge_fallback":
            raise ValueError("judge_fallback cannot be its own rule reward")
        return value
