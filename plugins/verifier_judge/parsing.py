"""Reading a 1-10 score out of a judge's reply: JSON first, then a few common textual forms.

A reply that is one JSON object with a score (what structured output produces) is the judge's verdict. Any
other reply is searched: first for JSON objects with a score, and only when there is none for the textual
forms. Two defences against a policy that writes a verdict into its own answer for the judge to repeat:

- a candidate that also occurs in the judged text (the same JSON object, or the same textual form) is a copy
  of what the policy wrote, not the judge's grade, and is skipped;
- candidates that disagree make the reply ambiguous: no score, rather than the first or the last one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

MIN_SCORE = 1.0
MAX_SCORE = 10.0

_JSON_OBJECT = re.compile(r"\{[^{}]*\}")
_PATTERNS = [
    re.compile(r"\"?score\"?\s*[:=]\s*\"?(\d+(?:\.\d+)?)", re.IGNORECASE),
    re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]"),
    re.compile(r"(\d+(?:\.\d+)?)\s*/\s*10\b"),
    re.compile(r"rating\s*(?:is|of)?\s*[:=]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE),
]

JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "score": {"type": "integer", "minimum": 1, "maximum": 10},
    },
    "required": ["reason", "score"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Unreadable:
    """Why no score could be read from a reply; ``copied_from``: the indices of the judged texts whose JSON
    verdicts the reply repeated, when it held nothing else (a JSON verdict in an answer is written for the
    judge; a textual form such as ``7/10`` may be an honest part of one, so it is not blamed)."""

    message: str
    copied_from: frozenset[int] = frozenset()


def _verdict(data: Any) -> tuple[float, str | None] | None:
    """``(score, reason)`` of a parsed JSON value that is a verdict object, else ``None``."""
    if not isinstance(data, dict) or "score" not in data:
        return None
    value = data["score"]
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    reason = data.get("reason")
    return float(value), reason if isinstance(reason, str) else None


def _json_verdicts(text: str) -> Iterator[tuple[tuple[float, str | None], Any]]:
    """Every flat JSON object in ``text`` that is a verdict, with the object itself (to compare copies)."""
    for match in _JSON_OBJECT.finditer(text):
        try:
            data = json.loads(match.group(0))
        except ValueError:
            continue
        found = _verdict(data)
        if found is not None:
            yield found, data


def _squeeze(text: str) -> str:
    """A textual verdict without what a copy may change: case, spaces, quotes."""
    return re.sub(r"[\s\"']", "", text).lower()


def _textual(text: str) -> Iterator[tuple[float, str]]:
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            yield float(match.group(1)), _squeeze(match.group(0))


def read_score(reply: str, judged: Sequence[str] = ()) -> tuple[float, str | None] | Unreadable:
    """``(raw score, reason)`` from a judge's reply, or why there is none. ``judged`` holds the texts the judge
    was shown that the policy wrote: verdicts copied from them are not the judge's."""
    try:
        whole = _verdict(json.loads(reply.strip()))
    except ValueError:
        whole = None
    if whole is not None:
        return whole if MIN_SCORE <= whole[0] <= MAX_SCORE else Unreadable(_OUT_OF_RANGE)
    planted_json = [[data for _, data in _json_verdicts(text)] for text in judged]
    planted_text = [{form for _, form in _textual(text)} for text in judged]
    candidates: list[tuple[float, str | None]] = []
    copied_json: set[int] = set()
    copied_text = False
    for found, data in _json_verdicts(reply):
        sources = {i for i, planted in enumerate(planted_json) if data in planted}
        copied_json |= sources
        if not sources:
            candidates.append(found)
    if not candidates:
        for value, form in _textual(reply):
            if any(form in planted for planted in planted_text):
                copied_text = True
            else:
                candidates.append((value, None))
    if not candidates:
        if copied_json or copied_text:
            return Unreadable(_ONLY_COPIES, frozenset(copied_json))
        return Unreadable(_NO_SCORE)
    values = {value for value, _ in candidates}
    if len(values) > 1:
        return Unreadable(f"the judge's reply is ambiguous: it gives several scores ({', '.join(map(_fmt, values))})")
    score = candidates[0]
    if not MIN_SCORE <= score[0] <= MAX_SCORE:
        return Unreadable(_OUT_OF_RANGE)
    reason = next((r for _, r in candidates if r is not None), None)
    return score[0], reason


def parse_score(text: str) -> tuple[float, str | None] | None:
    """``(raw score, reason)`` from a reply, or ``None`` when no score in [1, 10] can be read."""
    found = read_score(text)
    return None if isinstance(found, Unreadable) else found


def normalise(raw: float) -> float:
    """1 -> 0.0, 10 -> 1.0, linearly."""
    return (raw - MIN_SCORE) / (MAX_SCORE - MIN_SCORE)


def _fmt(value: float) -> str:
    return f"{value:g}"


_NO_SCORE = "the judge's reply holds no score from 1 to 10"
_ONLY_COPIES = "the judge's reply holds no score of its own, only one copied from the judged text"
_OUT_OF_RANGE = "the judge's reply holds no score from 1 to 10 (its score is out of range)"
