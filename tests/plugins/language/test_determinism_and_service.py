"""Determinism (same batch twice, two processes, both detectors) and the rewards through a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from verifier_language.params import ReadabilityParams
from verifier_language.readability import ReadabilityReward

from tests.plugins.language._scoring import mixed_batch, seeded_scores
from verifier import RewardItem
from verifier.http import create_app
from verifier.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


_CHILD = """
import json, sys
from tests.plugins.language._scoring import seeded_scores
print(json.dumps(seeded_scores(sys.argv[1])))
"""


@pytest.mark.parametrize("detector", ["fasttext", "langdetect"])
def test_same_batch_gives_identical_scores_twice_and_in_two_processes(detector: str) -> None:
    first = seeded_scores(detector)
    assert len(set(first)) > 3  # a batch of varied scores, not all 1.0
    assert seeded_scores(detector) == first
    children = [
        subprocess.run([sys.executable, "-c", _CHILD, detector], cwd=ROOT, capture_output=True, text=True,
                       check=True, timeout=300)
        for _ in range(2)
    ]
    assert [json.loads(child.stdout) for child in children] == [first, first]


def test_readability_is_deterministic() -> None:
    reward = ReadabilityReward("langdetect", seed=0)
    items = [
        RewardItem(index=i, completion=text, params=ReadabilityParams()) for i, (text, _) in enumerate(mixed_batch())
    ]
    first = [(s.value, s.details) for s in reward(items)]
    assert [(s.value, s.details) for s in reward(items)] == first


@pytest.fixture
def language_service(live_server: Callable[[FastAPI], str]) -> str:
    """A real uvicorn server with the language plugin found through its entry point."""
    return live_server(create_app(Settings(plugins_allow=["language"])))


def test_unknown_target_is_a_clear_client_error_naming_the_supported_codes(language_service: str) -> None:
    body = {"rewards": ["language"], "params": {"language": {"target": "xx"}},
            "items": [{"completion": "<think>Bonjour.</think>"}]}
    response = httpx.post(f"{language_service}/v1/verify", json=body, timeout=60)
    assert response.status_code == 422  # the host's status for any reward's params failing validation
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert "params.language.target" in error["message"]
    assert "unsupported target language 'xx'" in error["message"]
    for code in ("en", "zh", "fr", "ja", "ko", "ru"):
        assert f" {code}," in error["message"] or error["message"].endswith(f" {code}")


def test_unknown_target_in_one_item_names_that_item(language_service: str) -> None:
    body = {"rewards": ["language"], "items": [{"completion": "a"},
                                                {"completion": "b", "params": {"language": {"target": "klingon"}}}]}
    response = httpx.post(f"{language_service}/v1/verify", json=body, timeout=60)
    assert response.status_code == 422
    errors = response.json()["error"]["details"]["errors"]
    assert [e["loc"] for e in errors] == [["items", 1, "params", "language", "target"]]
    assert "supported: " in errors[0]["msg"]


def test_both_rewards_score_every_item_through_the_service(language_service: str) -> None:
    items = [
        {"completion": "", "id": "empty"},
        {"completion": "```python\nprint(1)\n```", "id": "code"},
        {"completion": "<think>ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ</think>", "id": "runic"},
        {"completion": "<think>Let me think about this problem step by step.</think>4", "id": "english",
         "prompt": "What is two plus two?"},
        {"completion": "<think>让我一步一步地思考这个问题。</think>4", "id": "chinese", "prompt": "二加二等于几？"},
        {"completion": "<think>Let me think about this problem step by step.</think>4", "id": "mismatch",
         "prompt": "二加二等于几？"},
    ]
    response = httpx.post(f"{language_service}/v1/verify", json={"rewards": ["language", "readability"],
                                                                  "items": items}, timeout=60)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["id"] for r in results] == [item["id"] for item in items]
    assert [r["scores"]["language"] for r in results] == [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    assert [r["scores"]["readability"] for r in results] == [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    assert results[1]["details"]["readability"]["failed"] == ["code_blocks"]
    assert all(r["errors"] == {} for r in results)
    listed = httpx.get(f"{language_service}/v1/rewards", timeout=60).json()
    names = {reward["name"] for reward in listed["rewards"]}
    assert {"language", "readability"} <= names
