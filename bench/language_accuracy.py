"""Accuracy of the language plugin: per-language accuracy of the segment detector, and the mean absolute
error of the ``language`` score on composed mixed-language chains of thought with known word fractions.

Baselines measured in the same run: each detector called once on the whole text (no script fast path, no
segments). Run from the repository root: ``.venv/bin/python -m bench.language_accuracy [--sweep]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from verifier_language.consistency import LanguageReward, prompt_language
from verifier_language.detectors import DetectorName, get_detector
from verifier_language.params import LanguageParams
from verifier_language.text import mask
from verifier_language.words import count_words

from verifier import RewardItem

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "eval" / "lang_sentences.jsonl"
DATA = ROOT / "tests" / "plugins" / "language" / "data"
DETECTORS: tuple[DetectorName, ...] = ("fasttext", "langdetect")
MIX_LANGUAGES = ("en", "zh", "fr", "es", "de", "ru", "ja", "ko", "pt", "it")
INTERJECTIONS = {  # the short asides of R1-style reasoning, in each language
    "en": ["Wait.", "Hmm.", "OK, so", "Right.", "Yes."], "zh": ["等等。", "嗯。", "好的，", "对。"],
    "fr": ["Attends.", "Bon.", "Hmm, donc", "Oui."], "es": ["Espera.", "Vale.", "Bueno,", "Sí."],
    "de": ["Moment.", "Also gut.", "Hmm, also", "Ja."], "ru": ["Хм.", "Так.", "Подождите.", "Да."],
    "ja": ["待って。", "うーん。", "よし、", "はい。"], "ko": ["잠깐.", "음.", "좋아,", "네."],
    "pt": ["Espere.", "Bom,", "Hmm, então", "Sim."], "it": ["Aspetta.", "Bene,", "Hmm, quindi", "Sì."],
}


def load(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _kind(row: dict[str, object]) -> str:
    return "corpus sentence" if row["granularity"] == "sentence" else "corpus short"


def labelled_rows() -> list[tuple[str, str, str]]:
    """``(text, language, kind)``: the public corpus (its ``mixed`` rows left out) and our sentences."""
    rows = [(str(r["text"]), str(r["lang"]), _kind(r)) for r in load(CORPUS) if r["lang"] != "mixed"]
    ours = load(DATA / "reasoning_sentences.jsonl")
    rows += [(str(r["text"]), str(r["lang"]), "reasoning sentence") for r in ours]
    short = load(DATA / "short_sentences.jsonl")
    rows += [(str(r["text"]), str(r["lang"]), "reasoning short") for r in short]
    return rows


def whole_text(detector_name: DetectorName) -> Callable[[str], str | None]:
    detector = get_detector(detector_name)

    def guess(text: str) -> str | None:
        ranked = detector.candidates(text)
        return ranked[0][0] if ranked else None

    return guess


def segmented(detector_name: DetectorName, params: LanguageParams) -> Callable[[str], str | None]:
    detector = get_detector(detector_name)
    return lambda text: prompt_language(text, detector, params)


def accuracy_table(rows: list[tuple[str, str, str]], detectors: list[DetectorName]) -> None:
    methods = {f"{d} whole text": whole_text(d) for d in detectors}
    methods |= {f"{d} segments": segmented(d, LanguageParams()) for d in detectors}
    hits: dict[tuple[str, str, str], int] = defaultdict(int)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for text, language, kind in rows:
        totals[kind, language] += 1
        for name, method in methods.items():
            hits[name, kind, language] += method(text) == language
    print("\n## Per-language accuracy (rows; accuracy per method)\n")
    names = list(methods)
    print("| kind | lang | rows | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for kind, language in sorted(totals):
        n = totals[kind, language]
        cells = " | ".join(f"{hits[name, kind, language] / n:.3f}" for name in names)
        print(f"| {kind} | {language} | {n} | {cells} |")
    for kind in sorted({k for k, _ in totals}):
        n = sum(v for (k, _), v in totals.items() if k == kind)
        cells = " | ".join(
            f"{sum(v for (m, k, _), v in hits.items() if m == name and k == kind) / n:.3f}" for name in names
        )
        print(f"| **{kind}, all** | | {n} | {cells} |")


NEUTRAL = ["$$x^2 + 2x + 1 = (x+1)^2$$", "So $n = 42$.", "```python\nprint(sum(range(10)))\n```", "3 + 4 = 7",
           "f(x) = 2x", "x_1 = 5, x_2 = 7"]
"""Lines that count no word: math, code, numbers, identifiers."""
Case = tuple[str, str, float, str]


def compose(
    rng: random.Random, pools: dict[str, list[str]], shorts: dict[str, list[str]], asides: dict[str, list[str]]
) -> Case:
    """A chain of thought with a known share of target-language words: ``(text, target, truth, kind)``.

    Two sentences in five are short R1-style remarks ("Let me check again."), the rest corpus sentences.
    """
    target = rng.choice(MIX_LANGUAGES)
    other = rng.choice([code for code in MIX_LANGUAGES if code != target])
    kind = rng.choice(["pure", "sentences", "sentences", "clauses", "fragments"])
    foreign_share = 0.0 if kind == "pure" else rng.uniform(0.1, 0.6)
    lines: list[str] = []
    target_words = total_words = 0.0
    prose_last = False
    for _ in range(rng.randint(6, 16)):
        language = other if rng.random() < foreign_share else target
        sentence = rng.choice(asides[language] if rng.random() < 0.4 else pools[language])
        if kind == "fragments" and language == other:
            sentence = rng.choice(shorts[other]) if shorts[other] else sentence
        if rng.random() < 0.3:
            sentence = rng.choice(INTERJECTIONS[language]) + " " + sentence
        if kind == "clauses" and prose_last and rng.random() < 0.5:
            lines[-1] = lines[-1] + " " + sentence  # same line: a switch inside a paragraph
        else:
            lines.append(sentence)
        prose_last = True
        words = count_words(mask(sentence).text)
        total_words += words
        target_words += words if language == target else 0.0
        if rng.random() < 0.3:
            lines.append(rng.choice(NEUTRAL))
            prose_last = False  # code and math: never counted
    text = "<think>" + "\n".join(lines) + "</think>\nThe answer is 42."
    return text, target, target_words / total_words if total_words else 1.0, kind


def mixed_mae(n: int, seed: int, settings: list[tuple[float, float]], detectors: list[DetectorName]) -> None:
    rng = random.Random(seed)
    pools: dict[str, list[str]] = defaultdict(list)
    shorts: dict[str, list[str]] = defaultdict(list)
    asides: dict[str, list[str]] = defaultdict(list)
    for text, language, kind in labelled_rows():
        {"corpus short": shorts, "reasoning short": asides}.get(kind, pools)[language].append(text)
    cases = [compose(rng, pools, shorts, asides) for _ in range(n)]
    print(f"\n## Mean absolute error of the score on {n} composed chains of thought (seed {seed})\n")
    print("| detector | min_segment_words | min_confidence | MAE all | pure | sentences | clauses "
          "| fragments | pure mean score |")
    print("|---|---|---|---|---|---|---|---|---|")
    for detector in detectors:
        reward = LanguageReward(detector)
        for min_words, min_confidence in settings:
            items = [RewardItem(index=i, completion=text,
                                params=LanguageParams(target=target, min_segment_words=min_words,
                                                      min_confidence=min_confidence))
                     for i, (text, target, _, _) in enumerate(cases)]
            scores = [s.value for s in reward(items)]
            errors: dict[str, list[float]] = defaultdict(list)
            for (_, _, truth, kind), score in zip(cases, scores, strict=True):
                assert score is not None
                errors[kind].append(abs(score - truth))
                errors["all"].append(abs(score - truth))
            pure_mean = 1 - statistics.fmean(errors["pure"])
            cells = " | ".join(f"{statistics.fmean(errors[k]):.4f}" for k in
                               ("all", "pure", "sentences", "clauses", "fragments"))
            print(f"| {detector} | {min_words:g} | {min_confidence:g} | {cells} | {pure_mean:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--sweep", action="store_true", help="try other min_segment_words/min_confidence")
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS)
    args = parser.parse_args()
    accuracy_table(labelled_rows(), args.detectors)
    defaults = LanguageParams()
    settings = [(defaults.min_segment_words, defaults.min_confidence)]
    if args.sweep:
        settings += [(0.0, 0.0), (2.0, 0.3), (3.0, 0.3), (3.0, 0.5), (2.0, 0.7), (4.0, 0.5)]
    mixed_mae(args.cases, args.seed, settings, args.detectors)


if __name__ == "__main__":
    main()
