"""The ``readability`` filter: what R1's rejection sampling threw away, as one pass/fail score.

Checks, each reported in ``details.checks`` and each switched off by a ``null`` threshold:
- ``mixed_language``: the share of counted words in the target language is below ``min_consistency``;
- ``long_paragraph``: a line of the reasoning counts more than ``max_paragraph_words`` words (a line, not a
  blank-line paragraph: a reader sees every line break);
- ``code_blocks``: the reasoning holds more than ``max_code_blocks`` fenced code blocks;
- ``repetition``: a sentence of at least ``repeat_min_chars`` characters occurs more than ``max_repeats``
  times, or the reasoning ends in a block repeated verbatim (3 times or more) longer than
  ``max_loop_chars`` characters, as a generation stuck in a loop until the length limit does.

Every check reads the reasoning as ``text.mask`` does: prose hidden in wrappers and disguises counts towards
the language share, and invisible characters (``disguise.clean``) neither split a paragraph nor make two
copies of a sentence differ (sentences are compared with case and all whitespace ignored).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

from verifier import RewardItem, Score
from verifier_language.consistency import Measurement, Reader
from verifier_language.disguise import clean
from verifier_language.params import ReadabilityParams

_SENTENCE_BREAK: Final = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\n+")
_SPACES: Final = re.compile(r"[^\S\n]+")
MAX_LOOP_PERIOD: Final = 500
"""Longest repeated block the tail check looks for; longer repeats are whole sentences, caught by counting."""


def most_repeated_sentence(text: str, min_chars: int) -> tuple[str, int]:
    """The most frequent sentence (case and whitespace ignored, invisible characters removed) of at least
    ``min_chars`` characters, as first written (spacing collapsed), and how often it occurs."""
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for raw in _SENTENCE_BREAK.split(clean(text)):
        sentence = " ".join(raw.lower().split())
        if len(sentence) >= min_chars:
            key = "".join(sentence.casefold().split())
            counts[key] += 1
            first.setdefault(key, sentence)
    if not counts:
        return "", 0
    key, count = min(counts.items(), key=lambda kv: (-kv[1], first[kv[0]]))
    return first[key], count


def tail_loop(text: str, min_chars: int) -> tuple[int, int]:
    """``(period, length)`` of the longest verbatim periodic end of ``text`` with at least three periods
    and more than ``min_chars`` characters, for the shortest such period; ``(0, 0)`` when there is none.
    Invisible characters are removed first and whitespace runs read as one space."""
    text = _SPACES.sub(" ", clean(text)).rstrip()
    for period in range(1, MAX_LOOP_PERIOD + 1):
        need = max(3 * period, min_chars + 1)
        if need > len(text):
            break
        if not _periodic_tail(text, period, need):
            continue
        low, high = need, len(text)  # the longest p-periodic tail, by bisection (periodicity is monotone)
        while low < high:
            middle = (low + high + 1) // 2
            if _periodic_tail(text, period, middle):
                low = middle
            else:
                high = middle - 1
        return period, low
    return 0, 0


def _periodic_tail(text: str, period: int, length: int) -> bool:
    tail = text[len(text) - length :]
    return tail[period:] == tail[:-period]


def _paragraph_words(measurement: Measurement) -> float:
    lines: dict[int, float] = {}
    for entry in measurement.labelled:
        lines[entry.segment.line] = lines.get(entry.segment.line, 0.0) + entry.segment.weight
    return max(lines.values(), default=0.0)


def run_checks(measurement: Measurement, params: ReadabilityParams) -> dict[str, dict[str, Any]]:
    """Every enabled check's verdict and the figures behind it."""
    checks: dict[str, dict[str, Any]] = {}
    if params.min_consistency is not None:
        consistency = measurement.consistency
        checks["mixed_language"] = {
            "passed": consistency is None or consistency >= params.min_consistency,
            "consistency": None if consistency is None else round(consistency, 4),
            "threshold": params.min_consistency,
        }
    if params.max_paragraph_words is not None:
        longest = _paragraph_words(measurement)
        checks["long_paragraph"] = {
            "passed": longest <= params.max_paragraph_words,
            "max_words": round(longest, 2),
            "threshold": params.max_paragraph_words,
        }
    if params.max_code_blocks is not None:
        blocks = measurement.masked.code_blocks
        checks["code_blocks"] = {"passed": blocks <= params.max_code_blocks, "count": blocks,
                                 "threshold": params.max_code_blocks}
    if params.max_repeats is not None or params.max_loop_chars is not None:
        report: dict[str, Any] = {"passed": True}
        if params.max_repeats is not None:
            sentence, count = most_repeated_sentence(measurement.reasoning, params.repeat_min_chars)
            report.update(max_repeats=count, threshold=params.max_repeats)
            if count > params.max_repeats:
                report.update(passed=False, sentence=sentence[:120])
        if params.max_loop_chars is not None:
            period, length = tail_loop(measurement.reasoning, params.max_loop_chars)
            report.update(loop_chars=length, loop_period=period, loop_threshold=params.max_loop_chars)
            if length:
                report["passed"] = False
        checks["repetition"] = report
    return checks


class ReadabilityReward(Reader):
    """1.0 when the reasoning passes every enabled check, else 0.0; ``details`` says which failed."""

    def __call__(self, items: Sequence[RewardItem[ReadabilityParams]]) -> list[Score]:
        scores = []
        for measurement, item in zip(self.measure_all(items), items, strict=True):
            checks = run_checks(measurement, item.params)
            failed = [name for name, check in checks.items() if not check["passed"]]
            details = {"passed": not failed, "failed": failed, "checks": checks,
                       "language": measurement.details(self.detector)}
            scores.append(Score(0.0 if failed else 1.0, details))
        return scores
