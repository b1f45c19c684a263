"""Plugin options (``plugin_options.judge`` in the host settings) and per-request parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

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


class JudgeParams(BaseModel):
    """Per-request parameters of the ``judge`` reward."""

    model_config = ConfigDict(extra="forbid")

    template: str | None = Field(None, description="Rubric template name (default: the configured one).")
    judge_reasoning: bool = Field(
        False, description="Judge the whole completion, chain of thought included (default: the final answer)."
    )
    reasoning_end_tag: str = Field(
        "</think>", min_length=1, description="The final answer is the text after the last such tag."
    )
