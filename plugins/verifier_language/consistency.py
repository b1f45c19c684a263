"""The ``language`` reward: the share of the chain of thought's words written in the target language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from verifier import ReasoningSplit, RewardItem, Score, split_reasoning
from verifier_language.detectors import Detector, DetectorName, get_detector
from verifier_language.labelling import Labelled, label
from verifier_language.params import LanguageParams
from verifier_language.scripts import UNKNOWN
from verifier_language.text import Masked, mask
from verifier_language.words import segments

TargetSource = Literal["params", "prompt", "default"]
ReasoningSource = Literal["think_block", "prefilled_think", "unclosed_think", "no_tags", "completion"]
_PromptCache = dict[tuple[str, float, float], str | None]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One chain of thought, read: its words by language and the target they are measured against."""

    target: str
    target_source: TargetSource
    reasoning: str
    reasoning_source: ReasoningSource
    masked: Masked
    labelled: list[Labelled]

    @property
    def words(self) -> float:
        return sum((entry.segment.weight for entry in self.labelled), 0.0)

    @property
    def by_language(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for entry in self.labelled:
            totals[entry.language] = totals.get(entry.language, 0.0) + entry.segment.weight
        return totals

    @property
    def consistency(self) -> float | None:
        """Target words / counted words; ``None`` when nothing is counted."""
        words = self.words
        return self.by_language.get(self.target, 0.0) / words if words else None

    def details(self, detector: str) -> dict[str, Any]:
        languages = self.by_language
        return {
            "target": self.target,
            "target_source": self.target_source,
            "reasoning": self.reasoning_source,
            "words": round(self.words, 2),
            "target_words": round(languages.get(self.target, 0.0), 2),
            "languages": {k: round(v, 2) for k, v in sorted(languages.items(), key=_most_first)},
            "segments": len(self.labelled),
            "detector": detector,
        }


def _most_first(entry: tuple[str, float]) -> tuple[float, str]:
    return -entry[1], entry[0]


def prompt_language(prompt: str, detector: Detector, params: LanguageParams) -> str | None:
    """The language most of the prompt's words are in; ``None`` when it has no word in a known language."""
    found = label(segments(mask(prompt).text), detector, target=None,
                  min_words=params.min_segment_words, min_confidence=params.min_confidence)
    # A detector's unconfident guess is weak evidence: it decides only when nothing else does.
    for admitted in (("script", "detector", "neighbour", "target"), ("guess", "default")):
        totals: dict[str, float] = {}
        for entry in found:
            if entry.how in admitted and entry.language != UNKNOWN:
                totals[entry.language] = totals.get(entry.language, 0.0) + entry.segment.weight
        if totals:
            return min(totals, key=lambda code: (-totals[code], code))
    return None


class Reader:
    """Turns items into measurements with the process's detector; shared by both rewards."""

    def __init__(self, detector: DetectorName = "fasttext", seed: int = 0) -> None:
        self.detector = detector
        self.seed = seed

    def measure_all(self, items: Sequence[RewardItem[LanguageParams]]) -> list[Measurement]:
        detector = get_detector(self.detector, self.seed)
        prompt_cache: _PromptCache = {}  # a GRPO group shares one prompt
        return [self._measure(item, item.params, detector, prompt_cache) for item in items]

    def _measure(self, item: RewardItem, params: LanguageParams, detector: Detector,
                 prompt_cache: _PromptCache) -> Measurement:
        target, source = self._target(item, params, detector, prompt_cache)
        completion = item.completion_text
        reasoning_source: ReasoningSource
        if params.scope == "completion":
            reasoning, reasoning_source = completion, "completion"
        else:
            # Unfinished reasoning (no answer) is still reasoning: its language is judged all the same.
            found: ReasoningSplit = split_reasoning(completion, params)
            reasoning, reasoning_source = found.reasoning, found.source
        masked = mask(reasoning)
        labelled = label(segments(masked.text), detector, target=target,
                         min_words=params.min_segment_words, min_confidence=params.min_confidence)
        return Measurement(target, source, reasoning, reasoning_source, masked, labelled)

    @staticmethod
    def _target(item: RewardItem, params: LanguageParams, detector: Detector,
                cache: _PromptCache) -> tuple[str, TargetSource]:
        if params.target is not None:
            return params.target, "params"
        prompt = item.prompt_text
        key = (prompt, params.min_segment_words, params.min_confidence)
        if key not in cache:
            cache[key] = prompt_language(prompt, detector, params) if prompt.strip() else None
        detected = cache[key]
        return (detected, "prompt") if detected is not None else (params.default_target, "default")


class LanguageReward(Reader):
    """Score in [0, 1]: counted words of the reasoning in the target language / all counted words."""

    def __call__(self, items: Sequence[RewardItem[LanguageParams]]) -> list[Score]:
        return [self._score(m, item.params) for m, item in zip(self.measure_all(items), items, strict=True)]

    def _score(self, measurement: Measurement, params: LanguageParams) -> Score:
        details = measurement.details(self.detector)
        value = measurement.consistency
        if value is not None:
            return Score(value, details)
        details["reason"] = "empty_reasoning" if not measurement.reasoning.strip() else "no_countable_words"
        if params.empty_score is None:
            return Score(None, details, "no words to judge: the reasoning is empty or only code and math")
        return Score(params.empty_score, details)
