"""Length shaping from open recipes: DAPO's soft overlong punishment and the cosine-scaled length reward.

Both are paid for being short, so both are attacked by looking short: a length is measured in tokens when the
trainer sends them, else in characters, else (``unit: words``) in words that invisible separators and
space-free runs cannot shrink (``count_words``). And neither pays more for being over the limit than for
being at its worst inside it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from verifier import ReasoningTags, RewardItem, Score, split_reasoning

MAX_WORD_CHARS: Final = 20
"""A run of more characters without a separator counts one word per this many (no word is that long)."""
# Whitespace and the characters that separate words without drawing anything (zero-width space, word
# joiner, BOM, Braille blank, Hangul filler, bidi and other format controls).
_SEPARATORS: Final = re.compile(
    "[\\s\u00ad\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u2800\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]+"
)
# Chinese, Japanese and Korean characters: one word each, as word processors count them.
_CJK: Final = re.compile("[\u1100-\u115e\u1161-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
                         "\U00020000-\U0003134f]")

Unit = Literal["auto", "tokens", "chars", "words"]


class _LengthParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: Unit = Field(
        default="auto",
        description="what a length counts: 'tokens' needs the item's completion_tokens; "
        "'auto' uses completion_tokens when sent, else characters",
    )


def count_words(text: str) -> int:
    """Words of ``text``: each CJK character is one; other runs between separators count one word per
    ``MAX_WORD_CHARS`` characters or part of it, so that ``a\\u200bb\\u200bc`` is three words and a
    5,000-character run without a space is 250, not one."""
    cjk = len(_CJK.findall(text))
    rest = _CJK.sub(" ", text)
    return cjk + sum(-(-len(run) // MAX_WORD_CHARS) for run in _SEPARATORS.split(rest) if run)


def measure(item: RewardItem, unit: Unit) -> tuple[int, str] | str:
    """The completion's length and the unit used, or an error message."""
    if unit in ("auto", "tokens") and item.completion_tokens is not None:
        return item.completion_tokens, "tokens"
    if unit == "tokens":
        return "unit 'tokens' needs the item's completion_tokens"
    if unit == "words":
        return count_words(item.completion_text), "words"
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

    def __call__(self, items: Sequence[RewardItem[OverlongParams]]) -> list[Score]:
        return [self._one(item, item.params) for item in items]

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


class CosineParams(_LengthParams, ReasoningTags):
    max_length: int = Field(default=1000, gt=0, description="length at which the cosine reaches its end")
    verdict_reward: str = Field(default="math", description="the reward whose score says correct or wrong")
    correct_threshold: float = Field(default=1.0, description="a verdict score at or above this is correct")
    min_value_correct: float = 0.5
    max_value_correct: float = 1.0
    min_value_wrong: float = -1.0
    max_value_wrong: float = -0.5

    @model_validator(mode="after")
    def _ordered(self) -> CosineParams:
        if self.min_value_correct > self.max_value_correct or self.min_value_wrong > self.max_value_wrong:
            raise ValueError("each min_value_* must be at most its max_value_*")
        if self.max_value_wrong > self.min_value_correct:
            raise ValueError("max_value_wrong must be at most min_value_correct: no wrong answer may pay more "
                             "than a correct one")
        return self


class CosineLength:
    """Cosine-scaled length reward (Yeo et al., 2025, "Demystifying Long Chain-of-Thought Reasoning").

    Correct answers go from ``max_value_correct`` (length 0) down to ``min_value_correct`` (max_length);
    wrong ones from ``min_value_wrong`` up to ``max_value_wrong``, so a wrong answer is penalised less for
    having thought longer. It reads the verdict of another reward requested for the same item.

    Two places where that would pay for the wrong thing score the verdict's worst in-range value instead:
    a length past ``max_length`` (padding a wrong answer to the limit must not beat a short wrong one, the
    paper's exceed-length case), and reasoning that never ended (``split_reasoning`` finds no answer: a
    completion cut off mid-thought has thought long and answered nothing).
    """

    def __call__(self, items: Sequence[RewardItem[CosineParams]]) -> list[Score]:
        return [self._one(item, item.params) for item in items]

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
        details: dict[str, object] = {"length": length, "unit": unit, "correct": correct}
        if length > params.max_length:
            return Score(min(start, end), {**details, "reason": "over_max_length"})
        if not split_reasoning(item.completion_text, params).finished:
            return Score(min(start, end), {**details, "reason": "unfinished_reasoning"})
        progress = length / params.max_length
        value = end + 0.5 * (start - end) * (1.0 + math.cos(progress * math.pi))
        return Score(value, details)
