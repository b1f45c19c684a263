"""Other trainers' wire shapes against a real server: OpenRLHF's remote reward protocol and verl's reward
function loaded by path, as verl loads it."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import verifier.verl
from tests.verifier import plugins_for_tests
from verifier.errors import VerifierHTTPError
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings


def _app(**settings: object) -> FastAPI:
    pm = create_plugin_manager(allow=["format"], plugins={"tests": plugins_for_tests})
    return create_app(Settings(**settings), plugin_manager=pm)  # type: ignore[arg-type]


def _openrlhf_post(url: str, data: dict[str, object]) -> httpx.Response:
    # What OpenRLHF's request_api_wrapper sends: a JSON body and a content type, no other header.
    return httpx.post(url, json=data, headers={"Content-Type": "application/json"}, timeout=30)


def test_openrlhf_request_gets_rewards_scores_and_extra_logs(live_server: Callable[[FastAPI], str]) -> None:
    base = live_server(_app(openrlhf_rewards={"echo": 2.0}))
    prompts = ["Q: two?\nA: ", "Q: half?\nA: "]
    data = {"query": [prompts[0] + "2", prompts[1] + "0.25"], "prompts": prompts, "labels": ["2", "0.5"]}
    response = _openrlhf_post(f"{base}/v1/openrlhf", data)
    assert response.status_code == 200, response.text
    body = response.json()
    # The prompt is cut from each query: echo reads "2" and "0.25", weighted by 2.
    assert body["rewards"] == [4.0, 0.5]
    assert body["scores"] == [1.0, 0.25]  # reward / total weight, clamped to [0, 1]
    assert body["extra_logs"] == {"echo": [2.0, 0.25], "verifier/unscored": [0.0, 0.0]}


def test_openrlhf_rewards_can_be_chosen_in_the_url(live_server: Callable[[FastAPI], str]) -> None:
    base = live_server(_app())
    body = _openrlhf_post(f"{base}/v1/openrlhf?rewards=echo:1,format:0.5", {"query": ["3"]}).json()
    assert body["rewards"] == [3.0] and body["extra_logs"] == {
        "echo": [3.0],
        "format": [0.0],
        "verifier/unscored": [0.0],
    }
    body = _openrlhf_post(f"{base}/v1/openrlhf?rewards=format", {"query": ["<think>x</think> y"]}).json()
    assert body["rewards"] == [1.0] and body["extra_logs"]["format"] == [1.0]


def test_openrlhf_unscored_query_fails_the_batch_unless_told_to_score_zero(
    live_server: Callable[[FastAPI], str],
) -> None:
    base = live_server(_app(openrlhf_rewards={"echo": 1.0}))
    data = {"query": ["1", "boom", "none"]}
    failed = _openrlhf_post(f"{base}/v1/openrlhf", data)
    assert failed.status_code == 502
    error = failed.json()["error"]
    assert error["type"] == "unscored_items"
    assert [u["index"] for u in error["details"]["unscored"]] == [1, 2]
    assert error["details"]["unscored"][0]["errors"] == {"echo": "boom for this item"}
    zero = _openrlhf_post(f"{base}/v1/openrlhf?on_unscored=zero", data).json()
    assert zero["rewards"] == [1.0, 0.0, 0.0]
    assert zero["extra_logs"]["verifier/unscored"] == [0.0, 1.0, 1.0]


def test_openrlhf_bad_input_gets_the_one_error_shape(live_server: Callable[[FastAPI], str]) -> None:
    base = live_server(_app(openrlhf_rewards={"echo": 1.0}))
    mismatched = _openrlhf_post(f"{base}/v1/openrlhf", {"query": ["1", "2"], "labels": ["1"]})
    assert mismatched.status_code == 422 and "1 labels for 2 queries" in mismatched.json()["error"]["message"]
    unknown = _openrlhf_post(f"{base}/v1/openrlhf?rewards=nope", {"query": ["1"]})
    assert unknown.status_code == 400 and unknown.json()["error"]["type"] == "unknown_reward"
    malformed = _openrlhf_post(f"{base}/v1/openrlhf?rewards=echo:x", {"query": ["1"]})
    assert malformed.status_code == 422 and "not a number" in malformed.json()["error"]["message"]
    missing = _openrlhf_post(f"{base}/v1/openrlhf", {"prompts": ["a"]})
    assert missing.status_code == 422 and missing.json()["error"]["details"]["errors"][0]["loc"] == ["query"]


def test_openrlhf_on_a_keyed_service_takes_the_key_in_the_url(live_server: Callable[[FastAPI], str]) -> None:
    base = live_server(_app(api_keys=["s3cret"], openrlhf_rewards={"echo": 1.0}))
    assert _openrlhf_post(f"{base}/v1/openrlhf", {"query": ["1"]}).status_code == 401
    assert _openrlhf_post(f"{base}/v1/openrlhf?key=wrong", {"query": ["1"]}).status_code == 401
    assert _openrlhf_post(f"{base}/v1/openrlhf?key=s3cret", {"query": ["1"]}).json()["rewards"] == [1.0]


def _load_by_path(path: str) -> ModuleType:
    # As verl's get_custom_reward_fn does: a spec from the file location, executed as a fresh module.
    spec = importlib.util.spec_from_file_location("custom_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_verl_reward_function_loaded_by_path_scores_through_the_service(
    live_server: Callable[[FastAPI], str],
) -> None:
    base = live_server(_app())
    assert verifier.verl.__file__ is not None
    module = _load_by_path(verifier.verl.__file__)
    kwargs = {"url": base, "rewards": "echo:1,format:0.5"}
    try:
        one = module.compute_score("gsm8k", "3", "3", {"prompt": "q"}, **kwargs)
        batch = module.compute_score_batch(
            data_sources=["a", "b"], solution_strs=["1", "2"], ground_truths=["1", "2"], extra_infos=None, **kwargs
        )
    finally:
        module.close_clients()
    assert one == {"score": 3.0, "echo": 3.0, "format": 0.0}
    assert [s["score"] for s in batch] == [1.0, 2.0]


def test_verl_reads_the_environment_below_its_kwargs(
    live_server: Callable[[FastAPI], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = live_server(_app())
    monkeypatch.setenv("VERIFIER_URL", base)
    monkeypatch.setenv("VERIFIER_REWARDS", "echo:2")
    try:
        from_environment = verifier.verl.compute_score("x", "3", None)
        from_kwargs = verifier.verl.compute_score("x", "3", None, rewards="echo:1,format:1")
        monkeypatch.setenv("VERIFIER_URL", "http://127.0.0.1:1")  # nothing listens: the kwarg must win
        from_url_kwarg = verifier.verl.compute_score("x", "3", None, url=base)
    finally:
        verifier.verl.close_clients()
    assert from_environment == {"score": 6.0, "echo": 3.0}
    assert from_kwargs == {"score": 3.0, "echo": 3.0, "format": 0.0}
    assert from_url_kwarg == from_environment


def test_verl_sees_an_environment_variable_changed_after_a_first_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # The settings are cached per set of VERIFIER_* values (they are read per sample): a change must show.
    from verifier.client import ClientSettings

    monkeypatch.setenv("VERIFIER_REWARDS", "echo:2")
    assert ClientSettings.current().rewards == "echo:2"
    monkeypatch.setenv("VERIFIER_REWARDS", "math:1")
    monkeypatch.setenv("VERIFIER_API_KEY", "k1")
    changed = ClientSettings.current()
    assert changed.rewards == "math:1"
    assert changed.api_key is not None and changed.api_key.get_secret_value() == "k1"
    monkeypatch.delenv("VERIFIER_REWARDS")
    assert ClientSettings.current().rewards is None


def test_verl_unscored_sample_raises_unless_told_to_score_zero(live_server: Callable[[FastAPI], str]) -> None:
    base = live_server(_app())
    try:
        with pytest.raises(verifier.verl.UnscoredError, match="boom for this item"):
            verifier.verl.compute_score("x", "boom", None, url=base, rewards="echo")
        zero = verifier.verl.compute_score("x", "boom", None, url=base, rewards="echo", on_unscored="zero")
    finally:
        verifier.verl.close_clients()
    assert zero == {"score": 0.0, "echo": 0.0}


def test_verl_reward_loop_awaits_the_async_function_with_data_source_dispatch(
    live_server: Callable[[FastAPI], str],
) -> None:
    """verl's reward loop (``use_reward_loop=True``, the default) loads the function by path, wraps it with the
    reward kwargs (``get_custom_reward_fn``: a partial that awaits it when ``inspect.iscoroutinefunction``) and
    calls it once per sample, all of a batch at once. Each sample's data_source picks its rewards through the
    profile's map: a mixed math-and-shape run through one function."""
    profiles = {
        "mixed": {"data_source": {"numbers": "numbers", "shape": "shape"}},
        "numbers": {"rewards": {"echo": 1.0}},
        "shape": {"rewards": {"format": 1.0}},
    }
    base = live_server(_app(profiles=profiles))
    assert verifier.verl.__file__ is not None
    module = _load_by_path(verifier.verl.__file__)
    raw = module.compute_score_async
    assert inspect.iscoroutinefunction(raw)  # how verl decides to await it rather than use a thread
    reward_kwargs = {"url": base, "profile": "mixed"}

    async def call(**kwargs: Any) -> Any:  # verl's _call_with_kwargs_async: the config's kwargs win
        return await raw(**{**kwargs, **reward_kwargs})

    samples = [
        ("numbers", "3", None),
        ("shape", "<think>x</think> y", None),
        ("numbers", "5", {"prompt": "q", "verifier_params": {"echo": {"offset": 1.0}}}),
        ("shape", "no tags", None),
    ]

    async def loop() -> list[Any]:
        try:
            return await asyncio.gather(
                *(
                    call(data_source=source, solution_str=text, ground_truth=None, extra_info=info)
                    for source, text, info in samples
                )
            )
        finally:
            await module.aclose_clients()

    results = asyncio.run(loop())
    assert results == [
        {"score": 3.0, "echo": 3.0},
        {"score": 1.0, "format": 1.0},
        {"score": 6.0, "echo": 6.0},
        {"score": 0.0, "format": 0.0},
    ]
    # The legacy batch manager's function takes the same profile and dispatch, in one request.
    try:
        batch = module.compute_score_batch(
            [s for s, _, _ in samples], [t for _, t, _ in samples], [None] * 4, [i for _, _, i in samples],
            **reward_kwargs,
        )
    finally:
        module.close_clients()
    assert batch == results
    with pytest.raises(VerifierHTTPError, match="'unknown' is not in profile 'mixed'"):
        verifier.verl.compute_score("unknown", "1", None, **reward_kwargs)
    verifier.verl.close_clients()
