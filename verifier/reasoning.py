"""Where the reasoning ends and the answer starts: the one definition every reward uses.

R1-style completions put their chain of thought inside ``<think>...</think>`` and the answer after it. The
rewards must agree on that split, or a policy learns to satisfy one while fooling another (an answer written
inside an unclosed ``<think>`` that the format reward rejects but the math reward reads).

The rules, in order:

- ``think_in_prompt``: the chat template already wrote the opening tag (R1-distill templates end the prompt in
  ``<think>\\n``), so the completion starts inside the reasoning. It ends at the last closing tag; a completion
  with no closing tag never finished reasoning and has **no answer**.
- Otherwise, a completion with an opening tag: the reasoning is every ``<tag>...</tag>`` block, the answer is
  what follows the last closing tag. An opening tag that is never closed (the model ran out of tokens, or stopped
  mid-thought), also one opened again after the last closing tag, leaves **no answer**.
- A closing tag with no opening tag before it: the template opened the tag although the caller did not say so;
  read as ``think_in_prompt``.
- No tag at all: the completion is both the reasoning and the answer (plain chain-of-thought models).

"No answer" (``answer is None``) is what lets each reward fail closed: math finds nothing to grade, format
reports the missing tag, a judge is not asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator

ReasoningSource: TypeAlias = Literal["think_block", "prefilled_think", "unclosed_think", "no_tags"]

_TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


class ReasoningTags(BaseModel):
    """The reasoning-tag conventions of a request; every reward that reads the reasoning or the answer takes
    these two fields with these defaults, so one ``params`` block can configure them all alike."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    think_tag: str = Field(default="think", description="name of the reasoning tag (<think>...</think>)")
    think_in_prompt: bool = Field(
        default=False,
        description="the chat template already opened the reasoning tag, so the completion starts inside it",
    )

    @field_validator("think_tag")
    @classmethod
    def _tag_name(cls, value: str) -> str:
        if not _TAG_NAME.match(value):
            raise ValueError("a tag name is a letter followed by up to 31 letters, digits, '_' or '-'")
        return value


@dataclass(frozen=True, slots=True)
class ReasoningSplit:
    """One completion cut into its reasoning and its answer.

    ``answer`` is ``None`` when the reasoning never ended: there is no answer to grade.
    """

    reasoning: str
    answer: str | None
    source: ReasoningSource

    @property
    def finished(self) -> bool:
        """Whether the reasoning ended (or there were no tags to end)."""
        return self.answer is not None


def split_reasoning(text: str, tags: ReasoningTags | None = None) -> ReasoningSplit:
    """Cut ``text`` into reasoning and answer by the rules in this module's docstring."""
    tags = tags or _DEFAULT_TAGS
    open_tag, close_tag = f"<{tags.think_tag}>", f"</{tags.think_tag}>"
    last_close = text.rfind(close_tag)
    first_open = text.find(open_tag)
    first_close = text.find(close_tag)
    reopened = text.rfind(open_tag) > last_close >= 0  # a reasoning block after the last close never ended
    if tags.think_in_prompt or (first_close >= 0 and (first_open < 0 or first_close < first_open)):
        if last_close < 0 or reopened:
            return ReasoningSplit(text, None, "unclosed_think")
        reasoning = text[:last_close].replace(open_tag, "\n").replace(close_tag, "\n")
        return ReasoningSplit(reasoning, text[last_close + len(close_tag) :], "prefilled_think")
    if first_open < 0:
        return ReasoningSplit(text, text, "no_tags")
    blocks = re.findall(rf"{re.escape(open_tag)}(.*?)(?:{re.escape(close_tag)}|\Z)", text, re.DOTALL)
    reasoning = "\n".join(blocks)
    if last_close < first_open or reopened:
        return ReasoningSplit(reasoning, None, "unclosed_think")
    return ReasoningSplit(reasoning, text[last_close + len(close_tag) :], "think_block")


_DEFAULT_TAGS = ReasoningTags()
