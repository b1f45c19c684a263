"""The pipeline config of ``trainer pipeline``: its schema, and every check that runs before a model loads.

A model reference (a stage's ``model``, the rejection stage's ``train_from``, ``judge.serve``) is ``base`` (the
top-level ``model``, or the miniature's tiny model), the name of an earlier stage (its ``model/`` directory) or
an existing model directory; anything else is refused with the names that would do.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trainer.errors import RecipeError
from trainer.recipe import DatasetSpec, RewardSpec, VerifierSpec, trl_config

STAGES = ("cold_start", "reasoning", "rejection", "all_scenario")
BASE = "base"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SFTStage(_Strict):
    model: str | None = Field(default=None, description="base, an earlier stage, or a model directory")
    dataset: DatasetSpec | None = None
    sft: dict[str, Any] = Field(default_factory=dict, description="SFTConfig fields")


class GRPOStage(_Strict):
    model: str | None = None
    dataset: DatasetSpec | None = None
    rewards: dict[str, float | RewardSpec] = Field(min_length=1)
    vllm: Literal["auto", True, False] = "auto"
    grpo: dict[str, Any] = Field(default_factory=dict, description="GRPOConfig fields")


SERVE_FIELDS = ("model", "name", "port", "python")


def _check_serve_command(command: str | None) -> str | None:
    if command is not None:
        fields = {name for _, name, _, _ in string.Formatter().parse(command) if name is not None}
        unknown = sorted(fields - set(SERVE_FIELDS))
        if unknown:
            raise ValueError(f"unknown placeholder {{{unknown[0]}}}; the command may use {', '.join(SERVE_FIELDS)}")
        if "port" not in fields:
            raise ValueError("the command must listen on {port} (127.0.0.1)")
    return command


class PolicySpec(_Strict):
    url: str | None = Field(default=None, description="an endpoint already serving the stage's model")
    model: str = "policy"
    api_key: str | None = None
    serve_command: str | None = Field(
        default=None, description="how to serve {model} as {name} on {port}; default: trainer serve-model (CPU)"
    )

    _serve = field_validator("serve_command")(_check_serve_command)


# RejectionConfig fields the pipeline sets itself.
_MANAGED_SAMPLING = ("prompts", "output", "policy_url", "policy_model", "policy_api_key", "verifier_urls")


class RejectionStage(_Strict):
    model: str | None = Field(default=None, description="the policy sampled from (default: the previous stage)")
    train_from: str | None = Field(default=None, description="the model fine-tuned on the samples (default: model)")
    prompts: str | None = None
    policy: PolicySpec = Field(default_factory=PolicySpec)
    sampling: dict[str, Any] = Field(default_factory=dict, description="RejectionConfig fields (k, n, tasks, ...)")
    extra_data: list[str] = Field(default_factory=list, description="chat-format JSONL files added to the SFT set")
    min_accepted: int = Field(default=1, ge=0, description="fewer accepted samples stop the pipeline")
    sft: dict[str, Any] = Field(default_factory=dict)


class Stages(_Strict):
    cold_start: SFTStage
    reasoning: GRPOStage
    rejection: RejectionStage
    all_scenario: GRPOStage


class PipelineVerifier(VerifierSpec):
    urls: list[str] | None = Field(default=None, description="a running verifier; absent: start one here")  # type: ignore[assignment]
    plugins: list[str] = Field(default_factory=lambda: ["math", "format", "language", "judge"])
    plugin_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    start_timeout_s: float = Field(default=180.0, gt=0)


class JudgeSpec(_Strict):
    url: str | None = Field(default=None, description="an OpenAI-compatible endpoint hosting the judge")
    serve: str | None = Field(default=None, description="or: serve this model here (base, a stage, a directory)")
    model: str = Field(default="judge", description="the model name the endpoint serves")
    options: dict[str, Any] = Field(default_factory=dict, description="more plugin_options.judge")
    serve_command: str | None = Field(default=None, description="as for the rejection stage's policy")

    _serve = field_validator("serve_command")(_check_serve_command)

    @model_validator(mode="after")
    def _one_source(self) -> JudgeSpec:
        if (self.url is None) == (self.serve is None):
            raise ValueError("give exactly one of `url` (a running endpoint) or `serve` (a model to serve here)")
        return self


class MiniatureSpec(_Strict):
    """The synthetic arithmetic task and tiny model of the mini R1 run, built under ``<output_dir>/miniature``."""

    seed: int = 0
    task: dict[str, int] = Field(default_factory=dict, description="TaskSpec fields: n_terms, low, high")
    model: dict[str, int] = Field(default_factory=dict, description="TinyModelSpec fields")
    n_sft: int = Field(default=300, ge=1)
    n_reasoning: int = Field(default=300, ge=1)
    n_rejection: int = Field(default=64, ge=1)
    n_all_scenario: int = Field(default=100, ge=1)
    n_held_out: int = Field(default=0, ge=0, description="problems kept out of training, to evaluate each stage")
    eval_max_new_tokens: int = Field(default=48, ge=1)


class PipelineConfig(_Strict):
    output_dir: str
    model: str | None = Field(default=None, description="the base model: a hub id or a local directory")
    miniature: MiniatureSpec | None = None
    threads: int | None = Field(default=None, ge=1, description="torch CPU threads of the training process")
    verifier: PipelineVerifier = Field(default_factory=PipelineVerifier)
    judge: JudgeSpec | None = None
    stages: Stages



def load_pipeline(path: str | Path) -> PipelineConfig:
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RecipeError(f"pipeline config {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"pipeline config {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise RecipeError(f"pipeline config {path} must be a mapping (output_dir, model, stages, ...)")
    config = parse_pipeline(raw, source=str(path))
    check_config(config)
    return config


def parse_pipeline(raw: Mapping[str, Any], *, source: str = "pipeline config") -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise RecipeError(f"{source}: {problems}") from exc


def check_config(config: PipelineConfig) -> None:
    """Everything that can be checked before a model loads; each problem names its key."""
    from trl.trainer.grpo_config import GRPOConfig
    from trl.trainer.sft_config import SFTConfig

    from trainer.rejection import RejectionConfig

    if config.model is None and config.miniature is None:
        raise RecipeError("model: the base model is required (unless `miniature` builds a tiny one)")
    if config.model is not None and config.miniature is not None:
        raise RecipeError("model: give `model` or `miniature` (which builds its own base model), not both")
    if config.judge is not None and config.verifier.urls:
        raise RecipeError(
            "judge: the pipeline configures the judge only in a verifier it starts itself; with verifier.urls, "
            "set plugin_options.judge in that verifier's settings instead"
        )
    for index, name in enumerate(STAGES):
        stage = getattr(config.stages, name)
        if stage.model is not None:
            resolve(config, stage.model, index, f"stages.{name}.model")
        if isinstance(stage, RejectionStage):
            if stage.train_from is not None:
                resolve(config, stage.train_from, index, f"stages.{name}.train_from")
            if stage.prompts is None and config.miniature is None:
                raise RecipeError(f"stages.{name}.prompts: required (only a `miniature` run makes its own)")
            for key in stage.sampling:
                if key in _MANAGED_SAMPLING:
                    raise RecipeError(f"stages.{name}.sampling.{key}: set by the pipeline, not in `sampling`")
            try:
                RejectionConfig.model_validate(
                    {**stage.sampling, "prompts": "p", "output": "o", "policy_url": "http://x", "policy_model": "m",
                     "verifier_urls": ["http://x"]}
                )
            except ValueError as exc:
                raise RecipeError(f"stages.{name}.sampling: {exc}") from exc
            trl_config(SFTConfig, stage.sft, f"stages.{name}.sft", output_dir="unused")
            for extra in stage.extra_data:
                if not Path(extra).is_file():
                    raise RecipeError(f"stages.{name}.extra_data: {extra} does not exist")
        elif stage.dataset is None and config.miniature is None:
            raise RecipeError(f"stages.{name}.dataset: required (only a `miniature` run makes its own data)")
        if isinstance(stage, SFTStage):
            trl_config(SFTConfig, stage.sft, f"stages.{name}.sft", output_dir="unused")
        if isinstance(stage, GRPOStage):
            trl_config(GRPOConfig, stage.grpo, f"stages.{name}.grpo", output_dir="unused")
            if uses_judge(stage) and config.judge is None and not config.verifier.urls:
                raise RecipeError(
                    f"stages.{name}.rewards: the judge reward needs a `judge` section (an endpoint URL, "
                    "or a model to serve here)"
                )
    if config.judge is not None and config.judge.serve is not None:
        first = min((i for i, n in enumerate(STAGES) if uses_judge(getattr(config.stages, n))), default=len(STAGES))
        resolve(config, config.judge.serve, first, "judge.serve")


def resolve(config: PipelineConfig, ref: str, before: int, key: str) -> Path | str:
    """A model reference: ``base``, a stage before index ``before`` (its model dir), or an existing directory."""
    if ref == BASE:
        return base_model(config)
    if ref in STAGES:
        if STAGES.index(ref) >= before:
            earlier = ", ".join([BASE, *STAGES[:before]])
            raise RecipeError(f"{key}: {ref!r} does not run before this; a model can come from {earlier}")
        return stage_dir(config, ref) / "model"
    if Path(ref).is_dir():
        return Path(ref)
    raise RecipeError(
        f"{key}: {ref!r} is neither {BASE!r}, a stage ({', '.join(STAGES)}) nor an existing model directory"
    )


def base_model(config: PipelineConfig) -> Path | str:
    if config.miniature is not None:
        return Path(config.output_dir) / "miniature" / "model"
    assert config.model is not None
    return config.model


def uses_judge(stage: Any) -> bool:
    if isinstance(stage, GRPOStage):
        names: set[str] = set()
        for reward, spec in stage.rewards.items():
            carried = spec.rewards if isinstance(spec, RewardSpec) and spec.rewards is not None else reward
            names |= {carried} if isinstance(carried, str) else set(carried)
        return "judge" in names
    if isinstance(stage, RejectionStage):
        tasks = stage.sampling.get("tasks")
        if tasks is None:
            return True  # the default task rules include `general`, judged by the judge
        return any("judge" in (rules or {}).get("thresholds", {}) for rules in tasks.values())
    return False


def stage_dir(config: PipelineConfig, name: str) -> Path:
    return Path(config.output_dir) / name


