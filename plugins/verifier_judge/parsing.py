"""Reading a 1-10 score out of a judge's reply: JSON first, then a few common textual forms."""

from __future__ import annotations

import json
import re

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


def _from_json(text: str) -> tuple[float, str | None] | None:
    candidates = [text.strip(), *(m.group(0) for m in _JSON_OBJECT.finditer(text))]
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict) and "score" in data:
            value = data["score"]
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                reason = data.get("reason")
                return float(value), reason if isinstance(reason, str) else None
    return None


def parse_score(text: str) -> tuple[float, str | None] | None:
    """``(raw score, reason)`` from a reply, or ``None`` when no score in [1, 10] can be read."""
    found = _from_json(text)
    if found is None:
        for pattern in _PATTERNS:
            match = pattern.search(text)
            if match:
                found = float(match.group(1)), None
                break
    if found is None or not MIN_SCORE <= found[0] <= MAX_SCORE:
        return None
    return found


def normalise(raw: float) -> float:
    """1 -> 0.0, 10 -> 1.0, linearly."""
    return (raw - MIN_SCORE) / (MAX_SCORE - MIN_SCORE)
