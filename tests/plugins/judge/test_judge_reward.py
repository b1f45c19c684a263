"""The ``judge`` reward against stand-in judges on 127.0.0.1 that speak the OpenAI wire protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from verifier_judge.client import RateLimiter

from tests.plugins.judge.conftest import options_for, score_batches, score_one
from tests.plugins.judge.openai_stub import Fail, Garbage, Hang, OpenAIStub, Reply, field_value, user_message

StartStub = Callable[..., tuple[str, OpenAIStub]]
ITEM: dict[str, Any] = {"prompt": "What is the capital of France?", "completion": "<think>hmm</think>Paris."}


def test_score_of_1_to_10_maps_onto_0_1_with_usage_and_reason(start_stub: StartStub) -> None:
    url, stub = start_stub()
    result = score_one(options_for(url), **ITEM)
    assert result.value == pytest.approx(7 / 9) and result.error is None
    assert result.details["raw_score"] == 8 and result.details["reason"] == "solid"
    assert result.details["template"] == "helpfulness" and result.details["cached"] is False
    usage = result.details["usage"]
    assert usage["prompt_tokens"] > 0 and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    [body] = stub.requests
    assert body["model"] == "judge-model" and body["response_format"]["type"] == "json_schema"


def test_only_the_final_answer_is_judged_unless_reasoning_is_asked_for(start_stub: StartStub) -> None:
    url, stub = start_stub()
    completion = "<think>my secret chain of thought</think>\nThe answer is Paris."
    score_one(options_for(url), prompt="Capital?", completion=completion)
    score_one(options_for(url), prompt="Capital?", completion=completion, params={"judge_reasoning": True})
    default, with_reasoning = (user_message(b) for b in stub.requests)
    assert "The answer is Paris." in default and "secret chain of thought" not in default
    assert "secret chain of thought" in with_reasoning and "Capital?" in default


def test_templates_are_chosen_per_request(start_stub: StartStub) -> None:
    url, stub = start_stub()
    score_one(options_for(url), **ITEM, params={"template": "harmlessness"})
    score_one(options_for(url), **ITEM, reference="Paris", params={"template": "correctness"})
    harmless, correct = (user_message(b) for b in stub.requests)
    assert "harmless" in harmless and "[Reference answer]\n<reference-" in correct
    assert field_value(correct, "reference") == "Paris"


def test_reference_template_without_a_reference_is_null_and_sends_nothing(start_stub: StartStub) -> None:
    url, stub = start_stub()
    result = score_one(options_for(url), **ITEM, params={"template": "pairwise"})
    assert result.value is None and "needs a reference" in (result.error or "") and stub.requests == []


def test_configured_template_replaces_and_adds(start_stub: StartStub) -> None:
    url, stub = start_stub()
    templates = {"terse": {"user": "Grade {answer} for {prompt}. Reply as {\"score\": N}.", "delimit": False}}
    result = score_one(options_for(url, templates=templates, default_template="terse"), **ITEM)
    assert result.details["template"] == "terse"
    [body] = stub.requests
    assert body["messages"] == [
        {"role": "user", "content": 'Grade Paris. for What is the capital of France?. Reply as {"score": N}.'}
    ]


def test_configured_template_delimits_its_values_by_default(start_stub: StartStub) -> None:
    url, stub = start_stub()
    templates = {"terse": {"user": "Grade {answer} for {prompt}."}}
    score_one(options_for(url, templates=templates, default_template="terse"), **ITEM)
    [message] = stub.requests[0]["messages"]
    assert field_value(message["content"], "answer") == "Paris."
    assert field_value(message["content"], "prompt") == "What is the capital of France?"


def test_unparseable_judgment_is_null_with_the_raw_text(start_stub: StartStub) -> None:
    url, _ = start_stub(default=Reply("I think this answer is rather nice."))
    result = score_one(options_for(url), **ITEM)
    assert result.value is None and result.error
    assert result.details["raw"] == "I think this answer is rather nice." and result.details["usage"]


def test_out_of_range_score_is_unparseable_not_clamped(start_stub: StartStub) -> None:
    url, _ = start_stub(default=Reply('{"reason": "wow", "score": 42}'))
    assert score_one(options_for(url), **ITEM).value is None


def test_endpoint_without_structured_output_is_asked_again_in_plain_text(start_stub: StartStub) -> None:
    url, stub = start_stub(structured_output=False, default=Reply("Rating: [[7]]"))
    first, second = score_batches(options_for(url), [ITEM], [{**ITEM, "completion": "Lyon."}])
    assert first[0].value == pytest.approx(6 / 9) and second[0].value == pytest.approx(6 / 9)
    # the refusal is remembered: the second item is sent without response_format at once
    assert ["response_format" in b for b in stub.requests] == [True, False, False]


def test_a_refused_response_format_is_asked_again_even_with_no_retries(start_stub: StartStub) -> None:
    url, stub = start_stub(structured_output=False, default=Reply("Rating: [[7]]"))
    assert score_one(options_for(url, retries=0), **ITEM).value == pytest.approx(6 / 9)
    assert ["response_format" in b for b in stub.requests] == [True, False]


def test_429_and_500_are_retried_honouring_retry_after(start_stub: StartStub) -> None:
    url, stub = start_stub()
    stub.then(Fail(429, retry_after=0), Fail(500), Fail(503))
    result = score_one(options_for(url, retries=3), **ITEM)
    assert result.value == pytest.approx(7 / 9) and len(stub.requests) == 4


def test_persistent_5xx_is_null_and_an_error_never_zero(start_stub: StartStub) -> None:
    url, stub = start_stub(default=Fail(500))
    result = score_one(options_for(url, retries=2), **ITEM)
    assert result.value is None and "HTTP 500" in (result.error or "") and len(stub.requests) == 3


def test_garbage_body_is_an_endpoint_failure(start_stub: StartStub) -> None:
    url, _ = start_stub(default=Garbage())
    result = score_one(options_for(url, retries=1), **ITEM)
    assert result.value is None and "malformed response" in (result.error or "")


def test_client_error_is_not_retried(start_stub: StartStub) -> None:
    url, stub = start_stub(model="another-model")
    result = score_one(options_for(url, retries=3), **ITEM)
    assert result.value is None and "HTTP 404" in (result.error or "") and len(stub.requests) == 1


def test_unreachable_judge_is_null_and_an_error(dead_url: str) -> None:
    result = score_one(options_for(dead_url, retries=1), **ITEM)
    assert result.value is None and "ConnectError" in (result.error or "")


def test_slow_judge_times_out_to_null(start_stub: StartStub) -> None:
    url, _ = start_stub(default=Hang())
    result = score_one(options_for(url, retries=0, timeout_s=0.5), **ITEM)
    assert result.value is None and "Timeout" in (result.error or "")


def test_fails_over_to_the_next_endpoint(start_stub: StartStub, dead_url: str) -> None:
    url, stub = start_stub()
    results = score_batches(options_for(dead_url, url, retries=0), [ITEM, {**ITEM, "completion": "Lyon"}])[0]
    assert [r.value for r in results] == [pytest.approx(7 / 9)] * 2
    assert {r.details["endpoint"] for r in results} == {url} and len(stub.requests) == 2


def test_api_key_and_seed_come_from_the_options(start_stub: StartStub) -> None:
    url, stub = start_stub()
    score_one(options_for(url, api_key="s3cret", seed=3), **ITEM)
    assert stub.headers[0]["authorization"] == "Bearer s3cret" and stub.requests[0]["seed"] == 3


def test_repeated_judgments_come_from_the_cache(start_stub: StartStub) -> None:
    url, stub = start_stub()
    other_template = {**ITEM, "params": {"template": "harmlessness"}}
    first, second = score_batches(options_for(url), [ITEM, ITEM, other_template], [ITEM])
    assert len(stub.requests) == 2  # one per distinct (template, prompt, answer, reference)
    assert first[0].value == first[1].value == second[0].value
    assert second[0].details["cached"] is True and second[0].details["usage"] == first[0].details["usage"]


def test_failures_are_not_cached(start_stub: StartStub) -> None:
    url, stub = start_stub()
    stub.then(Fail(500))
    first, second = score_batches(options_for(url, retries=0), [ITEM], [ITEM])
    assert first[0].value is None and second[0].value == pytest.approx(7 / 9) and len(stub.requests) == 2


def test_concurrency_per_endpoint_is_limited(start_stub: StartStub) -> None:
    url, stub = start_stub(hold_until_in_flight=2)
    options = options_for(url)
    options["endpoints"][0]["max_concurrency"] = 2
    batch = [{**ITEM, "completion": f"answer {i}"} for i in range(6)]
    results = score_batches(options, batch)[0]
    assert all(r.value is not None for r in results) and stub.max_in_flight == 2


def test_rate_limiter_spaces_requests_beyond_the_burst() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    async def go() -> None:
        limiter = RateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
        for _ in range(6):
            await limiter.acquire()

    anyio.run(go)
    assert sum(slept) == pytest.approx(2.0)  # a burst of 2, then 4 more at 2 per second


def test_parsing_forms() -> None:
    from verifier_judge.parsing import parse_score

    assert parse_score('{"reason": "x", "score": 7}') == (7.0, "x")
    assert parse_score('Sure! {"score": "9"} done') == (9.0, None)
    assert parse_score("Rating: [[3]]")[0] == 3.0  # type: ignore[index]
    assert parse_score("I'd give it 6/10.")[0] == 6.0  # type: ignore[index]
    assert parse_score("score = 10")[0] == 10.0  # type: ignore[index]
    assert parse_score("no number here") is None
    assert parse_score("score: 0") is None
