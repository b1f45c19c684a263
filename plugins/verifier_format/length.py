"""Length shaping from open recipes: DAPO's soft overlong punishment and the cosine-scaled length reward."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from verifier import RewardItem, Score

Unit = Literal["auto", "tokens", "chars", "words"]


class _LengthParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: Unit = Field(
        default="auto",
        description="what a length counts: 'tokens' needs the item's completion_tokens; "
        "'auto' uses completion_tokens when sent, else characters",
    )


def measure(item: RewardItem, unit: Unit) -> tuple[int, str] | str:
    """The completion's length and the unit used, or an error message."""
    if unit in ("auto", "tokens") and item.completion_tokens is not None:
        return item.completion_tokens, "tokens"
    if unit == "tokens":
        return "unit 'tokens' needs the item's completion_tokens"
    if unit == "words":
        return len(item.completion_text.split()), "words"
    return len(item.completion_text), "chars"


class OverlongParams(_LengthParams):
    max_length: int = Field(default=4096, gt=0, description="L_max: lengths above it score -1")
    cache_length: int = Field(default=1024, ge=0, description="L_cache: the soft zone below max_length")

    @model_validator(mode="after")
    def _cache_fits(self) -> OverlongParams:
        if self.cache_length >= self.max_length:
            raise ValueError("cache_length must be smaller than max_length")
        return self


class SoftOverlong:
    """DAPO (Yu et al., 2025): 0 up to L_max - L_cache, then linearly down to -1 at L_max, -1 beyond."""

    def __call__(self, items: Sequence[RewardItem]) -> list[Score]:
        return [self._one(item, item.params) for item in items]  # type: ignore[arg-type]

    def _one(self, item: RewardItem, params: OverlongParams) -> Score:
        measured = measure(item, params.unit)
        if isinstance(measured, str):
            return Score(None, {}, measured)
        length, unit = measured
        expected = params.max_length - params.cache_length
        if length <= expected:
            value = 0.0
        elif length <= params.max_length:
            value = (expected - length) / params.cache_length
        else:
            value = -1.0
        return Score(value, {"length": length, "unit": unit})


class CosineParams(_LengthParams):
    max_length: int = Field(default=1000, gt=0, description="length at which the cosine reaches its end")
    verdict_reward: str = Field(default="math", description="the reward whose score says correct or wrong")
    correct_threshold: float = Field(default=1.0, description="a verdict score at or above this is correct")
    min_value_correct: float = 0.5
    max_value_correct: float = 1.0
    min_value_wrong: float = -1.0
    max_value_wrong: float = -0.5


class CosineLength:
    """Cosine-scaled length reward (Yeo et al., 2025, "Demystifying Long Chain-of-Thought Reasoning").

    Correct answers go from ``max_value_correct`` (length 0) down to ``min_value_correct`` (max_length);
    wrong ones from ``min_value_wrong`` up to ``max_value_wrong``, so a wrong answer is penalised less for
    having thought longer. It reads the verdict of another reward requested for the same item.
    """

    def __call__(self, items: Sequence[RewardItem]) -> list[Score]:
        return [self._one(item, item.params) for item in items]  # type: ignore[arg-type]

    def _one(self, item: RewardItem, params: CosineParams) -> Score:
        if params.verdict_reward not in item.scores:
            return Score(
                None, {}, f"needs the verdict of reward {params.verdict_reward!r}: request it for this item"
            )
        verdict = item.scores[params.verdict_reward]
        if verdict is None:
            return Score(None, {"reason": f"{params.verdict_reward} did not apply"})
        measured = measure(item, params.unit)
        if isinstance(measured, str):
            return Score(None, {}, measured)
        length, unit = measured
        correct = verdict >= params.correct_threshold
        if correct:
            start, end = params.max_value_correct, params.min_value_correct
        else:
            start, end = params.min_value_wrong, params.max_value_wrong
        progress = min(length, params.max_length) / params.max_length
        value = end + 0.5 * (start - end) * (1.0 + math.cos(progress * math.pi))
        return Score(value, {"length": length, "unit": unit, "correct": correct})
