"""Give every segment a language: by its script where that decides, else by the detector, else by its
neighbours.

A detector is right on a sentence and a coin toss on two words. So a segment is *confident* only when
it has at least ``min_words`` counted words and the detector gives its best in-script language at least
``min_confidence``. An unconfident segment takes the language of the nearest confident segment of the
same script family (the previous one on a tie); with none, the target when the target is written in that
script (benefit of the doubt), else the detector's guess, else the script's most common language.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Literal

from verifier_language.detectors import Detector
from verifier_language.languages import writes_in
from verifier_language.scripts import OTHER_SCRIPT, SHARED_DEFAULT, UNIQUE_LANGUAGE, UNKNOWN, family
from verifier_language.words import Segment

How = Literal["script", "detector", "neighbour", "target", "guess", "default"]


@dataclass(frozen=True, slots=True)
class Labelled:
    segment: Segment
    language: str
    how: How


@dataclass(frozen=True, slots=True)
class _First:
    language: str | None  # None: no verdict yet
    confident: bool
    guess: str | None


def _first_pass(segment: Segment, detector: Detector, min_words: float, min_confidence: float) -> _First:
    script = segment.script
    if script == "han":
        # Chinese, unless a short Han-only fragment sits among Japanese (a heading, a noun phrase).
        return _First("zh", segment.weight >= min_words, "zh")
    if script in UNIQUE_LANGUAGE:
        return _First(UNIQUE_LANGUAGE[script], True, UNIQUE_LANGUAGE[script])
    if script == OTHER_SCRIPT:
        return _First(UNKNOWN, True, UNKNOWN)
    for language, probability in detector.candidates(segment.text):
        if writes_in(language, script):
            confident = segment.weight >= min_words and probability >= min_confidence
            return _First(language if confident else None, confident, language)
    return _First(None, False, None)


def label(
    segments: list[Segment],
    detector: Detector,
    *,
    target: str | None,
    min_words: float,
    min_confidence: float,
) -> list[Labelled]:
    """Label ``segments`` in order (see the module docstring). ``target=None``: no benefit of the doubt."""
    first = [_first_pass(s, detector, min_words, min_confidence) for s in segments]
    confident: dict[str, list[int]] = {}
    for i, (segment, verdict) in enumerate(zip(segments, first, strict=True)):
        if verdict.confident:
            confident.setdefault(family(segment.script), []).append(i)
    labelled: list[Labelled] = []
    for i, (segment, verdict) in enumerate(zip(segments, first, strict=True)):
        if verdict.confident and verdict.language is not None:
            shared = segment.script == "latin" or segment.script in SHARED_DEFAULT
            how: How = "detector" if shared else "script"
            labelled.append(Labelled(segment, verdict.language, how))
            continue
        neighbour = _nearest(confident.get(family(segment.script), []), i)
        if neighbour is not None:
            language = first[neighbour].language
            assert language is not None  # confident verdicts always name a language
            labelled.append(Labelled(segment, language, "neighbour"))
        elif target is not None and writes_in(target, segment.script, unknown=False):
            labelled.append(Labelled(segment, target, "target"))
        elif verdict.guess is not None:
            labelled.append(Labelled(segment, verdict.guess, "guess"))
        else:
            labelled.append(Labelled(segment, SHARED_DEFAULT.get(segment.script, UNKNOWN), "default"))
    return labelled


def _nearest(indices: list[int], index: int) -> int | None:
    """The index in sorted ``indices`` closest to ``index``, the earlier one on a tie."""
    if not indices:
        return None
    position = bisect.bisect_left(indices, index)
    before = indices[position - 1] if position > 0 else None
    after = indices[position] if position < len(indices) else None
    if before is None:
        return after
    if after is None or index - before <= after - index:
        return before
    return after
