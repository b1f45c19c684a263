"""Scoring through the host's own path (registry, params validation, batch scorer), as the service does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import verifier_language
from verifier_language.consistency import LanguageReward
from verifier_language.params import LanguageParams

from verifier import RewardItem
from verifier.registry import RewardRegistry, create_plugin_manager
from verifier.schemas import ItemResult, VerifyRequest
from verifier.scoring import BatchScorer
from verifier.wire import score_request, verify_response

DATA = Path(__file__).parent / "data"
REGISTRY = RewardRegistry.from_plugin_manager(
    create_plugin_manager(load_entrypoints=False, plugins={"language": verifier_language})
)


def load(name: str) -> list[dict[str, Any]]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def sentences(language: str) -> list[str]:
    """The reasoning sentences of one language (tests/plugins/language/data/reasoning_sentences.jsonl)."""
    return [row["text"] for row in load("reasoning_sentences.jsonl") if row["lang"] == language]


def spaced_words(text: str) -> int:
    """Words of a clean space-delimited sentence counted independently of the plugin: whitespace tokens of
    two or more characters once punctuation is stripped (a lone letter is a variable)."""
    return sum(1 for token in text.split() if len(token.strip(".,;:!?\"'«»()")) > 1)


def score_batch(reward: str, items: list[dict[str, Any]], params: dict[str, Any] | None = None) -> list[ItemResult]:
    request = VerifyRequest.model_validate({"rewards": [reward], "params": {reward: params or {}}, "items": items})

    async def run() -> list[ItemResult]:
        return verify_response(await BatchScorer(REGISTRY).score(score_request(request))).results

    return anyio.run(run)


def score_one(completion: Any, reward: str = "language", **params: Any) -> ItemResult:
    return score_batch(reward, [{"completion": completion}], params)[0]


def score_with_prompt(completion: str, prompt: Any, **params: Any) -> ItemResult:
    return score_batch("language", [{"completion": completion, "prompt": prompt}], params)[0]


def mixed_batch() -> list[tuple[str, str | None]]:
    """Mixed, short and ambiguous reasoning: where an unseeded detector would disagree with itself."""
    rows = load("reasoning_sentences.jsonl") + load("short_sentences.jsonl")
    batch: list[tuple[str, str | None]] = []
    for i in range(0, len(rows) - 3, 3):
        text = " ".join(row["text"] for row in rows[i : i + 3])
        batch.append((f"<think>{text} Hmm. Ok so.</think>", None if i % 2 else rows[i]["lang"]))
    return batch[::3]  # every language, and a short test with langdetect


def seeded_scores(detector: str) -> list[float | None]:
    """The ``language`` scores of ``mixed_batch`` with ``detector`` seeded (the determinism test runs it in child
    processes too)."""
    reward = LanguageReward(detector, seed=0)  # type: ignore[arg-type]
    items = [
        RewardItem(index=i, completion=text, params=LanguageParams(target=target), prompt=text)
        for i, (text, target) in enumerate(mixed_batch())
    ]
    return [score.value for score in reward(items)]
