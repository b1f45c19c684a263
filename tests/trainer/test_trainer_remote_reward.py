"""RemoteReward against a real verifier on 127.0.0.1: values, order, None, chunks, retries, failover."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
import verifier_format

from tests.trainer import reward_plugins
from tests.trainer.conftest import CountingApp
from trainer import RemoteReward, RemoteRewardError, VerifierUnreachableError
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

StartVerifier = Callable[..., tuple[str, CountingApp]]


def test_values_come_back_in_completion_order(verifier_url: str) -> None:
    completions = [str(v) for v in (3, -1.5, 0, 7, 2.25, 11)]
    reward = RemoteReward("number", verifier_url)
    assert reward(prompts=["p"] * 6, completions=completions) == [3.0, -1.5, 0.0, 7.0, 2.25, 11.0]


def test_reward_that_does_not_apply_or_fails_for_an_item_is_none(verifier_url: str) -> None:
    extra: dict[str, list[Any]] = {}
    reward = RemoteReward("number", verifier_url)
    values = reward(
        prompts=["p"] * 3,
        completions=["2", "none", "boom"],
        log_extra=lambda column, vals: extra.setdefault(column, []).extend(vals),
    )
    assert values == [2.0, None, None]
    details = extra["number details"]
    assert "boom for this item" in details[2]
    assert "not applicable" in details[1]


def test_large_batches_go_in_concurrent_chunks_in_order(start_verifier: StartVerifier) -> None:
    url, app = start_verifier()
    completions = [str(i) for i in range(50)]
    reward = RemoteReward("number", url, chunk_size=7, max_concurrency=3)
    assert reward(prompts=None, completions=completions) == [float(i) for i in range(50)]
    assert app.verify_requests == 8
    assert sorted(app.item_counts) == [1] + [7] * 7


def test_batch_up_to_chunk_size_is_one_request(start_verifier: StartVerifier) -> None:
    url, app = start_verifier()
    RemoteReward("number", url, chunk_size=64)(prompts=None, completions=["1"] * 64)
    assert app.verify_requests == 1


def test_overloaded_verifier_is_retried_with_backoff(start_verifier: StartVerifier) -> None:
    url, app = start_verifier(fail_first=2, fail_status=503)
    reward = RemoteReward("number", url, retries=2, backoff=0.01)
    assert reward(prompts=None, completions=["4", "5"]) == [4.0, 5.0]
    assert app.verify_requests == 3


def test_rate_limited_verifier_is_retried(start_verifier: StartVerifier) -> None:
    url, app = start_verifier(fail_first=1, fail_status=429)
    assert RemoteReward("number", url, backoff=0.01)(prompts=None, completions=["1"]) == [1.0]
    assert app.verify_requests == 2


def test_failover_to_second_url_when_first_is_down(dead_url: str, start_verifier: StartVerifier) -> None:
    url, app = start_verifier()
    reward = RemoteReward("number", [dead_url, url], retries=1, backoff=0.01)
    for _ in range(3):
        assert reward(prompts=None, completions=["1", "2"]) == [1.0, 2.0]
    assert app.verify_requests == 3


def test_failover_when_a_replica_answers_500(start_verifier: StartVerifier) -> None:
    broken, broken_app = start_verifier(fail_first=100, fail_status=500)
    healthy, healthy_app = start_verifier()
    reward = RemoteReward("number", [broken, healthy], retries=0)
    assert reward(prompts=None, completions=["6"]) == [6.0]
    assert broken_app.verify_requests == 1  # a 500 is not retried on the same replica, but failed over
    assert healthy_app.verify_requests == 1


def test_a_failed_replica_cools_down_behind_the_healthy_ones(start_verifier: StartVerifier) -> None:
    broken, broken_app = start_verifier(fail_first=100, fail_status=500)
    healthy, _ = start_verifier()
    reward = RemoteReward("number", [broken, healthy], retries=0)
    for _ in range(4):
        reward(prompts=None, completions=["1"])
    assert broken_app.verify_requests == 1


def test_batches_spread_over_healthy_replicas(start_verifier: StartVerifier) -> None:
    (url_a, app_a), (url_b, app_b) = start_verifier(), start_verifier()
    reward = RemoteReward("number", [url_a, url_b])
    for _ in range(4):
        reward(prompts=None, completions=["1"])
    assert (app_a.verify_requests, app_b.verify_requests) == (2, 2)
    reward = RemoteReward("number", [url_a, url_b], chunk_size=1, max_concurrency=2)
    reward(prompts=None, completions=["1"] * 6)
    assert (app_a.verify_requests, app_b.verify_requests) == (5, 5)


def test_unreachable_verifier_stops_training_with_a_clear_error(dead_url: str) -> None:
    reward = RemoteReward("number", [dead_url], retries=1, backoff=0.01)
    with pytest.raises(VerifierUnreachableError, match="no verifier answered") as info:
        reward(prompts=None, completions=["1"])
    assert dead_url in str(info.value)
    assert "on_error='skip'" in str(info.value)


def test_on_error_skip_scores_unreachable_batches_none(dead_url: str) -> None:
    metrics: dict[str, float] = {}
    reward = RemoteReward("number", dead_url, retries=0, on_error="skip")
    values = reward(
        prompts=None, completions=["1", "2"], log_metric=lambda name, v: metrics.__setitem__(name, v)
    )
    assert values == [None, None]
    assert metrics["verifier/number/skipped_fraction"] == 1.0


def test_invalid_request_is_not_retried_nor_skipped(start_verifier: StartVerifier) -> None:
    url, app = start_verifier()
    reward = RemoteReward("no_such_reward", url, on_error="skip")
    with pytest.raises(RemoteRewardError, match="no_such_reward"):
        reward(prompts=None, completions=["1"])
    assert app.verify_requests == 1


def test_pickles_after_use_and_scores_the_same(verifier_url: str) -> None:
    reward = RemoteReward({"number": 2.0}, verifier_url, chunk_size=2, name="doubled")
    before = reward(prompts=None, completions=["1", "2", "3"])  # opens clients and a thread pool
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == "doubled"
    assert clone(prompts=None, completions=["1", "2", "3"]) == before == [2.0, 4.0, 6.0]


def test_name_is_the_reward_or_the_joined_rewards(verifier_url: str) -> None:
    assert RemoteReward("number", verifier_url).__name__ == "number"
    assert RemoteReward(["number", "format"], verifier_url).__name__ == "number+format"
    assert RemoteReward({"number": 1.0}, verifier_url, name="accuracy").__name__ == "accuracy"


def test_one_remote_reward_carries_weighted_rewards(verifier_url: str) -> None:
    extra: dict[str, list[Any]] = {}
    reward = RemoteReward({"exact": 1.0, "format": 0.5}, verifier_url)
    completions = ["<think>\nx\n</think>\n\\boxed{4}", "\\boxed{4}", "<think>\nx\n</think>\n\\boxed{5}"]
    values = reward(
        prompts=["2+2"] * 3,
        completions=completions,
        solution=["4", "4", "4"],
        log_extra=lambda column, vals: extra.setdefault(column, []).extend(vals),
    )
    assert values == [1.5, 1.0, 0.5]
    assert extra["exact"] == [1.0, 1.0, 0.0]
    assert extra["format"] == [1.0, 0.0, 1.0]


def test_dataset_columns_map_to_reference_params_and_tokens(verifier_url: str) -> None:
    extra: dict[str, list[Any]] = {}
    reward = RemoteReward("probe", verifier_url)
    reward(
        prompts=["say hi", "say bye"],
        completions=["hi", "bye"],
        completion_ids=[[1, 2, 3], [4]],
        solution=["hi", None],
        language=["en", "fr"],
        unrelated=["x", "y"],
        trainer_state=object(),
        log_extra=lambda column, vals: extra.setdefault(column, []).extend(vals),
    )
    first, second = (__import__("json").loads(text)["probe"] for text in extra["probe details"])
    assert first == {"language": "en", "reference": "hi", "tokens": 3, "prompt": "say hi", "id": None}
    assert second == {"language": "fr", "reference": None, "tokens": 1, "prompt": "say bye", "id": None}


def test_tests_column_goes_into_a_dict_reference(verifier_url: str) -> None:
    reward = RemoteReward("probe", verifier_url, columns={"tests": "reference.tests", "task": "id"})
    items = reward.build_items(["p"], ["c"], None, {"tests": [["assert f(1) == 2"]], "task": ["t-1"]})
    assert items == [
        {"completion": "c", "prompt": "p", "reference": {"tests": ["assert f(1) == 2"]}, "id": "t-1"}
    ]


def test_language_column_goes_only_to_rewards_that_take_it(verifier_url: str) -> None:
    reward = RemoteReward(["probe", "format"], verifier_url)
    items = reward.build_items(["p"], ["c"], None, {"language": ["de"]})
    assert items[0]["params"] == {"probe": {"language": "de"}}
    # and the verifier accepts it (format's params forbid unknown fields)
    assert reward(prompts=["p"], completions=["c"], language=["de"]) == [1.0]


def test_unknown_column_target_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown column target"):
        RemoteReward("probe", columns={"solution": "answer"})


def _profiled_verifier(live_server: Callable[[Any], str]) -> str:
    pm = create_plugin_manager(
        load_entrypoints=False, plugins={"format": verifier_format, "trainer_tests": reward_plugins}
    )
    distill = {"rewards": {"exact": 1.0, "format": 0.5}, "think_in_prompt": True}
    settings = Settings(log_level="warning", profiles={"distill": distill})  # type: ignore[dict-item]
    return live_server(create_app(settings, plugin_manager=pm))


def test_a_profile_gives_the_rewards_weights_and_params(live_server: Callable[[Any], str]) -> None:
    url = _profiled_verifier(live_server)
    extra: dict[str, list[Any]] = {}
    reward = RemoteReward(profile="distill", urls=url)
    # R1-distill completions: the template opened <think>, so the completion only closes it.
    values = reward(
        prompts=["2+2"] * 2,
        completions=["x\n</think>\n\\boxed{4}", "x\n</think>\n\\boxed{5}"],
        solution=["4", "4"],
        log_extra=lambda column, vals: extra.setdefault(column, []).extend(vals),
    )
    assert reward.__name__ == "distill" and reward.reward_names == ["exact", "format"]
    assert values == [1.5, 0.5]
    assert extra["format"] == [1.0, 1.0] and extra["exact"] == [1.0, 0.0]
    # rewards and params given here override the profile's
    plain = RemoteReward("format", url, profile="distill", params={"format": {"think_in_prompt": False}})
    assert plain(prompts=["p"], completions=["x\n</think>\n4"]) == [0.0]
    clone = pickle.loads(pickle.dumps(reward))
    assert clone(prompts=["p"], completions=["x\n</think>\n\\boxed{4}"], solution=["4"]) == [1.5]


def test_an_unknown_profile_fails_with_the_known_ones(live_server: Callable[[Any], str]) -> None:
    url = _profiled_verifier(live_server)
    with pytest.raises(RemoteRewardError, match="no profile 'nope'; it offers distill"):
        RemoteReward(profile="nope", urls=url)(prompts=["p"], completions=["c"], solution=["4"])
    with pytest.raises(ValueError, match="a reward name or a profile"):
        RemoteReward()
