"""Give every segment a language: by its script where that decides, else by the detector, else by its
neighbours.

A detector is right on a sentence and a coin toss on two words. So a segment is *confident* only when
it has at least ``min_words`` different counted words ("Wait wait wait." has one: repeating a word gives
the detector no more evidence) and the detector gives its best in-script language at least
``min_confidence``. An unconfident segment takes the language of the nearest confident segment of the
same script family (the previous one on a tie); with none, the target when the target is written in that
script (benefit of the doubt), else the detector's guess, else the script's most common language.

A long segment (``min_words`` or more) that is unconfident only because two close languages split the vote
(Portuguese 0.45, Spanish 0.44) neither inherits nor gets as benefit of the doubt a language its detector
gives less than ``PLAUSIBLE``: it keeps its own best guess. Short fragments always inherit.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Final, Literal

from verifier_language.detectors import Detector
from verifier_language.languages import SUPPORTED_TARGETS, writes_in
from verifier_language.scripts import OTHER_SCRIPT, SHARED_DEFAULT, UNIQUE_LANGUAGE, UNKNOWN, family
from verifier_language.words import Segment

How = Literal["script", "detector", "neighbour", "target", "guess", "default"]

PLAUSIBLE: Final = 0.05
"""A long unconfident segment inherits a neighbour's language only if its detector gives it this much."""


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
    plausible: frozenset[str] | None = None  # in-script languages the detector gives PLAUSIBLE; None: not asked


def _first_pass(segment: Segment, detector: Detector, min_words: float, min_confidence: float) -> _First:
    script = segment.script
    if script == "han":
        # Chinese, unless a short Han-only fragment sits among Japanese (a heading, a noun phrase).
        return _First("zh", segment.weight >= min_words, "zh")
    if script in UNIQUE_LANGUAGE:
        return _First(UNIQUE_LANGUAGE[script], True, UNIQUE_LANGUAGE[script])
    if script == OTHER_SCRIPT:
        return _First(UNKNOWN, True, UNKNOWN)
    # lid.176 knows 176 labels; on a short English clause it often answers Latin, Esperanto or Waray.
    # Only a language a request could target is a verdict: the rest are passed over.
    ranked = [(language, probability) for language, probability in detector.candidates(segment.text)
              if language in SUPPORTED_TARGETS and writes_in(language, script)]
    if not ranked:
        return _First(None, False, None, frozenset())
    language, probability = ranked[0]
    confident = _evidence(segment) >= min_words and probability >= min_confidence
    plausible = frozenset(code for code, share in ranked if share >= PLAUSIBLE)
    return _First(language if confident else None, confident, language, plausible)


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
        inherited = None if neighbour is None else first[neighbour].language
        has_say = _evidence(segment) >= min_words and verdict.guess is not None and verdict.plausible is not None
        if inherited is not None and (not has_say or inherited in (verdict.plausible or ())):
            labelled.append(Labelled(segment, inherited, "neighbour"))
        elif (target is not None and writes_in(target, segment.script, unknown=False)
              and (not has_say or target in (verdict.plausible or ()))):
            labelled.append(Labelled(segment, target, "target"))
        elif verdict.guess is not None:
            labelled.append(Labelled(segment, verdict.guess, "guess"))
        else:
            labelled.append(Labelled(segment, SHARED_DEFAULT.get(segment.script, UNKNOWN), "default"))
    return labelled


def _evidence(segment: Segment) -> float:
    """Counted words of a detector-labelled segment, each different word once."""
    return min(segment.weight, len({word.casefold() for word in segment.words}))


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
