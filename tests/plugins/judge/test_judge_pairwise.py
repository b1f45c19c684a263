"""The pairwise template asked in both orders (position bias), against stand-in judges on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.plugins.judge.conftest import judge_reward, options_for, score_batches, score_one
from tests.plugins.judge.openai_stub import Decide, Fail, OpenAIStub, Reply, field_value, user_message
from verifier import PluginError

StartStub = Callable[..., tuple[str, OpenAIStub]]
PAIR: dict[str, Any] = {
    "prompt": "What is the capital of France?",
    "completion": "<think>hmm</think>Paris.",
    "reference": "Lyon.",
    "params": {"template": "pairwise"},
}


def verdict(score: int) -> Reply:
    return Reply(f'{{"reason": "r{score}", "score": {score}}}')


def prefers_paris(message: str) -> Reply:
    """A judge without position bias: 9 when Response A is the right one, 2 when it is B."""
    return verdict(9 if field_value(message, "answer") == "Paris." else 2)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_pairwise_is_asked_in_both_orders_and_averaged_on_the_candidates_side(start_stub: StartStub) -> None:
    url, stub = start_stub(default=Decide(prefers_paris))
    result = score_one(options_for(url), **PAIR)
    shown_first = sorted(field_value(user_message(b), "answer") or "" for b in stub.requests)
    assert shown_first == ["Lyon.", "Paris."]  # each response was Response A once
    assert result.value == pytest.approx(8 / 9) and result.error is None
    first, second = result.details["verdicts"]
    assert (first["order"], first["raw_score"], first["candidate_score"]) == ("answer_first", 9, 9)
    assert (second["order"], second["raw_score"], second["candidate_score"]) == ("reference_first", 2, 9)
    assert result.details["position_disagreement"] is False and result.details["raw_score"] == 9


def test_a_judge_that_always_prefers_response_a_is_flagged_and_gains_nothing(start_stub: StartStub) -> None:
    url, _ = start_stub(default=verdict(9))
    result = score_one(options_for(url), **PAIR)
    assert result.value == pytest.approx(0.5)  # (9 + (11 - 9)) / 2 = 5.5 on the 1-10 scale
    assert result.details["position_disagreement"] is True
    assert [v["preferred"] for v in result.details["verdicts"]] == ["answer", "reference"]


def test_identical_responses_score_one_half_whatever_the_judge_says(start_stub: StartStub) -> None:
    url, stub = start_stub(default=verdict(10))
    result = score_one(options_for(url), **{**PAIR, "reference": "Paris."})
    assert result.value == pytest.approx(0.5) and len(stub.requests) == 2  # the order is part of the cache key


def test_swap_can_be_turned_off_per_request(start_stub: StartStub) -> None:
    url, stub = start_stub(default=verdict(9))
    result = score_one(options_for(url), **{**PAIR, "params": {"template": "pairwise", "swap_positions": False}})
    assert result.value == pytest.approx(8 / 9) and len(stub.requests) == 1
    assert field_value(user_message(stub.requests[0]), "answer") == "Paris."
    assert result.details["order"] == "answer_first" and "position_disagreement" not in result.details


def test_swap_does_not_touch_templates_that_are_not_pairwise(start_stub: StartStub) -> None:
    url, stub = start_stub()
    score_one(options_for(url), **{**PAIR, "params": {"template": "correctness"}})
    assert len(stub.requests) == 1


def test_one_order_failing_is_null_never_the_other_order_alone(start_stub: StartStub) -> None:
    refused: list[str] = []

    def once_refuse_b_first(message: str) -> Reply | Fail:
        if field_value(message, "answer") == "Lyon." and not refused:
            refused.append(message)
            return Fail(400)
        return prefers_paris(message)

    url, stub = start_stub(default=Decide(once_refuse_b_first))
    first, second = score_batches(options_for(url), [PAIR], [PAIR])
    [failed], [healed] = first, second
    assert failed.value is None and "reference_first judgment failed" in (failed.error or "")
    good, bad = failed.details["verdicts"]
    assert good["raw_score"] == 9 and "HTTP 400" in bad["error"]
    # Asked again: only the failed order is sent, the other comes from the cache.
    assert len(stub.requests) == 3 and healed.value == pytest.approx(8 / 9)
    assert [v["cached"] for v in healed.details["verdicts"]] == [True, False] and healed.details["cached"] is False


def test_one_order_unparseable_is_null_with_its_reply(start_stub: StartStub) -> None:
    def mumble_when_b_first(message: str) -> Reply:
        return Reply("hard to say") if field_value(message, "answer") == "Lyon." else verdict(9)

    url, _ = start_stub(default=Decide(mumble_when_b_first))
    result = score_one(options_for(url), **PAIR)
    assert result.value is None and "no score" in (result.error or "")
    assert result.details["verdicts"][1]["raw"] == "hard to say"


def test_both_calls_count_in_usage_metrics_and_cache(start_stub: StartStub) -> None:
    url, stub = start_stub(default=Decide(prefers_paris))
    hits = metric("verifier_judge_cache_lookups_total", reward="judge", result="hit")
    misses = metric("verifier_judge_cache_lookups_total", reward="judge", result="miss")
    first, second = score_batches(options_for(url), [PAIR, PAIR], [PAIR])
    assert len(stub.requests) == 2  # the duplicate in the first batch and the second batch cost nothing
    usage = first[0].details["usage"]
    parts = [v["usage"] for v in first[0].details["verdicts"]]
    assert usage == {k: parts[0][k] + parts[1][k] for k in usage} and usage["prompt_tokens"] > 0
    assert metric("verifier_judge_calls_total", reward="judge", endpoint=url, outcome="ok") == 2
    assert metric("verifier_judge_cache_lookups_total", reward="judge", result="miss") - misses == 2
    assert metric("verifier_judge_cache_lookups_total", reward="judge", result="hit") - hits == 2
    assert second[0].details["cached"] is True and second[0].details["usage"] == usage
    assert second[0].value == first[0].value


def test_a_custom_pairwise_template_is_swapped_too(start_stub: StartStub) -> None:
    url, stub = start_stub(default=Decide(prefers_paris))
    templates = {"duel": {"user": "Which is better, A {answer} or B {reference}?", "pairwise": True}}
    result = score_one(options_for(url, templates=templates), **{**PAIR, "params": {"template": "duel"}})
    assert result.value == pytest.approx(8 / 9) and len(stub.requests) == 2


def test_a_pairwise_template_without_the_reference_fails_startup() -> None:
    with pytest.raises(PluginError, match="is pairwise: the user message must contain \\{reference\\}"):
        judge_reward({"templates": {"duel": {"user": "Is {answer} good?", "pairwise": True}}})
