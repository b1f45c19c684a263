"""The R1 format rewards: reasoning inside ``<think>`` tags, then the answer."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from verifier import RewardItem, Score

_TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


class _TagParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    think_tag: str = Field(default="think", description="name of the reasoning tag")
    answer_tag: str | None = Field(
        default=None, description="when set (e.g. 'answer'), the answer must be inside these tags"
    )
    think_in_prompt: bool = Field(
        default=False,
        description="the chat template already opened the reasoning tag, so the completion starts inside it",
    )

    @field_validator("think_tag", "answer_tag")
    @classmethod
    def _tag_name(cls, value: str | None) -> str | None:
        if value is not None and not _TAG_NAME.match(value):
            raise ValueError("a tag name is a letter followed by up to 31 letters, digits, '_' or '-'")
        return value

    def text(self, item: RewardItem) -> str:
        """The completion as the model's whole turn: with the prefilled opening tag when there was one."""
        text = item.completion_text
        return f"<{self.think_tag}>{text}" if self.think_in_prompt else text


class FormatParams(_TagParams):
    strict: bool = Field(
        default=False,
        description="exact R1 layout: '<think>\\n...\\n</think>\\n' then the answer, no stray whitespace",
    )


class TagCountParams(_TagParams):
    pass


class FormatReward:
    """1.0 for exactly one reasoning block at the start, then a non-empty answer; else 0.0 with a reason."""

    def __call__(self, items: Sequence[RewardItem]) -> list[Score]:
        return [self._one(item, item.params) for item in items]  # type: ignore[arg-type]

    def _one(self, item: RewardItem, params: FormatParams) -> Score:
        reason = check_format(params.text(item), params)
        return Score(1.0) if reason is None else Score(0.0, {"reason": reason})


def check_format(text: str, params: FormatParams) -> str | None:
    """Why ``text`` is not in the R1 shape, or ``None`` when it is."""
    think_open, think_close = f"<{params.think_tag}>", f"</{params.think_tag}>"
    if think_open not in text:
        return "missing_reasoning_open_tag"
    if think_close not in text:
        return "missing_reasoning_close_tag"
    if text.count(think_open) > 1 or text.count(think_close) > 1:
        return "repeated_reasoning_tags"
    start = text.index(think_open)
    end = text.index(think_close)
    if end < start:
        return "reasoning_tags_out_of_order"
    before, reasoning, after = (
        text[:start],
        text[start + len(think_open) : end],
        text[end + len(think_close) :],
    )
    if before.strip() or (params.strict and before):
        return "text_before_reasoning"
    if not reasoning.strip():
        return "empty_reasoning"
    if params.strict and not (
        reasoning.startswith("\n") and reasoning.endswith("\n") and after.startswith("\n")
    ):
        return "strict_layout"
    answer = after[1:] if params.strict else after
    if params.answer_tag is None:
        return None if answer.strip() else "missing_answer"
    return _check_answer_block(answer, params)


def _check_answer_block(answer: str, params: FormatParams) -> str | None:
    open_tag, close_tag = f"<{params.answer_tag}>", f"</{params.answer_tag}>"
    if answer.count(open_tag) != 1 or answer.count(close_tag) != 1:
        return "answer_tags_missing_or_repeated"
    body = answer.strip() if not params.strict else answer.removesuffix("\n")
    if not (body.startswith(open_tag) and body.endswith(close_tag)):
        return "text_outside_answer_tags"
    inner = body[len(open_tag) : -len(close_tag)]
    if not inner.strip():
        return "empty_answer"
    if params.strict and not (inner.startswith("\n") and inner.endswith("\n")):
        return "strict_layout"
    return None


class TagCount:
    """Credit 1/n for each of the n expected tags that occurs exactly once, after the tag before it.

    Repeating or nesting tags earns nothing for that tag, so the reward cannot be farmed with extra tags.
    """

    def __call__(self, items: Sequence[RewardItem]) -> list[Score]:
        return [self._one(item, item.params) for item in items]  # type: ignore[arg-type]

    def _one(self, item: RewardItem, params: TagCountParams) -> Score:
        text = params.text(item)
        names = [params.think_tag] + ([params.answer_tag] if params.answer_tag else [])
        expected = [tag for name in names for tag in (f"<{name}>", f"</{name}>")]
        if params.think_in_prompt:
            expected = expected[1:]  # the template wrote it, not the model
            text = item.completion_text
            if f"<{params.think_tag}>" in text:  # re-opening the prefilled tag breaks the pair
                return Score(0.0, {"reason": "repeated_prefilled_tag"})
        counts = {tag: text.count(tag) for tag in expected}
        credited = 0
        last_position = -1
        for tag in expected:
            if counts[tag] == 1:
                position = text.index(tag)
                if position > last_position:
                    credited += 1
                    last_position = position
        return Score(credited / len(expected), {"counts": counts})
