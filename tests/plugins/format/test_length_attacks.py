"""Attacks on ``cosine_length`` and ``soft_overlong``, each with its right score: padding past the limit,
answering nothing, looking short, and the honest lengths that must keep their scores."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from verifier_format.length import MAX_WORD_CHARS, count_words

from tests.plugins.format._scoring import score_one, with_verdict

pytestmark = pytest.mark.anyio

# The verdict: tag_count is 1.0 ("correct" at the default threshold) for a completion in the R1 shape and
# below it otherwise, so one real reward of this plugin decides right or wrong.
RIGHT, WRONG = "<think>r</think>4", "<think>r</think>4</think>"  # the second: a repeated tag
COSINE = {"max_length": 100, "unit": "tokens"}


async def _cosine(completion: str, tokens: int | None = None, **params: Any) -> tuple[float | None, dict[str, Any]]:
    item = {} if tokens is None else {"completion_tokens": tokens}
    result = await with_verdict(completion, "tag_count", {**COSINE, **params}, **item)
    return result.scores["cosine_length"], result.details.get("cosine_length", {})


def _curve(start: float, end: float, progress: float) -> float:
    return end + 0.5 * (start - end) * (1.0 + math.cos(progress * math.pi))


@pytest.mark.parametrize(
    ("completion", "tokens", "expected"),
    [
        (WRONG, 0, -1.0),
        (WRONG, 50, _curve(-1.0, -0.5, 0.5)),
        (WRONG, 100, -0.5),  # the in-range best of a wrong answer, at the limit
        (WRONG, 101, -1.0),  # padded one token past it: the worst, never the best
        (WRONG, 10_000, -1.0),
        (RIGHT, 0, 1.0),
        (RIGHT, 100, 0.5),
        (RIGHT, 101, 0.5),
        (RIGHT, 1_000_000, 0.5),
    ],
)
async def test_cosine_length_never_pays_more_past_the_limit(completion: str, tokens: int, expected: float) -> None:
    score, _ = await _cosine(completion, tokens)
    assert score == pytest.approx(expected)


async def test_no_length_past_the_limit_beats_the_worst_in_range_score_of_its_verdict() -> None:
    for completion in (RIGHT, WRONG):
        inside = [(await _cosine(completion, n))[0] or 0.0 for n in range(0, 101, 5)]
        beyond = [(await _cosine(completion, n))[0] or 0.0 for n in (101, 150, 1000, 10**6)]
        assert max(beyond) <= min(inside)


async def test_a_wrong_answer_never_scores_above_a_right_one_at_any_length() -> None:
    lengths = [0, 1, 50, 99, 100, 101, 5000]
    wrong = [(await _cosine(WRONG, n))[0] or 0.0 for n in lengths]
    right = [(await _cosine(RIGHT, n))[0] or 0.0 for n in lengths]
    assert max(wrong) < min(right)


async def test_five_thousand_characters_of_garbage_without_an_answer_score_the_worst() -> None:
    garbage = "qzx " * 1250  # no tags: tag_count 0.0, wrong; 5,000 characters against max_length 1000
    score, details = await _cosine(garbage, unit="chars", max_length=1000)
    assert (score, details["length"], details["reason"]) == (-1.0, 5000, "over_max_length")


@pytest.mark.parametrize(
    ("completion", "params"),
    [
        ("<think>Let me think about this again and", {}),  # cut off mid-thought
        ("Let me think about this again and", {"think_in_prompt": True}),
        ("<think>a</think>\\boxed{3} <think>wait, no", {}),  # reopened after answering
    ],
)
async def test_reasoning_that_never_ended_scores_the_worst_even_inside_the_limit(
    completion: str, params: dict[str, Any]
) -> None:
    score, details = await _cosine(completion, 99, **params)
    assert (score, details["reason"]) == (-1.0, "unfinished_reasoning")


async def test_a_renamed_reasoning_tag_decides_what_is_unfinished() -> None:
    score, details = await _cosine("<think>r</think>4", 99, think_tag="reasoning")
    assert "reason" not in details and score is not None and score > -1.0


@pytest.mark.parametrize(
    "params",
    [
        {"max_value_wrong": 0.6},  # a wrong answer could pay more than a right one
        {"min_value_wrong": 0.0, "max_value_wrong": -0.5},
        {"min_value_correct": 1.0, "max_value_correct": 0.5},
    ],
)
async def test_cosine_values_that_would_pay_wrong_answers_more_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"min_value|max_value"):
        await _cosine(RIGHT, 10, **params)


async def test_cosine_verdict_that_did_not_apply_gives_no_score() -> None:
    result = await with_verdict("x", "soft_overlong", COSINE, {"unit": "tokens"})  # no token count
    assert result.scores["cosine_length"] is None
    assert result.scores["soft_overlong"] is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("one two three", 3),
        ("one\u200btwo\u200bthree", 3),  # zero-width spaces separate words
        ("one\u2060two\ufefftree\u2800four\u3164five", 5),
        ("x" * 5000, 5000 // MAX_WORD_CHARS),  # a run without a space is not one word
        ("三角形的面积", 6),  # CJK: one word a character
        ("答案是 four", 4),
        ("", 0),
        ("\u200b \u2800 \ufeff", 0),
    ],
)
def test_words_cannot_be_hidden_from_the_count(text: str, words: int) -> None:
    assert count_words(text) == words


async def test_soft_overlong_in_words_punishes_padding_joined_by_invisible_characters() -> None:
    padded = "\u200b".join(["step"] * 200)
    result = await score_one("soft_overlong", padded, {"unit": "words", "max_length": 100, "cache_length": 50})
    assert result.details["soft_overlong"] == {"length": 200, "unit": "words"}
    assert result.scores["soft_overlong"] == -1.0


async def test_soft_overlong_counts_invisible_padding_as_characters() -> None:
    result = await score_one("soft_overlong", "4" + "\u200b" * 99, {"max_length": 100, "cache_length": 50})
    assert result.scores["soft_overlong"] == -1.0


async def test_soft_overlong_is_never_positive_and_never_rises_with_length() -> None:
    params = {"max_length": 100, "cache_length": 40, "unit": "tokens"}
    values = [(await score_one("soft_overlong", "x", params, completion_tokens=n)).scores["soft_overlong"] or 0.0
              for n in range(0, 300, 7)]
    assert all(v <= 0.0 for v in values)
    assert all(b <= a for a, b in itertools.pairwise(values))
    assert min(values) == -1.0


async def test_soft_overlong_without_a_soft_zone_is_a_hard_limit() -> None:
    params = {"max_length": 100, "cache_length": 0, "unit": "tokens"}
    at = await score_one("soft_overlong", "x", params, completion_tokens=100)
    past = await score_one("soft_overlong", "x", params, completion_tokens=101)
    assert (at.scores["soft_overlong"], past.scores["soft_overlong"]) == (0.0, -1.0)


async def test_soft_overlong_reads_chat_message_completions() -> None:
    messages = [{"role": "assistant", "content": "x" * 90}, {"role": "assistant", "content": "y" * 20}]
    result = await score_one("soft_overlong", messages, {"max_length": 100, "cache_length": 50})
    assert result.details["soft_overlong"]["length"] == 111  # joined by a newline
    assert result.scores["soft_overlong"] == -1.0


async def test_cosine_length_in_words_sees_through_invisible_separators() -> None:
    padded = "<think>r</think>4</think>" + "\u2800".join(["hmm"] * 150)
    score, details = await _cosine(padded, unit="words", max_length=100)
    assert details["length"] > 100 and score == -1.0
