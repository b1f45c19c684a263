"""The ``math`` reward through the real service: uvicorn on 127.0.0.1, the entry point, the real client."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from verifier.client import VerifierClient
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings


def _app(**options: Any) -> FastAPI:
    settings = Settings(plugin_options={"math": {"workers": 2, **options}})
    return create_app(settings, plugin_manager=create_plugin_manager(allow=["math", "format"]))


def test_math_reward_is_discovered_with_its_params_and_is_ready(live_server: Callable[[FastAPI], str]) -> None:
    url = live_server(_app())
    rewards = {r["name"]: r for r in httpx.get(f"{url}/v1/rewards").json()["rewards"]}
    assert rewards["math"]["plugin"] == "math"
    assert {"extract", "search_think", "precision", "strict_multipart", "set_relation", "timeout_s"} <= set(
        rewards["math"]["params_schema"]["properties"]
    )
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200, ready.text


def test_a_mixed_batch_gets_one_result_per_item(live_server: Callable[[FastAPI], str]) -> None:
    url = live_server(_app())
    items: list[dict[str, Any]] = [
        {"id": "half", "completion": "<think>1/2</think>The answer is $\\boxed{0.5}$.", "reference": "\\frac12"},
        {"id": "gsm8k", "completion": "#### 72", "reference": 72},
        {"id": "wrong", "completion": "\\boxed{3}", "reference": "\\pm 3"},
        {"id": "tower", "completion": "\\boxed{9^{9^{9^{9}}}}", "reference": "9"},
        {"id": "long", "completion": "\\boxed{" + "+".join(["x"] * 25_000) + "}", "reference": "9"},
        {"id": "digits", "completion": "\\boxed{" + "7" * 10_000 + "}", "reference": "9"},
        {"id": "huge", "completion": "thinking 1 + 1. " * 70_000 + "\\boxed{5}", "reference": "5"},
        {"id": "no_ref", "completion": "\\boxed{5}"},
        {"id": "list_ref", "completion": "\\boxed{5}", "reference": [5]},
        {"id": "bad_ref", "completion": "\\boxed{5}", "reference": "\\frac{"},
        {"id": "chat", "completion": [{"role": "assistant", "content": "**73**"}], "reference": "73"},
    ]
    with VerifierClient(url, timeout=300) as client:
        response = client.verify(items, rewards=["math"])
    results = {r.id: r for r in response.results}
    assert [r.id for r in response.results] == [i["id"] for i in items]
    assert {k: results[k].scores["math"] for k in ("half", "gsm8k", "wrong", "huge", "chat")} == {
        "half": 1.0,
        "gsm8k": 1.0,
        "wrong": 0.0,
        "huge": 1.0,
        "chat": 1.0,
    }
    for key in ("tower", "long", "digits"):
        assert results[key].scores["math"] == 0.0
        assert results[key].details["math"]["reason"] in {"rejected", "timeout"}
    for key in ("no_ref", "list_ref", "bad_ref"):
        assert results[key].scores["math"] is None and results[key].reward is None
        assert results[key].errors["math"]
    assert results["half"].details["math"]["method"] == "boxed"


def test_bad_params_are_a_422_naming_the_field(live_server: Callable[[FastAPI], str]) -> None:
    url = live_server(_app())
    body = {"rewards": ["math"], "params": {"math": {"timeout_s": 0}}, "items": [{"completion": "1", "reference": "1"}]}
    response = httpx.post(f"{url}/v1/verify", json=body)
    assert response.status_code == 422
    assert "timeout_s" in response.text


def test_per_request_params_reach_the_workers(live_server: Callable[[FastAPI], str]) -> None:
    url = live_server(_app())
    body = {
        "rewards": ["math"],
        "params": {"math": {"search_think": True, "strict_multipart": False}},
        "items": [
            {"completion": "<think>the answer is \\boxed{4}</think>", "reference": "4"},
            {"completion": "\\boxed{3}", "reference": "3, 5"},
            {"completion": "\\boxed{3}", "reference": "3, 5", "params": {"math": {"strict_multipart": True}}},
        ],
    }
    response = httpx.post(f"{url}/v1/verify", json=body, timeout=120)
    assert response.status_code == 200, response.text
    assert [r["scores"]["math"] for r in response.json()["results"]] == [1.0, 1.0, 0.0]


GAUGES = (
    "verifier_math_workers",
    "verifier_math_workers_alive",
    "verifier_math_workers_busy",
    "verifier_math_workers_replaced",
    "verifier_math_queue_depth",
)


def _gauges(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {
        name: float(value)
        for line in text.splitlines()
        if line.startswith("verifier_math_")
        for name, value in [line.rsplit(" ", 1)]
    }


def test_pool_gauges_on_metrics_follow_the_pool(live_server: Callable[[FastAPI], str]) -> None:
    # Other pools of this test process (other tests' fixtures) count too: compare with what was there before.
    before = {name: REGISTRY.get_sample_value(name) or 0.0 for name in GAUGES}
    app = _app()
    url = live_server(app)
    added = {name: value - before[name] for name, value in _gauges(url).items()}
    assert added == {
        "verifier_math_workers": 2.0,
        "verifier_math_workers_alive": 2.0,
        "verifier_math_workers_busy": 0.0,
        "verifier_math_workers_replaced": 0.0,
        "verifier_math_queue_depth": 0.0,
    }
    pool = app.state.runtime.registry.get("math").reward.score.pool
    for pid in pool.stats().pids:
        os.kill(pid, signal.SIGKILL)
    # An idle worker's death is found when it is next handed an item, which then goes to another worker:
    # the items lose nothing.
    items = [{"completion": f"\\boxed{{{n}}}", "reference": str(n)} for n in range(8)]
    with VerifierClient(url) as client:
        assert [r.reward for r in client.verify(items, rewards=["math"]).results] == [1.0] * 8
    added = {name: value - before[name] for name, value in _gauges(url).items()}
    assert added["verifier_math_workers_replaced"] >= 1.0
    assert (added["verifier_math_workers"], added["verifier_math_workers_alive"]) == (2.0, 2.0)
