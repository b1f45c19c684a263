"""``judge_fallback``: the rule decides where it passes, the judge only for its misses (stand-in judges on
127.0.0.1; end to end with the real ``math`` reward in the real service)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio
import httpx
import pytest
import verifier_judge
import verifier_math

from tests.plugins.judge.conftest import options_for
from tests.plugins.judge.openai_stub import Decide, Fail, OpenAIStub, Reply, field_value, user_message
from verifier import PluginConfig, RewardItem, Score
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

StartStub = Callable[..., tuple[str, OpenAIStub]]


def by_rule(options: dict[str, Any], items: Sequence[dict[str, Any]]) -> list[Score]:
    """Score items through ``judge_fallback`` with the rule scores given in each item's ``scores``."""
    rewards = {r.name: r for r in verifier_judge.register_rewards(config=PluginConfig("judge", options))}
    fallback, judge = rewards["judge_fallback"], rewards["judge"]

    async def go() -> list[Score]:
        assert judge.lifespan is not None and fallback.lifespan is None  # it rides on the judge's client
        async with judge.lifespan():
            batch = [
                RewardItem(
                    index=i,
                    completion=item["completion"],
                    prompt=item.get("prompt"),
                    reference=item.get("reference"),
                    params=fallback.params.model_validate(item.get("params", {})),
                    scores=item.get("scores", {}),
                )
                for i, item in enumerate(items)
            ]
            return list(await fallback.score(batch))  # type: ignore[misc]

    return anyio.run(go)


def grade_four(message: str) -> Reply:
    """A judge that knows 'four' is 4."""
    answer = field_value(message, "answer") or ""
    same = "four" in answer or "4" in answer
    return Reply('{"reason": "same", "score": 10}' if same else '{"reason": "no", "score": 1}')


ITEM: dict[str, Any] = {"prompt": "2+2?", "completion": "<think>2+2</think>It is four.", "reference": "4"}


def test_rule_pass_stands_without_a_call(start_stub: StartStub) -> None:
    url, stub = start_stub()
    [result] = by_rule(options_for(url), [{**ITEM, "scores": {"math": 1.0}}])
    assert result.value == 1.0 and result.details == {"rule_reward": "math", "rule_score": 1.0, "decided_by": "rule"}
    assert stub.requests == []


def test_rule_miss_is_decided_by_the_judge_with_the_correctness_template(start_stub: StartStub) -> None:
    url, stub = start_stub(default=Decide(grade_four))
    [result] = by_rule(options_for(url), [{**ITEM, "scores": {"math": 0.0}}])
    assert result.value == 1.0 and result.details["decided_by"] == "judge" and result.details["rule_score"] == 0.0
    assert result.details["template"] == "correctness" and len(stub.requests) == 1
    assert field_value(user_message(stub.requests[0]), "reference") == "4"


def test_null_rule_score_fails_closed_by_default(start_stub: StartStub) -> None:
    url, stub = start_stub()
    [result] = by_rule(options_for(url), [{**ITEM, "scores": {"math": None}}])
    assert result.value is None and "fails closed" in (result.error or "") and stub.requests == []
    assert result.details["decided_by"] == "none"


def test_null_rule_score_asks_the_judge_when_told_to(start_stub: StartStub) -> None:
    url, stub = start_stub(default=Decide(grade_four))
    [result] = by_rule(options_for(url), [{**ITEM, "scores": {"math": None}, "params": {"on_rule_null": "judge"}}])
    assert result.value == 1.0 and result.details["decided_by"] == "judge" and len(stub.requests) == 1


def test_rule_not_requested_is_null_and_says_so(start_stub: StartStub) -> None:
    url, stub = start_stub()
    [result] = by_rule(options_for(url), [ITEM])
    assert result.value is None and "needs the verdict of reward 'math'" in (result.error or "")
    assert stub.requests == []


def test_rule_threshold_and_rule_reward_are_parameters(start_stub: StartStub) -> None:
    url, stub = start_stub(default=Reply('{"reason": "meh", "score": 4}'))
    params = {"rule_reward": "code", "rule_threshold": 0.5}
    passed, missed = by_rule(
        options_for(url),
        [{**ITEM, "scores": {"code": 0.5}, "params": params}, {**ITEM, "scores": {"code": 0.4}, "params": params}],
    )
    assert passed.value == 0.5 and passed.details["decided_by"] == "rule"
    assert missed.value == pytest.approx(3 / 9) and missed.details["decided_by"] == "judge"
    assert len(stub.requests) == 1


def test_judge_threshold_makes_the_judges_verdict_binary(start_stub: StartStub) -> None:
    url, _ = start_stub(default=Reply('{"reason": "close", "score": 8}'))
    low, high = by_rule(
        options_for(url),
        [
            {**ITEM, "scores": {"math": 0.0}, "params": {"judge_threshold": 0.9}},
            {**ITEM, "scores": {"math": 0.0}, "params": {"judge_threshold": 0.7}},
        ],
    )
    assert (low.value, high.value) == (0.0, 1.0) and low.details["judge_score"] == pytest.approx(7 / 9)


def test_a_failing_judge_after_a_rule_miss_is_null_not_the_rules_zero(dead_url: str) -> None:
    [result] = by_rule(options_for(dead_url, retries=0), [{**ITEM, "scores": {"math": 0.0}}])
    assert result.value is None and "ConnectError" in (result.error or "") and result.details["decided_by"] == "judge"


def test_unfinished_reasoning_after_a_rule_miss_is_zero_without_a_call(start_stub: StartStub) -> None:
    url, stub = start_stub()
    item = {**ITEM, "completion": "<think>It is four. Hmm, let me check again and", "scores": {"math": 0.0}}
    [result] = by_rule(options_for(url), [item])
    assert result.value == 0.0 and result.details["not_judged"] == "unfinished_reasoning" and stub.requests == []


def test_fallback_cannot_name_itself_as_its_rule() -> None:
    rewards = {r.name: r for r in verifier_judge.register_rewards(config=PluginConfig("judge", {}))}
    with pytest.raises(ValueError, match="its own rule reward"):
        rewards["judge_fallback"].params.model_validate({"rule_reward": "judge_fallback"})


def grade_four_or_fail(message: str) -> Reply | Fail:
    return Fail(500) if "five" in (field_value(message, "answer") or "") else grade_four(message)


def test_judge_is_called_only_for_the_rules_misses_in_the_service(
    live_server: Callable[[Any], str], start_stub: StartStub
) -> None:
    judge_url, stub = start_stub(default=Decide(grade_four_or_fail))
    settings = Settings(
        plugin_options={"judge": options_for(judge_url, retries=0), "math": {"workers": 1}}, log_level="warning"
    )
    manager = create_plugin_manager(load_entrypoints=False, plugins={"judge": verifier_judge, "math": verifier_math})
    url = live_server(create_app(settings, plugin_manager=manager))
    right = {"prompt": "2+2?", "completion": "<think>2+2=4</think>\\boxed{4}", "reference": "4"}
    items = [
        right,
        {**right, "completion": "<think>2+2=5</think>\\boxed{5}"},  # wrong: the judge says no
        {**right, "completion": "<think>2+2</think>It is four."},  # the rule cannot read it: the judge can
        {**right, "completion": "<think>3+3=6</think>\\boxed{6}", "prompt": "3+3?", "reference": "6"},
        {"prompt": "2+2?", "completion": "<think>x</think>\\boxed{4}"},  # no reference: math is null
        {**right, "completion": "<think>2+2</think>It is five."},  # a miss, and the judge fails on it
    ]
    body = {"rewards": {"math": 0.0, "judge_fallback": 1.0}, "items": items}
    response = httpx.post(f"{url}/v1/verify", json=body, timeout=120)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["scores"]["math"] for r in results] == [1.0, 0.0, 0.0, 1.0, None, 0.0]
    assert [r["scores"]["judge_fallback"] for r in results] == [1.0, 0.0, 1.0, 1.0, None, None]
    assert [r["details"]["judge_fallback"].get("decided_by") for r in results] == [
        "rule", "judge", "judge", "rule", "none", "judge",
    ]  # fmt: skip
    assert sorted(field_value(user_message(b), "answer") or "" for b in stub.requests) == [
        "It is five.", "It is four.", "\\boxed{5}",
    ]  # fmt: skip
    assert [r["reward"] for r in results] == [1.0, 0.0, 1.0, 1.0, None, None]  # the judge's failure: not math's 0.0
    errors = [r["errors"].get("judge_fallback", "") for r in results]
    assert "fails closed" in errors[4] and "HTTP 500" in errors[5]
