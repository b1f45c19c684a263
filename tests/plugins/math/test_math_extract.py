"""Finding the final answer in a completion: each extraction method, their order, and the think block."""

from __future__ import annotations

import pytest
from verifier_math.extract import extract_answer
from verifier_math.params import DEFAULT_METHODS

from tests.plugins.math.conftest import Grade

REASONING = "Let me compute. First 3 + 4 = 7, then 7 * 6 = 42. Checking: 42 / 6 = 7. " * 20


@pytest.mark.parametrize(
    ("completion", "answer", "method"),
    [
        (REASONING + "So the result is $\\boxed{42}$.", "42", "boxed"),
        ("\\boxed{1} is tempting, but the answer is \\boxed{\\frac{3}{4}}.", "\\frac{3}{4}", "boxed"),
        ("\\fbox{7}", "7", "boxed"),
        ("The roots are $\\boxed{2}$ and $\\boxed{-2}$.", "2, -2", "boxed"),
        ("\\boxed{\\frac{a}{\\sqrt{b}}} done", "\\frac{a}{\\sqrt{b}}", "boxed"),
        (REASONING + "Therefore, the answer is 3/4.", "3/4", "answer_is"),
        ("The final answer is $\\frac{\\pi}{2}$. I hope it is correct.", "\\frac{\\pi}{2}", "answer_is"),
        ("Answer: 1,234", "1,234", "answer_is"),
        ("The answer is 3 or 5.", "3 or 5", "answer_is"),
        (REASONING + "\n#### 42", "42", "gsm8k"),
        ("Natalia sold 48/2 = 24 clips in May.\n#### 72\n", "72", "gsm8k"),
        (REASONING + "So we get **73**.", "73", "bold"),
        ("**Final Answer:** 12.5", "12.5", "answer_is"),
        ("**Total:** 12.5", "12.5", "bold"),
        ("So **Total: $x = 3$**", "x = 3", "bold"),
        ("**x = 3**", "x = 3", "bold"),
        ("**\\sqrt{2}**", "\\sqrt{2}", "bold"),
        ("We multiply 6 by 7 and obtain 41, no wait, 42", "42", "last_number"),
        ("The total is -3.5 dollars", "-3.5", "last_number"),
        ("so it is 12% of the whole", "12%", "last_number"),
        ("giving \\frac{1}{2} of it", "\\frac{1}{2}", "last_number"),
    ],
)
def test_each_method_finds_the_final_answer(completion: str, answer: str, method: str) -> None:
    found = extract_answer(completion, DEFAULT_METHODS)
    assert found is not None
    assert (found.text, found.method) == (answer, method)


def test_boxed_wins_over_answer_is_and_bold_wins_over_last_number() -> None:
    found = extract_answer("**5** then the answer is 6 and finally \\boxed{7}, 8", DEFAULT_METHODS)
    assert found is not None and (found.text, found.method) == ("7", "boxed")
    found = extract_answer("We get **5**, which is less than 6", DEFAULT_METHODS)
    assert found is not None and (found.text, found.method) == ("5", "bold")


@pytest.mark.parametrize("text", ["**Step 1** is done. It was 9.", "**Note** it was 9", "**Case 2.** 9"])
def test_bold_headings_and_words_are_not_answers(text: str) -> None:
    found = extract_answer(text, DEFAULT_METHODS)
    assert found is not None and (found.text, found.method) == ("9", "last_number")


def test_methods_are_configurable_and_tried_in_the_given_order() -> None:
    text = "The answer is 6. \\boxed{7}"
    only_answer_is = extract_answer(text, ("answer_is",))
    assert only_answer_is is not None and only_answer_is.text == "6"
    assert extract_answer("no digits at all", ("boxed", "answer_is")) is None
    assert extract_answer("the value 3", ("boxed",)) is None


def test_boxes_far_apart_are_separate_answers() -> None:
    text = "\\boxed{1}" + " and some more reasoning" * 5 + " \\boxed{2}"
    found = extract_answer(text, ("boxed",))
    assert found is not None and found.text == "2"


def test_an_unclosed_box_is_bounded() -> None:
    found = extract_answer("\\boxed{" + "1" * 50_000, ("boxed",))
    assert found is not None and len(found.text) <= 2000


def test_think_block_is_not_searched_unless_asked(grade: Grade) -> None:
    text = "<think>the answer is 42</think>The answer is 41."
    assert grade("41", text).value == 1.0
    assert grade("42", text).value == 0.0
    assert grade("42", "<think>still thinking, 42").details["reason"] == "no_answer"
    assert grade("42", "<think>still thinking, the answer is 42", search_think=True).value == 1.0
    assert grade("42", "no tags: 42").value == 1.0


@pytest.mark.parametrize(
    ("completion", "method"),
    [
        (REASONING + "Hence $\\boxed{\\dfrac{3}{4}}$.", "boxed"),
        ("The answer is 0.75.", "answer_is"),
        ("Half of 1.5 is 0.75\n#### 0.75", "gsm8k"),
        ("We get **3/4**", "bold"),
        ("That leaves 3/4", "last_number"),
    ],
)
def test_each_method_scores_through_the_pool(grade: Grade, completion: str, method: str) -> None:
    result = grade("\\frac{3}{4}", completion)
    assert result.value == 1.0
    assert result.details["method"] == method and result.details["reason"] == "correct"


def test_answer_inside_think_only_counts_with_search_think(grade: Grade) -> None:
    completion = "<think>so the answer is \\boxed{42}</think>I am not sure."
    result = grade("42", completion)
    assert result.value == 0.0 and result.details["reason"] == "no_answer"
    assert grade("42", completion, search_think=True).value == 1.0


def test_unclosed_think_has_no_answer_and_says_why(grade: Grade) -> None:
    result = grade("42", "<think>the answer is \\boxed{42}")
    assert result.value == 0.0 and result.details["reason"] == "no_answer"
    assert "never closed" in result.details["note"]


def test_math_verify_extraction_can_be_chosen(grade: Grade) -> None:
    result = grade("\\frac{1}{2}", "After simplifying we obtain $x = \\frac{1}{2}$", extract=["math_verify"])
    assert result.value == 1.0 and result.details["method"] == "math_verify"
