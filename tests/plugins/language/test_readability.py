"""The ``readability`` filter: each rejection-sampling check in ``details`` and one pass/fail score."""

from __future__ import annotations

from typing import Any

import pytest
from verifier_language.readability import most_repeated_sentence, tail_loop

from tests.plugins.language._scoring import score_one, sentences

CLEAN = "\n".join(sentences("en")[:6])


def _readability(reasoning: str, **params: Any) -> tuple[float | None, dict[str, Any]]:
    result = score_one(f"<think>{reasoning}</think>\nThe answer is 4.", reward="readability", target="en", **params)
    assert result.errors == {}
    return result.scores["readability"], result.details["readability"]


def test_clean_reasoning_passes_every_check() -> None:
    score, details = _readability(CLEAN)
    assert score == 1.0
    assert details["passed"] is True and details["failed"] == []
    assert set(details["checks"]) == {"mixed_language", "long_paragraph", "code_blocks", "repetition"}
    assert all(check["passed"] for check in details["checks"].values())
    assert details["language"]["target"] == "en"


def test_mixed_languages_fail_below_the_consistency_threshold() -> None:
    score, details = _readability(CLEAN + "\n" + sentences("zh")[0])
    assert (score, details["failed"]) == (0.0, ["mixed_language"])
    check = details["checks"]["mixed_language"]
    assert check["consistency"] < check["threshold"] == 0.95
    assert _readability(CLEAN + "\n" + sentences("zh")[0], min_consistency=0.5)[0] == 1.0


def test_a_very_long_paragraph_fails() -> None:
    paragraph = " ".join(sentences("en"))
    score, details = _readability(paragraph, max_paragraph_words=100)
    assert (score, details["failed"]) == (0.0, ["long_paragraph"])
    assert details["checks"]["long_paragraph"]["max_words"] > 100
    same_words_in_lines = "\n".join(sentences("en"))
    assert _readability(same_words_in_lines, max_paragraph_words=100)[0] == 1.0
    assert _readability(paragraph)[0] == 1.0  # the default threshold is 400 words


def test_code_blocks_in_the_reasoning_fail_but_code_in_the_answer_does_not() -> None:
    code = "```python\nprint(sum(range(10)))\n```"
    score, details = _readability(f"{CLEAN}\n{code}")
    assert (score, details["failed"]) == (0.0, ["code_blocks"])
    assert details["checks"]["code_blocks"]["count"] == 1
    answer = score_one(f"<think>{CLEAN}</think>\n{code}", reward="readability", target="en")
    assert answer.scores["readability"] == 1.0
    assert _readability(f"{CLEAN}\n{code}", max_code_blocks=1)[0] == 1.0


def test_a_sentence_repeated_over_and_over_fails() -> None:
    looping = CLEAN + "\n" + "\n".join(["Let me check the previous step again."] * 5 + sentences("en")[6:8])
    score, details = _readability(looping)
    assert (score, details["failed"]) == (0.0, ["repetition"])
    check = details["checks"]["repetition"]
    assert check["max_repeats"] == 5
    assert check["sentence"] == "let me check the previous step again."


def test_a_generation_stuck_in_a_loop_until_the_length_limit_fails() -> None:
    stuck = CLEAN + " so the answer is 4 and then" * 12
    score, details = _readability(stuck)
    assert (score, details["failed"]) == (0.0, ["repetition"])
    check = details["checks"]["repetition"]
    assert check["loop_period"] == len(" so the answer is 4 and then")
    assert check["loop_chars"] > check["loop_threshold"] == 200


def test_several_failures_are_all_reported() -> None:
    bad = " ".join(sentences("en")) + "\n```\nx = 1\n```\n" + sentences("fr")[0]
    score, details = _readability(bad, min_consistency=0.99, max_paragraph_words=100)
    assert score == 0.0
    assert details["passed"] is False
    assert set(details["failed"]) == {"long_paragraph", "code_blocks", "mixed_language"}


def test_null_thresholds_switch_checks_off() -> None:
    score, details = _readability(f"{CLEAN}\n```\nx = 1\n```", max_code_blocks=None, min_consistency=None,
                                  max_paragraph_words=None, max_repeats=None, max_loop_chars=None)
    assert (score, details["checks"], details["failed"]) == (1.0, {}, [])


def test_empty_and_code_only_reasoning() -> None:
    assert _readability("")[0] == 1.0
    score, details = _readability("```\nx = 1\n```")
    assert (score, details["failed"]) == (0.0, ["code_blocks"])
    assert details["checks"]["mixed_language"] == {"passed": True, "consistency": None, "threshold": 0.95}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("abc", (0, 0)), ("x" * 300, (1, 300)), ("intro " + "ab" * 150, (2, 300)), ("ab" * 50, (0, 0))],
)
def test_tail_loop_finds_the_shortest_period_of_a_long_repeated_end(text: str, expected: tuple[int, int]) -> None:
    assert tail_loop(text, 200) == expected


def test_most_repeated_sentence_ignores_case_spacing_and_short_sentences() -> None:
    text = "Ok. Ok. Ok. Ok. This sentence repeats here. THIS  sentence repeats here. Other."
    assert most_repeated_sentence(text, 20) == ("this sentence repeats here.", 2)
