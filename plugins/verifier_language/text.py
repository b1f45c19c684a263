"""What text is judged: the chain of thought, with code, math and URLs taken out.

Code, formulas and links are written the same way in every language, so they say nothing about the
language of the reasoning. They are replaced by blanks (a line break for blocks, so that a sentence on
either side of a display formula stays a separate segment) before any word is counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

CotSource = Literal["think_block", "unclosed_think", "prefilled_think", "whole_completion"]

_FENCE: Final = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE
)
_DISPLAY_MATH: Final = re.compile(
    r"\$\$.+?\$\$|\\\[.+?\\\]|\\begin\{([a-zA-Z*]+)\}.*?\\end\{\1\}", re.DOTALL
)
# Pandoc's rule for inline ``$...$``: no space just inside either dollar, no digit just after the closing
# one, so that "costs $5 and $10" stays prose.
_INLINE_MATH: Final = re.compile(r"\\\(.+?\\\)|(?<![\\$])\$(?=\S)[^$\n]+?(?<=\S)\$(?!\d)", re.DOTALL)
_INLINE_CODE: Final = re.compile(r"(`+)[^\n]+?\1")
_URL: Final = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+|\b[\w.+-]+@[\w-]+\.[\w.-]+")
_LATEX_COMMAND: Final = re.compile(r"\\[a-zA-Z]+\*?(?:\{[^{}\n]*\})*")
# Markup such as <think>, </answer>, <br/>: structure, not words. Glued to a word it would make that word
# look like code (and drop it); it also ends a sentence, so it becomes a line break.
_TAG: Final = re.compile(r"</?[A-Za-z][A-Za-z0-9_-]*\s*/?>")


@dataclass(frozen=True, slots=True)
class Reasoning:
    """The chain of thought of one completion and where it was found."""

    text: str
    source: CotSource


def extract_reasoning(completion: str, tag: str = "think") -> Reasoning:
    """The text inside ``<tag>...</tag>`` (all such blocks, joined); else the whole completion.

    A completion whose chat template opened the tag starts inside it (only ``</tag>`` appears): the text
    before the closing tag is the reasoning. A block cut off by the length limit (no closing tag) runs to
    the end of the completion.
    """
    open_tag, close_tag = f"<{tag}>", f"</{tag}>"
    start = completion.find(open_tag)
    end = completion.find(close_tag)
    if start >= 0 and end > start:
        pattern = re.compile(rf"{re.escape(open_tag)}(.*?)(?:{re.escape(close_tag)}|\Z)", re.DOTALL)
        return Reasoning("\n".join(pattern.findall(completion)), "think_block")
    if end >= 0 and (start < 0 or start > end):
        return Reasoning(completion[:end], "prefilled_think")
    if start >= 0:
        return Reasoning(completion[start + len(open_tag) :], "unclosed_think")
    return Reasoning(completion, "whole_completion")


@dataclass(frozen=True, slots=True)
class Masked:
    """Prose with code, math and URLs blanked out, and how many of each were removed."""

    text: str
    code_blocks: int
    math: int


def mask(text: str) -> Masked:
    """Blank out fenced code, display and inline math, inline code, URLs, stray LaTeX commands and markup
    tags (a line break: the text on either side of ``</think>`` is not one sentence)."""
    text, code_blocks = _FENCE.subn("\n", text)
    text, display = _DISPLAY_MATH.subn("\n", text)
    text, inline_math = _INLINE_MATH.subn(" ", text)
    text = _INLINE_CODE.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _LATEX_COMMAND.sub(" ", text)
    text = _TAG.sub("\n", text)
    return Masked(text, code_blocks, display + inline_math)


def count_code_blocks(text: str) -> int:
    """Fenced code blocks (``` or ~~~) in ``text``."""
    return len(_FENCE.findall(text))
