"""The R1 format rewards: reasoning inside ``<think>`` tags, then the answer.

Where the reasoning ends is ``verifier.split_reasoning``'s decision, the same for every reward; this module
only adds the format's own strictness on top (each tag once, in order, nothing before the reasoning, no tag
quoted inside code, the exact R1 layout when ``strict``), and requires the reasoning and the answer that
``split_reasoning`` found to hold visible text (``visible.has_visible``: zero-width spaces are not content).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import Field, field_validator, model_validator

from verifier import ReasoningTags, RewardItem, Score, split_reasoning
from verifier_format.code_spans import CodeSpans
from verifier_format.visible import has_visible

_TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


class _TagParams(ReasoningTags):
    answer_tag: str | None = Field(
        default=None, description="when set (e.g. 'answer'), the answer must be inside these tags"
    )

    @field_validator("answer_tag")
    @classmethod
    def _answer_tag_name(cls, value: str | None) -> str | None:
        if value is not None and not _TAG_NAME.match(value):
            raise ValueError("a tag name is a letter followed by up to 31 letters, digits, '_' or '-'")
        return value

    @model_validator(mode="after")
    def _distinct_tags(self) -> _TagParams:
        if self.answer_tag == self.think_tag:
            raise ValueError("answer_tag must differ from think_tag")
        return self


class FormatParams(_TagParams):
    strict: bool = Field(
        default=False,
        description="exact R1 layout: '<think>\\n...\\n</think>\\n' then the answer, no stray whitespace",
    )


class TagCountParams(_TagParams):
    pass


class FormatReward:
    """1.0 for exactly one reasoning block at the start, then a visible answer; else 0.0 with a reason."""

    def __call__(self, items: Sequence[RewardItem[FormatParams]]) -> list[Score]:
        return [self._one(item, item.params) for item in items]

    def _one(self, item: RewardItem, params: FormatParams) -> Score:
        reason = check_format(item.completion_text, params)
        return Score(1.0) if reason is None else Score(0.0, {"reason": reason})


def _tag_order(text: str, params: FormatParams) -> str | None:
    """Why the reasoning tags are not each once and in order, or ``None``."""
    think_open, think_close = f"<{params.think_tag}>", f"</{params.think_tag}>"
    opens, closes = text.count(think_open), text.count(think_close)
    if params.think_in_prompt:
        if opens:  # the template wrote the opening tag; a second one breaks the pair
            return "repeated_reasoning_tags"
        if not closes:
            return "missing_reasoning_close_tag"
        return "repeated_reasoning_tags" if closes > 1 else None
    if not opens:
        return "missing_reasoning_open_tag"
    if not closes:
        return "missing_reasoning_close_tag"
    if opens > 1 or closes > 1:
        return "repeated_reasoning_tags"
    return "reasoning_tags_out_of_order" if text.index(think_close) < text.index(think_open) else None


def check_format(completion: str, params: FormatParams) -> str | None:
    """Why ``completion`` is not in the R1 shape, or ``None`` when it is."""
    problem = _tag_order(completion, params)
    if problem is not None:
        return problem
    code = CodeSpans(completion)
    think_open, think_close = f"<{params.think_tag}>", f"</{params.think_tag}>"
    if code and any(code.contains(completion.find(tag)) for tag in (think_open, think_close)):
        return "reasoning_tag_inside_code"
    split = split_reasoning(completion, params)
    if split.answer is None:  # cannot happen once the tags are in order; fail closed all the same
        return "missing_reasoning_close_tag"
    before = "" if params.think_in_prompt else completion[: completion.index(think_open)]
    if has_visible(before) or (params.strict and before):
        return "text_before_reasoning"
    if not has_visible(split.reasoning):
        return "empty_reasoning"
    if params.strict and not (
        split.reasoning.startswith("\n") and split.reasoning.endswith("\n") and split.answer.startswith("\n")
    ):
        return "strict_layout"
    answer = split.answer[1:] if params.strict else split.answer
    if params.answer_tag is None:
        return None if has_visible(answer) else "missing_answer"
    return _check_answer_block(answer, params)


def _check_answer_block(answer: str, params: FormatParams) -> str | None:
    open_tag, close_tag = f"<{params.answer_tag}>", f"</{params.answer_tag}>"
    if answer.count(open_tag) != 1 or answer.count(close_tag) != 1:
        return "answer_tags_missing_or_repeated"
    start, end = answer.index(open_tag), answer.index(close_tag)
    if end < start:
        return "answer_tags_out_of_order"
    code = CodeSpans(answer)
    if code and (code.contains(start) or code.contains(end)):
        return "answer_tag_inside_code"
    outside = answer[:start] + answer[end + len(close_tag) :]
    if params.strict and (start != 0 or answer[end + len(close_tag) :] not in ("", "\n")):
        return "text_outside_answer_tags"
    if has_visible(outside):
        return "text_outside_answer_tags"
    inner = answer[start + len(open_tag) : end]
    if not has_visible(inner):
        return "empty_answer"
    if params.strict and not (inner.startswith("\n") and inner.endswith("\n")):
        return "strict_layout"
    return None


class TagCount:
    """Credit 1/n for each of the n expected tags that is written once, outside code, and in order.

    Tags go in pairs: an opening and a closing tag both present count only when the opening one comes first
    (a reversed pair earns nothing), and a pair counts only after the pair before it. A tag alone (the
    reasoning cut off before its closing tag) still earns its own share. Repeating a tag, or quoting it
    inside code, earns nothing for that tag, so the reward cannot be farmed with extra or quoted tags. With
    ``think_in_prompt`` the template wrote the opening reasoning tag: it is not expected, and writing it again
    scores 0.0.
    """

    def __call__(self, items: Sequence[RewardItem[TagCountParams]]) -> list[Score]:
        return [self._one(item, item.params) for item in items]

    def _one(self, item: RewardItem, params: TagCountParams) -> Score:
        text = item.completion_text
        think_open = f"<{params.think_tag}>"
        if params.think_in_prompt and think_open in text:  # re-opening the prefilled tag breaks the pair
            return Score(0.0, {"reason": "repeated_prefilled_tag"})
        names = [params.think_tag] + ([params.answer_tag] if params.answer_tag else [])
        pairs = [(f"<{name}>", f"</{name}>") for name in names]
        expected = [tag for pair in pairs for tag in pair]
        if params.think_in_prompt:
            expected = expected[1:]
        code = CodeSpans(text)
        counts = {tag: text.count(tag) for tag in expected}
        quoted = sorted(tag for tag in expected if counts[tag] and code and code.contains(text.find(tag)))

        def sole(tag: str) -> int | None:
            return text.index(tag) if counts.get(tag) == 1 and tag not in quoted else None

        credited, last = 0, -1
        for index, (open_tag, close_tag) in enumerate(pairs):
            prefilled = index == 0 and params.think_in_prompt
            start = -1 if prefilled else sole(open_tag)
            end = sole(close_tag)
            if start is not None and end is not None:
                if last <= start < end:
                    credited += 1 if prefilled else 2
                    last = end
            elif start is not None and start > last:
                credited, last = credited + 1, start
            elif end is not None and end > last:
                credited, last = credited + 1, end
        details: dict[str, object] = {"counts": counts}
        if quoted:
            details["inside_code"] = quoted
        return Score(credited / len(expected), details)
