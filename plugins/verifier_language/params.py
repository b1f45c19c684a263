"""Request parameters of the ``language`` and ``readability`` rewards."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from verifier import ReasoningTags
from verifier_language.languages import SUPPORTED_TARGETS, normalise


def check_target(value: str) -> str:
    """``value`` as a bare ISO 639-1 code, or a ValueError that lists every supported code."""
    code = normalise(value)
    if code not in SUPPORTED_TARGETS:
        supported = ", ".join(sorted(SUPPORTED_TARGETS))
        raise ValueError(f"unsupported target language {value!r}; supported: {supported}")
    return code


class LanguageParams(ReasoningTags):
    """How the ``language`` reward reads one completion; where the reasoning ends is ``think_tag`` and
    ``think_in_prompt`` (inherited), read by ``verifier.split_reasoning`` as in every other reward."""

    target: str | None = Field(
        default=None,
        description="ISO 639-1 code (a BCP 47 tag such as zh-CN is cut to its language) of the language the "
        "reasoning must be in; unset: the prompt's language, else `default_target`",
    )
    default_target: str = Field(
        default="en", description="target when none is given and the prompt has no words"
    )
    scope: Literal["reasoning", "completion"] = Field(
        default="reasoning",
        description="`reasoning`: the reasoning as verifier.split_reasoning finds it (the whole completion "
        "when it has no tags); "
        "`completion`: all of it",
    )
    empty_score: float | None = Field(
        default=1.0, ge=0.0, le=1.0,
        description="score when no word is counted (empty, or only code and math); "
        "null: the reward does not apply",
    )
    min_segment_words: float = Field(
        default=3.0, ge=0.0,
        description="a segment with fewer different counted words takes its language from its neighbours",
    )
    min_confidence: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="a segment whose best detector probability is lower takes its language from its "
        "neighbours",
    )

    @field_validator("target")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        return None if value is None else check_target(value)

    @field_validator("default_target")
    @classmethod
    def _default_target(cls, value: str) -> str:
        return check_target(value)


class ReadabilityParams(LanguageParams):
    """Thresholds of the ``readability`` filter; ``null`` switches a check off."""

    min_consistency: float | None = Field(
        default=0.95, ge=0.0, le=1.0,
        description="mixed languages: the share of counted words in the target must be at least this",
    )
    max_paragraph_words: float | None = Field(
        default=400.0, gt=0.0, description="long paragraphs: no line of the reasoning may count more words"
    )
    max_code_blocks: int | None = Field(
        default=0, ge=0, description="code in the reasoning: at most this many fenced code blocks"
    )
    max_repeats: int | None = Field(
        default=3, ge=1,
        description="repetition: no sentence of at least `repeat_min_chars` characters may occur more often",
    )
    repeat_min_chars: int = Field(
        default=20, ge=1, description="shorter sentences are not checked for repeats"
    )
    max_loop_chars: int | None = Field(
        default=200, ge=1,
        description="repetition loop: the reasoning may not end in a verbatim repeated block "
        "(3 times or more) longer than this many characters",
    )
