"""The judge plugin's own metrics, read from a live verifier's ``/metrics`` (real uvicorn, stand-in judge on
127.0.0.1 speaking the OpenAI wire protocol).

The metrics live on prometheus_client's default registry, shared by every test in the process, so each test
compares counts before and after its own batches; every stub and dead URL is on a fresh port.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import httpx
import verifier_judge.metrics
from prometheus_client.parser import text_string_to_metric_families

from tests.plugins.judge.conftest import options_for
from tests.plugins.judge.openai_stub import Fail, OpenAIStub, Reply
from tests.plugins.judge.test_judge_service import service

StartStub = Callable[..., tuple[str, OpenAIStub]]


def samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every series of one metric on ``/metrics``, by its sorted labels."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        tuple(sorted(s.labels.items())): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def calls(url: str, reward: str, endpoint: str) -> dict[str, float]:
    """``verifier_judge_calls_total`` of one endpoint, by outcome."""
    found = samples(url, "verifier_judge_calls_total")
    return {
        outcome: found.get((("endpoint", endpoint), ("outcome", outcome), ("reward", reward)), 0.0)
        for outcome in ("ok", "retried", "error", "unparseable")
    }


def judged(url: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = httpx.post(f"{url}/v1/verify", json={"rewards": ["judge"], "items": items}, timeout=60)
    assert response.status_code == 200
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_judge_calls_cache_and_tokens_are_counted(live_server: Callable[[Any], str], start_stub: StartStub) -> None:
    judge_url, stub = start_stub()
    url = live_server(service(options_for(judge_url)))
    cache_before = samples(url, "verifier_judge_cache_lookups_total")
    tokens_before = samples(url, "verifier_judge_tokens_total")
    assert calls(url, "judge", judge_url) == {"ok": 0, "retried": 0, "error": 0, "unparseable": 0}

    stub.then(Fail(503))  # the first attempt fails, the second is answered
    [first] = judged(url, [{"prompt": "2+2?", "completion": "4"}])
    assert first["scores"]["judge"] is not None
    assert calls(url, "judge", judge_url) == {"ok": 1, "retried": 1, "error": 0, "unparseable": 0}

    stub.then(Reply("I would rather not grade this."))
    [vague] = judged(url, [{"prompt": "2+2?", "completion": "five"}])
    assert vague["scores"]["judge"] is None and "no score" in vague["errors"]["judge"]
    assert calls(url, "judge", judge_url) == {"ok": 1, "retried": 1, "error": 0, "unparseable": 1}

    # The first item again (a cache hit) and a new one twice (judged once: one miss, one call).
    again = judged(url, [{"prompt": "2+2?", "completion": "4"}] + [{"prompt": "3+3?", "completion": "6"}] * 2)
    assert [r["details"]["judge"]["cached"] for r in again] == [True, False, False]
    assert calls(url, "judge", judge_url) == {"ok": 2, "retried": 1, "error": 0, "unparseable": 1}
    assert len(stub.requests) == 4

    cache = samples(url, "verifier_judge_cache_lookups_total")
    hits, misses = ((("result", r), ("reward", "judge")) for r in ("hit", "miss"))
    assert cache[hits] - cache_before.get(hits, 0.0) == 1.0
    assert cache[misses] - cache_before.get(misses, 0.0) == 3.0  # first, vague, the new one

    # Tokens: what the stub reported in the usage of every answer it gave, the unparseable one included.
    tokens = samples(url, "verifier_judge_tokens_total")
    prompt_key, completion_key = ((("kind", k), ("reward", "judge")) for k in ("prompt", "completion"))
    answered = stub.requests[1:]  # the first attempt got a 503
    expected_prompt = sum(sum(len(str(m["content"]).split()) for m in body["messages"]) for body in answered)
    replies = ['{"reason": "solid", "score": 8}', "I would rather not grade this.", '{"reason": "solid", "score": 8}']
    assert tokens[prompt_key] - tokens_before.get(prompt_key, 0.0) == expected_prompt
    assert tokens[completion_key] - tokens_before.get(completion_key, 0.0) == sum(len(c.split()) for c in replies)


def test_an_endpoint_that_gives_up_counts_retries_and_an_error(
    live_server: Callable[[Any], str], dead_url: str
) -> None:
    options = options_for(dead_url, retries=2) | {"reward_model": options_for(dead_url, retries=0)}
    url = live_server(service(options))
    body = {"rewards": ["judge", "reward_model"], "items": [{"prompt": "2+2?", "completion": "4"}]}
    [result] = httpx.post(f"{url}/v1/verify", json=body, timeout=60).json()["results"]
    assert result["scores"] == {"judge": None, "reward_model": None}
    assert calls(url, "judge", dead_url) == {"ok": 0, "retried": 2, "error": 1, "unparseable": 0}
    assert calls(url, "reward_model", dead_url) == {"ok": 0, "retried": 0, "error": 1, "unparseable": 0}


def test_loading_the_metrics_module_again_reuses_its_metrics() -> None:
    judge_calls = verifier_judge.metrics.CALLS
    reloaded = importlib.reload(verifier_judge.metrics)  # a second registration would raise "Duplicated timeseries"
    assert reloaded.CALLS is judge_calls
