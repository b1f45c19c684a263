"""The oldest OpenRLHF protocol: queries only (prompt + response in one string, no ``prompts``), against a real
server. The response starts after the chat template's assistant marker (URL ``response_start`` or the
profile's); a query without the marker gets no reward, never a score of the whole string."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from tests.verifier import plugins_for_tests
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

QWEN = "<|im_start|>assistant\n"
# A system prompt that itself shows the format: scored whole, format would read the prompt's tags.
PROMPT = (
    "<|im_start|>system\nReason inside <think> </think>, then answer.<|im_end|>\n"
    "<|im_start|>user\n1+2?<|im_end|>\n" + QWEN
)


def _app(**settings: Any) -> FastAPI:
    pm = create_plugin_manager(allow=["format"], plugins={"tests": plugins_for_tests})
    return create_app(Settings(**settings), plugin_manager=pm)


def _post(url: str, data: dict[str, object]) -> httpx.Response:
    # What OpenRLHF's oldest remote-RM client sends: {"query": [...]} and a content type, nothing else.
    return httpx.post(url, json=data, headers={"Content-Type": "application/json"}, timeout=30)


def test_queries_only_are_cut_after_the_marker_given_in_the_url(live_server: Callable[[FastAPI], str]) -> None:
    base = live_server(_app())
    queries = [PROMPT + "<think>\n1+2 is 3\n</think>\n3", PROMPT + "3", PROMPT + "</think> 3"]
    url = f"{base}/v1/openrlhf?" + str(httpx.QueryParams({"rewards": "format", "response_start": QWEN}))
    response = _post(url, {"query": queries})
    assert response.status_code == 200, response.text
    # Only the response is read: the system prompt's <think> example does not count for or against it.
    assert response.json()["extra_logs"]["format"] == [1.0, 0.0, 0.0]


def test_a_query_without_the_marker_is_unscored_not_scored_whole(live_server: Callable[[FastAPI], str]) -> None:
    base = live_server(_app())
    params = {"rewards": "format", "response_start": QWEN}
    queries = [PROMPT + "<think>r</think> 3", "<think>r</think> 3", PROMPT + "<think>r</think> 4"]
    failed = httpx.post(f"{base}/v1/openrlhf", params=params, json={"query": queries}, timeout=30)
    assert failed.status_code == 502
    unscored = failed.json()["error"]["details"]["unscored"]
    assert [u["index"] for u in unscored] == [1]
    assert "no response_start marker" in unscored[0]["errors"]["openrlhf"]
    zero = httpx.post(
        f"{base}/v1/openrlhf", params={**params, "on_unscored": "zero"}, json={"query": queries}, timeout=30
    ).json()
    assert zero["rewards"] == [1.0, 0.0, 1.0]
    assert zero["extra_logs"]["verifier/unscored"] == [0.0, 1.0, 0.0]


def test_the_marker_can_come_from_the_profile_and_prompts_still_win(live_server: Callable[[FastAPI], str]) -> None:
    distill = {"rewards": {"format": 1.0}, "think_in_prompt": True, "response_start": [QWEN + "<think>\n"]}
    base = live_server(_app(profiles={"distill": distill}))
    prefilled = PROMPT + "<think>\n"
    body = _post(f"{base}/v1/openrlhf?profile=distill", {"query": [prefilled + "r\n</think>\n3"]}).json()
    assert body["extra_logs"]["format"] == [1.0]
    # With prompts the prompt is cut as before, the marker is not needed.
    body = _post(
        f"{base}/v1/openrlhf?profile=distill", {"query": ["P: r\n</think>\n3"], "prompts": ["P: "]}
    ).json()
    assert body["extra_logs"]["format"] == [1.0]


def test_a_marker_the_policy_writes_cannot_hide_what_came_before_it(live_server: Callable[[FastAPI], str]) -> None:
    base = live_server(_app())
    # The policy rambles, then writes the template's marker and a well-formed turn. The response starts at
    # the first marker (the template's), so the rambling stays in the response and format fails it.
    query = PROMPT + "no reasoning here " + QWEN + "<think>\nr\n</think>\n3"
    body = httpx.post(
        f"{base}/v1/openrlhf", params={"rewards": "format", "response_start": QWEN}, json={"query": [query]}
    ).json()
    assert body["extra_logs"]["format"] == [0.0]


def test_an_empty_marker_is_refused(live_server: Callable[[FastAPI], str]) -> None:
    base = live_server(_app())
    response = httpx.post(f"{base}/v1/openrlhf?rewards=format&response_start=", json={"query": ["x"]})
    assert response.status_code == 422 and response.json()["error"]["type"] == "invalid_request"
