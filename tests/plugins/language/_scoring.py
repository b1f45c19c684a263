"""Scoring through the host's own path (registry, params validation, batch scorer), as the service does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import verifier_language

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
