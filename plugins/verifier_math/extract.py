"""Find the final answer in a completion: pure string work, no sympy.

Each method looks for one convention and returns the answer text it found (or ``None``):

- ``boxed``: the last ``\\boxed{...}`` (or ``\\fbox{...}``), joined with the boxes right before it when a comma,
  "and" or "or" separates them (``\\boxed{2}`` and ``\\boxed{-2}`` is the two-part answer ``2, -2``; "or" is
  kept as ``2 or -2``, which the grader reads as a hedge unless the reference has several parts). The other
  boxes of the region are returned too: an answer whose boxes disagree is not an answer.
- ``answer_is``: the last "answer is ...", "answer: ...", "final answer ... is ...", up to the end of the sentence;
  formulas joined by "and", "or", "maybe"... are kept together (``$3$ or $5$`` is ``3 or 5``).
- ``gsm8k``: the last ``#### 42`` line.
- ``bold``: the last markdown-bold span holding math (``**73**``, ``**Answer:** 73``).
- ``last_number``: the last number in the text (``1,234.5``, ``-3/4``, ``\\frac{1}{2}``, ``12%``).
- ``math_verify``: not found here; the worker hands the whole answer region to math-verify's own extraction.

Whole answers are kept, not their first number: "the answer is 3 or 5" extracts ``3 or 5``, which then fails a
gold of ``3`` instead of passing on its first part.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_EXTRACTED_CHARS = 2000
"""Longer captures are cut: the guards would refuse to parse them anyway."""


@dataclass(frozen=True, slots=True)
class Extraction:
    """The answer text a method found, which method found it, and (``boxed``) the contents of the region's
    other boxes, which must agree with it."""

    text: str
    method: str
    others: tuple[str, ...] = ()


def extract_answer(region: str, methods: Sequence[str]) -> Extraction | None:
    """The answer found by the first of ``methods`` that finds one (``math_verify`` is skipped here)."""
    region = _ANSWER_TAGS.sub(" ", region)
    for method in methods:
        finder = FINDERS.get(method)
        if finder is None:
            continue
        found = finder(region)
        if found:
            found = found.strip()
        if found:
            others = _other_boxes(region) if method == "boxed" else ()
            return Extraction(found[:MAX_EXTRACTED_CHARS], method, others)
    return None


# boxed

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
MAX_JOINER_CHARS = 40
"""Boxes further apart than this are separate answers (and the joiner pattern only ever sees short text)."""
MAX_OTHER_BOXES = 16
"""Other boxes checked for agreement with the final one; more than this many is itself a refusal."""
_DELIMS = r"(?:\s|\$|\\[()\[\]])*"
_BOX_JOINER = re.compile(
    r"^(?:\s|\$|\\[()\[\]]|\\[,;: ]|\\q?quad\b|(,|;|\\text\{\s*(?:and|,)\s*\}|\band\b)"
    r"|(\\text\{\s*or\s*\}|\bor\b))+$"
)
"""What may separate two boxes of one answer: spaces, math delimiters and at least one comma, "and" or "or"."""
_EXPLICIT_JOINER = re.compile(r"[,;]|\band\b|\bor\b")

_GOLD_BOX_JOINER = re.compile(
    r"^[^A-Za-z]*(?:[A-Za-z]+\b[^A-Za-z]*)?(?:(,|;|\\quad|\\qquad)|\\text\{\s*(and|or|,)\s*\}|\b(and|or)\b)?"
    r"[^A-Za-z]*$"
)
"""A reference is trusted more: its boxes are one answer unless prose separates them (more than one word besides
"and"/"or"): adjacent boxes, ``\\boxed{1} papers and \\boxed{2} bins``."""


def find_boxed(text: str, *, reference: bool = False) -> str | None:
    boxes = _boxes(text)
    if not boxes:
        return None
    return _final_group(text, boxes, _GOLD_BOX_JOINER if reference else _BOX_JOINER)[0]


def _final_group(
    text: str, boxes: list[tuple[int, str, int]], joiners: re.Pattern[str] = _BOX_JOINER
) -> tuple[str, int]:
    """The last box joined with the boxes right before it by "and", "or" or commas (one multi-part answer),
    and how many boxes that took."""
    joined = boxes[-1][1]
    count = 1
    for previous, current in zip(reversed(boxes[:-1]), reversed(boxes[1:]), strict=True):
        between = text[previous[2] : current[0]]
        joiner = joiners.match(between) if len(between) <= MAX_JOINER_CHARS else None
        if joiner is None or (joiners is _BOX_JOINER and not _EXPLICIT_JOINER.search(between)):
            break
        alternative = re.search(r"\bor\b", between) is not None
        joined = f"{previous[1]}{' or ' if alternative else ', '}{joined}"
        count += 1
    return joined, count


def _other_boxes(text: str) -> tuple[str, ...]:
    """The contents of the boxes before the final answer's group (nested boxes are their parent's)."""
    boxes = _boxes(text)
    if not boxes:
        return ()
    _, count = _final_group(text, boxes)
    return tuple(content for _, content, _ in boxes[: len(boxes) - count])


def _boxes(text: str) -> list[tuple[int, str, int]]:
    """``(start, content, end)`` of every box, in order; an unclosed box runs to the end of what is scanned."""
    found: list[tuple[int, str, int]] = []
    for match in _BOX.finditer(text):
        start, pos = match.start(), match.end()
        if found and start < found[-1][2]:  # a box inside a box is part of its parent's content
            continue
        if pos < len(text) and text[pos] == "{":
            content, end = _braced(text, pos)
        else:  # \boxed 5: a single token
            token = re.match(r"[^\s$]+", text[pos:])
            if token is None:
                continue
            content, end = token.group(), pos + token.end()
        found.append((start, content, end))
    return found


def _braced(text: str, open_at: int) -> tuple[str, int]:
    depth = 0
    i = open_at
    stop = min(len(text), open_at + 2 * MAX_EXTRACTED_CHARS)  # bounds the scan of an unclosed box
    while i < stop:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i], i + 1
        i += 1
    return text[open_at + 1 : stop], stop


# "answer is ..."

_ANSWER_IS = re.compile(
    r"\banswer\b(?:\s*\*\*)?\s*(?:(?:is|was|would\s+be|will\s+be|should\s+be)\b\s*:?|[:=])",
    re.IGNORECASE,
)
_DELIMITED = re.compile(r"^\s*(?:\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\])", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<!\d)\.(?!\d)|\.(?=\s|$)|\n")
_ANSWER_TAGS = re.compile(r"</?answer>", re.IGNORECASE)


def find_answer_is(text: str) -> str | None:
    last = None
    for last in _ANSWER_IS.finditer(text):  # noqa: B007 - only the last match is used
        pass
    if last is None:
        return None
    rest = _strip_bold(text[last.end() : last.end() + 4 * MAX_EXTRACTED_CHARS].lstrip())
    return _first_statement(rest)


_FORMULA_JOINER = re.compile(r"^\s*(?:,|;|and|,\s*and)\s*$", re.IGNORECASE)
_HEDGE_JOINER = re.compile(
    r"^[\s,;]*(?:\b(?:or|maybe|perhaps|possibly|probably|not|nor|either|else|otherwise)\b[\s,;]*)+$",
    re.IGNORECASE,
)


def _first_statement(rest: str) -> str | None:
    """The math at the start of ``rest``: a delimited formula (with the formulas "and", "or", "maybe" join to
    it), else the text up to the end of the sentence."""
    delimited = _DELIMITED.match(rest)
    if delimited:
        statement = next(g for g in delimited.groups() if g is not None)
        while len(statement) < MAX_EXTRACTED_CHARS:
            rest = rest[delimited.end() :]
            gap = re.match(r"[^$\\\n.]{0,40}", rest)
            assert gap is not None  # the pattern matches the empty string
            following = _DELIMITED.match(rest[gap.end() :])
            if following is None:
                break
            if _FORMULA_JOINER.match(gap.group()):
                statement += ", "
            elif _HEDGE_JOINER.match(gap.group()):
                statement += " or "
            else:
                break
            statement += next(g for g in following.groups() if g is not None)
            rest, delimited = rest[gap.end() :], following
        return statement
    line = rest.split("\n", 1)[0]
    end = _SENTENCE_END.search(line)
    statement = line[: end.start()] if end else line
    return _strip_bold(statement.strip().rstrip(".;,")) or None


def _strip_bold(text: str) -> str:
    return text.strip().removeprefix("**").removesuffix("**").strip()


# GSM8K

_GSM8K = re.compile(r"####\s*([^\n]+)")


def find_gsm8k(text: str) -> str | None:
    matches = _GSM8K.findall(text)
    if not matches:
        return None
    return _strip_bold(matches[-1].strip().rstrip("."))


# markdown bold

_BOLD = re.compile(r"\*\*([^*\n]{1,300}?)\*\*")
_MATHY = re.compile(r"[\d\\=]")
_BOLD_LABEL = re.compile(r"(?i)(?:(?:final\s+)?answer\s*[:=]|[a-z][a-z ]{2,30}:)\s*(.+)")
_HEADING = re.compile(r"(?i)(?!(?:sqrt|sin|cos|tan|cot|sec|csc|log|ln|exp|pi|arc[a-z]+)\b)[a-z]{3,}\b")


def find_bold(text: str) -> str | None:
    for match in reversed(list(_BOLD.finditer(text))):
        content = match.group(1).strip()
        if content.endswith(":"):  # a label such as **Final Answer:** 73
            after = _first_statement(text[match.end() : match.end() + 4 * MAX_EXTRACTED_CHARS].lstrip())
            if after and _MATHY.search(after):
                return after
            continue
        labelled = _BOLD_LABEL.match(content)
        if labelled:
            content = labelled.group(1)
        elif _HEADING.match(content):  # **Step 1**, **Case 2**: a heading, not an answer
            continue
        if _MATHY.search(content):
            delimited = _DELIMITED.match(content)
            return next(g for g in delimited.groups() if g is not None) if delimited else content.rstrip(".")
    return None


# last number

_NUMBER = re.compile(
    r"-?\\[dt]?frac\{\s*-?\d+\s*\}\{\s*-?\d+\s*\}"
    r"|-?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?"
    r"|-?\d+(?:\.\d+)?(?:\s*/\s*\d+(?!\.\d))?%?"
    r"|-?\.\d+%?"
)


def find_last_number(text: str) -> str | None:
    last = None
    for last in _NUMBER.finditer(text):  # noqa: B007 - only the last match is used
        pass
    return last.group() if last else None


FINDERS: dict[str, Callable[[str], str | None]] = {
    "boxed": find_boxed,
    "answer_is": find_answer_is,
    "gsm8k": find_gsm8k,
    "bold": find_bold,
    "last_number": find_last_number,
}
