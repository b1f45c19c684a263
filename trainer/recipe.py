"""Recipes: the YAML files ``trainer grpo`` and ``trainer sft`` read, validated before anything heavy loads.

A GRPO recipe::

    model: Qwen/Qwen2.5-0.5B-Instruct      # a hub id, or a local model directory
    dataset:
      path: data/train.jsonl               # a local JSON/JSONL/CSV/Parquet file, or `name:` for a hub dataset
      prompt_column: question              # renamed to TRL's `prompt`
    verifier:
      urls: [http://10.0.0.5:8000, http://10.0.0.6:8000]
      on_error: raise                      # or skip: an unreachable verifier scores the batch None
    rewards:                               # one TRL reward function each; weight -> GRPOConfig.reward_weights
      math: 1.0
      format: {weight: 0.2, params: {format: {strict: true}}}
    vllm: auto                             # TRL's vLLM generation when a GPU and vllm are present
    grpo:                                  # any GRPOConfig field, passed through
      learning_rate: 1.0e-6
      num_generations: 8

Every mistake is reported as a ``RecipeError`` naming the key: a misspelt GRPOConfig field, a missing dataset
column, a reward the verifier does not offer.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trainer.errors import RecipeError
from verifier.client import DEFAULT_URL

R = TypeVar("R", bound="_Recipe")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(_Strict):
    """Where the training data comes from."""

    path: str | None = Field(default=None, description="a local .jsonl/.json/.csv/.parquet file")
    name: str | None = Field(default=None, description="a hub dataset id (needs the network)")
    config: str | None = Field(default=None, description="the hub dataset's configuration name")
    split: str = "train"
    prompt_column: str = Field(default="prompt", description="renamed to `prompt` (GRPO)")
    limit: int | None = Field(default=None, ge=1, description="use only the first N rows")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.path is None) == (self.name is None):
            raise ValueError("give exactly one of `path` (a local file) or `name` (a hub dataset)")
        return self


class VerifierSpec(_Strict):
    """How the rewards reach the verifier (``RemoteReward``'s transport settings)."""

    urls: list[str] = Field(default_factory=lambda: [DEFAULT_URL], min_length=1)
    on_error: Literal["raise", "skip"] = "raise"
    timeout: float = Field(default=300.0, gt=0)
    retries: int = Field(default=2, ge=0)
    backoff: float = Field(default=0.5, ge=0)
    chunk_size: int = Field(default=512, ge=1)
    check: bool = Field(default=True, description="before training, check the verifier answers and has the rewards")

    @field_validator("urls", mode="before")
    @classmethod
    def _one_url(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RewardSpec(_Strict):
    """One TRL reward function (one ``RemoteReward``)."""

    weight: float = 1.0
    rewards: str | list[str] | dict[str, float] | None = Field(
        default=None, description="verifier reward(s) this function carries; default: its own name"
    )
    params: dict[str, dict[str, Any]] | None = Field(default=None, description="reward name -> params")
    columns: dict[str, str] | None = Field(default=None, description="dataset column -> item field")
    send_prompt: bool = True


class _Recipe(_Strict):
    model: str = Field(description="a hub model id or a local model directory")
    dataset: DatasetSpec
    output_dir: str


class GRPORecipe(_Recipe):
    output_dir: str = "runs/grpo"
    verifier: VerifierSpec = Field(default_factory=VerifierSpec)
    rewards: dict[str, float | RewardSpec] = Field(min_length=1)
    vllm: Literal["auto", True, False] = "auto"
    grpo: dict[str, Any] = Field(default_factory=dict, description="GRPOConfig fields")

    def reward_specs(self) -> dict[str, RewardSpec]:
        return {
            name: spec if isinstance(spec, RewardSpec) else RewardSpec(weight=spec)
            for name, spec in self.rewards.items()
        }


class SFTRecipe(_Recipe):
    output_dir: str = "runs/sft"
    sft: dict[str, Any] = Field(default_factory=dict, description="SFTConfig fields")


# Fields a recipe sets elsewhere, so that one setting has one place.
_MANAGED = {
    "output_dir": "the top-level `output_dir`",
    "reward_weights": "the `weight` of each entry under `rewards`",
    "use_vllm": "the top-level `vllm` (auto, true or false)",
}


def load_recipe(path: str | Path, kind: type[R]) -> R:
    """Read and validate a YAML recipe; every problem is a ``RecipeError`` that names the key."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise RecipeError(f"recipe {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise RecipeError(f"recipe {path} must be a mapping of keys (model, dataset, ...)")
    return parse_recipe(raw, kind, source=str(path))


def parse_recipe(raw: Mapping[str, Any], kind: type[R], *, source: str = "recipe") -> R:
    try:
        return kind.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise RecipeError(f"{source}: {problems}") from exc


def trl_config(cls: type[Any], fields: Mapping[str, Any], section: str, **managed: Any) -> Any:
    """Build a TRL config dataclass (``GRPOConfig``, ``SFTConfig``) from a recipe section.

    Unknown field names are refused with the closest valid spelling; fields the recipe sets elsewhere
    (``_MANAGED``) are refused with where to set them; the config's own validation errors become
    ``RecipeError``s too.
    """
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    for name in fields:
        if name in _MANAGED:
            raise RecipeError(f"{section}.{name}: set it with {_MANAGED[name]}, not in `{section}`")
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RecipeError(f"{section}.{name}: {cls.__name__} has no field {name!r}{hint}")
    try:
        return cls(**{**fields, **managed})
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{section}: {cls.__name__} refused these settings: {exc}") from exc
