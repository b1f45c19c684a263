from __future__ import annotations

import math
from typing import Any

import pytest

from tests.plugins.format._scoring import REGISTRY as _REGISTRY
from tests.plugins.format._scoring import format_reason as _format
from tests.plugins.format._scoring import score_one as _one
from verifier.schemas import ItemResult, VerifyRequest
from verifier.scoring import BatchScorer
from verifier.wire import score_request, verify_response

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("completion", "reason"),
    [
        ("<think>2 + 2 is 4</think>\nThe answer is 4.", None),
        ("  \n<think>reasoning</think>answer", None),
        ("<think>\nmultiline\nreasoning\n</think>\n\n**4**", None),
        ("<think>思考过程：二加二等于四</think>答案是四", None),
        ("", "missing_reasoning_open_tag"),
        ("The answer is 4.", "missing_reasoning_open_tag"),
        ("<think>never closed", "missing_reasoning_close_tag"),
        ("<think>a</think>", "missing_answer"),
        ("<think>a</think>   \n", "missing_answer"),
        ("<think>   </think>4", "empty_reasoning"),
        ("Sure! <think>a</think>4", "text_before_reasoning"),
        ("</think>a<think>4", "reasoning_tags_out_of_order"),
        ("<think>a</think><think>b</think>4", "repeated_reasoning_tags"),
        ("<think><think>a</think></think>4", "repeated_reasoning_tags"),
        ("<THINK>a</THINK>4", "missing_reasoning_open_tag"),
    ],
)
async def test_format_accepts_the_r1_shape_and_names_what_is_wrong(
    completion: str, reason: str | None
) -> None:
    score, why = await _format(completion)
    assert (score, why) == ((1.0, None) if reason is None else (0.0, reason))


async def test_format_reads_chat_message_completions() -> None:
    assert await _format([{"role": "assistant", "content": "<think>a</think>b"}]) == (1.0, None)
    parts = [
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "<think>a</think>"}, {"type": "text", "text": "b"}],
        }
    ]
    assert await _format(parts) == (1.0, None)
    assert await _format([{"role": "assistant", "content": None}]) == (0.0, "missing_reasoning_open_tag")


@pytest.mark.parametrize(
    ("completion", "ok"),
    [
        ("<think>\nreasoning\n</think>\nanswer", True),
        ("<think>reasoning</think>\nanswer", False),
        ("<think>\nreasoning\n</think>answer", False),
        (" <think>\nreasoning\n</think>\nanswer", False),
    ],
)
async def test_strict_format_requires_the_exact_newlines(completion: str, ok: bool) -> None:
    score, _ = await _format(completion, strict=True)
    assert score == (1.0 if ok else 0.0)


@pytest.mark.parametrize(
    ("completion", "strict", "reason"),
    [
        ("<think>r</think><answer>42</answer>", False, None),
        ("<think>r</think>\n<answer>42</answer>\n", False, None),
        ("<think>\nr\n</think>\n<answer>\n42\n</answer>", True, None),
        ("<think>\nr\n</think>\n<answer>42</answer>", True, "strict_layout"),
        ("<think>r</think>42", False, "answer_tags_missing_or_repeated"),
        ("<think>r</think><answer>4</answer><answer>2</answer>", False, "answer_tags_missing_or_repeated"),
        ("<think>r</think><answer>42</answer> and more", False, "text_outside_answer_tags"),
        ("<think>r</think><answer> </answer>", False, "empty_answer"),
    ],
)
async def test_answer_tags_when_configured(completion: str, strict: bool, reason: str | None) -> None:
    score, why = await _format(completion, answer_tag="answer", strict=strict)
    assert why == reason and score == (1.0 if reason is None else 0.0)


async def test_think_in_prompt_means_the_completion_starts_inside_the_reasoning() -> None:
    assert await _format("reasoning</think>answer", think_in_prompt=True) == (1.0, None)
    assert (await _format("<think>reasoning</think>answer", think_in_prompt=True))[
        1
    ] == "repeated_reasoning_tags"


async def test_custom_tag_names_and_invalid_ones() -> None:
    assert await _format("<reasoning>a</reasoning>b", think_tag="reasoning") == (1.0, None)
    with pytest.raises(Exception, match="tag name"):
        await _format("x", think_tag="<bad>")


async def test_very_long_completion_is_scored() -> None:
    long = "<think>" + "step. " * 200_000 + "</think>" + "answer"
    assert await _format(long) == (1.0, None)


@pytest.mark.parametrize(
    ("completion", "params", "expected"),
    [
        ("<think>a</think>b", {}, 1.0),
        ("<think>a</think><think>b</think>c", {}, 0.0),
        ("<think>a b", {}, 0.5),
        ("a</think>b", {}, 0.5),
        ("</think>a<think>", {}, 0.0),  # both once, but reversed: the pair earns nothing
        ("<think>a</think><answer>b</answer>", {"answer_tag": "answer"}, 1.0),
        ("<think>a</think><answer>b", {"answer_tag": "answer"}, 0.75),
        ("<think>a</think><answer>b</answer><answer>c</answer>", {"answer_tag": "answer"}, 0.5),
        ("a</think>b", {"think_in_prompt": True}, 1.0),
        ("<think>a</think>b", {"think_in_prompt": True}, 0.0),
    ],
)
async def test_tag_count_credits_each_tag_once_and_in_order(
    completion: str, params: dict[str, Any], expected: float
) -> None:
    result = await _one("tag_count", completion, params)
    assert result.scores["tag_count"] == pytest.approx(expected)


async def test_repeating_tags_cannot_farm_tag_count() -> None:
    farmed = "<think>" * 50 + "a" + "</think>" * 50 + "b"
    assert (await _one("tag_count", farmed)).scores["tag_count"] == 0.0


@pytest.mark.parametrize(
    ("length", "expected"),
    [(0, 0.0), (3072, 0.0), (3073, -1 / 1024), (3584, -0.5), (4096, -1.0), (4097, -1.0), (10_000, -1.0)],
)
async def test_soft_overlong_follows_dapo(length: int, expected: float) -> None:
    result = await _one(
        "soft_overlong",
        "x",
        {"max_length": 4096, "cache_length": 1024, "unit": "tokens"},
        completion_tokens=length,
    )
    assert result.scores["soft_overlong"] == pytest.approx(expected)
    assert result.details["soft_overlong"] == {"length": length, "unit": "tokens"}


async def test_soft_overlong_counts_characters_or_words_without_token_counts() -> None:
    chars = await _one("soft_overlong", "a b c d", {"max_length": 8, "cache_length": 4})
    assert chars.details["soft_overlong"] == {"length": 7, "unit": "chars"}
    assert chars.scores["soft_overlong"] == pytest.approx(-3 / 4)
    words = await _one("soft_overlong", "a b c d", {"max_length": 8, "cache_length": 4, "unit": "words"})
    assert words.scores["soft_overlong"] == 0.0


async def test_length_in_tokens_without_token_counts_is_an_error_not_a_zero() -> None:
    result = await _one("soft_overlong", "abc", {"unit": "tokens"})
    assert result.scores["soft_overlong"] is None
    assert "completion_tokens" in result.errors["soft_overlong"]


async def test_soft_overlong_rejects_a_cache_longer_than_the_maximum() -> None:
    with pytest.raises(Exception, match="cache_length"):
        await _one("soft_overlong", "x", {"max_length": 10, "cache_length": 10})


async def _cosine(verdict: float | None, length: int, **params: Any) -> ItemResult:
    request = VerifyRequest.model_validate(
        {
            "params": {
                "cosine_length": {
                    "verdict_reward": "soft_overlong",
                    "max_length": 100,
                    "unit": "tokens",
                    "correct_threshold": 0.0,
                    **params,
                },
                "soft_overlong": {"max_length": 100, "cache_length": 50, "unit": "tokens"},
            },
            "items": [
                {
                    "completion": "x",
                    "completion_tokens": length,
                    "rewards": ["cosine_length", "soft_overlong"]
                    if verdict is not None
                    else ["cosine_length"],
                }
            ],
        }
    )
    return verify_response(await BatchScorer(_REGISTRY).score(score_request(request))).results[0]


async def test_cosine_length_reads_the_verdict_of_another_reward() -> None:
    # soft_overlong is 0.0 (>= threshold: "correct") up to length 50, negative ("wrong") beyond.
    short_correct = await _cosine(1.0, 0)
    assert short_correct.scores["cosine_length"] == pytest.approx(1.0)
    mid_correct = await _cosine(1.0, 50)
    assert mid_correct.scores["cosine_length"] == pytest.approx(0.5 + 0.5 * 0.5 * (1 + math.cos(math.pi / 2)))
    long_wrong = await _cosine(1.0, 100)
    assert long_wrong.details["cosine_length"]["correct"] is False
    assert long_wrong.scores["cosine_length"] == pytest.approx(-0.5)
    beyond = await _cosine(1.0, 1000)  # past max_length: the worst wrong score, never the best
    assert beyond.scores["cosine_length"] == pytest.approx(-1.0)


async def test_cosine_length_without_its_verdict_is_an_error_naming_the_reward() -> None:
    result = await _cosine(None, 10)
    assert result.scores["cosine_length"] is None
    assert "soft_overlong" in result.errors["cosine_length"]
