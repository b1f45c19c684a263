"""The ``judge`` plugin inside the real service: startup validation of its options, /readyz, /v1/verify."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import verifier_format
import verifier_judge
from fastapi import FastAPI

from tests.plugins.judge.conftest import options_for
from tests.plugins.judge.openai_stub import OpenAIStub
from verifier import PluginError
from verifier.client import VerifierClient
from verifier.http import create_app
from verifier.registry import RewardRegistry, create_plugin_manager
from verifier.settings import Settings

StartStub = Callable[..., tuple[str, OpenAIStub]]


def plugin_manager() -> Any:
    return create_plugin_manager(
        load_entrypoints=False, plugins={"judge": verifier_judge, "format": verifier_format}
    )


def build(options: dict[str, Any]) -> RewardRegistry:
    return RewardRegistry.from_plugin_manager(plugin_manager(), {"judge": options})


def service(options: dict[str, Any]) -> FastAPI:
    settings = Settings(plugin_options={"judge": options}, log_level="warning")
    return create_app(settings, plugin_manager=plugin_manager())


def test_template_with_an_unknown_field_fails_startup() -> None:
    with pytest.raises(PluginError) as info:
        build({"templates": {"mine": {"user": "Is {answer} the same as {gold}?"}}})
    message = str(info.value)
    assert "judge" in message and "'mine'" in message and "{gold}" in message and "{reference}" in message


def test_template_without_the_answer_fails_startup() -> None:
    with pytest.raises(PluginError, match="must contain \\{answer\\}"):
        build({"templates": {"mine": {"user": "Rate {prompt}"}}})


def test_unknown_default_template_fails_startup() -> None:
    with pytest.raises(PluginError, match="default_template 'nope'"):
        build({"default_template": "nope"})


def test_endpoint_url_without_scheme_fails_startup() -> None:
    with pytest.raises(PluginError, match="must start with http"):
        build({"endpoints": [{"url": "judge:8000"}]})


def test_misspelt_option_fails_startup() -> None:
    with pytest.raises(PluginError, match="endpoint"):
        build({"endpoint": "http://127.0.0.1:1"})


def test_unconfigured_judge_does_not_hold_up_the_service_and_answers_null(live_server: Callable[[Any], str]) -> None:
    url = live_server(service({}))
    assert httpx.get(f"{url}/readyz").status_code == 200
    with VerifierClient(url) as client:
        [result] = client.verify([{"completion": "x"}], rewards=["judge"]).results
    assert result.scores["judge"] is None and "no endpoints configured" in result.errors["judge"]


def test_verify_mixes_the_judge_with_rule_based_rewards(
    live_server: Callable[[Any], str], start_stub: StartStub
) -> None:
    judge_url, stub = start_stub()
    url = live_server(service(options_for(judge_url)))
    ready = httpx.get(f"{url}/readyz").json()
    assert ready["rewards"]["judge"]["status"] == "ok"
    items = [
        {"prompt": "2+2?", "completion": "<think>2+2=4</think>4", "reference": "4"},
        {"prompt": "2+2?", "completion": "<think>2+2=4</think>4", "params": {"judge": {"template": "correctness"}}},
    ]
    with VerifierClient(url) as client:
        first, second = client.verify(items, rewards={"judge": 1.0, "format": 0.5}).results
    assert first.scores == {"judge": pytest.approx(7 / 9), "format": 1.0}
    assert first.reward == pytest.approx(7 / 9 + 0.5)
    assert second.scores["judge"] is None and "needs a reference" in second.errors["judge"]
    assert len(stub.requests) == 1


def test_unknown_template_in_a_request_is_a_422(live_server: Callable[[Any], str], start_stub: StartStub) -> None:
    judge_url, _ = start_stub()
    url = live_server(service(options_for(judge_url)))
    body = {"rewards": ["judge"], "params": {"judge": {"template": "poetry"}}, "items": [{"completion": "x"}]}
    response = httpx.post(f"{url}/v1/verify", json=body)
    assert response.status_code == 422 and "unknown judge template 'poetry'" in response.text


def test_readyz_is_503_while_no_judge_endpoint_answers(live_server: Callable[[Any], str], dead_url: str) -> None:
    url = live_server(service(options_for(dead_url, retries=0)))
    response = httpx.get(f"{url}/readyz")
    assert response.status_code == 503 and response.json()["rewards"]["judge"]["status"] == "down"


def test_readyz_is_degraded_when_the_endpoint_serves_another_model(
    live_server: Callable[[Any], str], start_stub: StartStub
) -> None:
    judge_url, _ = start_stub(model="someone-else")
    url = live_server(service(options_for(judge_url)))
    judge = httpx.get(f"{url}/readyz").json()["rewards"]["judge"]
    assert judge["status"] == "degraded" and "does not serve model 'judge-model'" in judge["message"]
