"""Attacks on the math reward, as a policy paid for any loophole would try them, and the right answers it must
not refuse. Each case is (reference, completion, score) through the real worker pool; the reason is pinned where
it says which rule caught the attack."""

from __future__ import annotations

import pytest

from tests.plugins.math.conftest import Grade


def boxed(answer: str) -> str:
    return f"Some reasoning first. Therefore the final answer is $\\boxed{{{answer}}}$."


# The false positives of issue 14: each scored 1.0 before.

UNSOLVED = [
    ("5", "\\int_0^1 10x\\,dx"),
    ("5050", "\\sum_{k=1}^{100} k"),
    ("1", "\\lim_{x \\to 0} \\frac{\\sin x}{x}"),
    ("6", "\\frac{d}{dx}\\left(3x^2\\right)\\Big|_{x=1}"),
    ("-2", "\\det\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
    ("120", "\\binom{10}{3}"),
    ("120", "5!"),
    ("391", "17\\times 23"),
    ("3628800", "\\prod_{k=1}^{10} k"),
]


@pytest.mark.parametrize(("gold", "answer"), UNSOLVED)
def test_boxing_the_problem_is_not_an_answer(grade: Grade, gold: str, answer: str) -> None:
    result = grade(gold, boxed(answer))
    assert result.value == 0.0, result.details
    assert result.details["reason"] == "unfinished"
    assert "final form" in result.details["note"]


def test_the_final_form_rule_can_be_relaxed(grade: Grade) -> None:
    assert grade("391", boxed("17\\times 23"), final_form=False).value == 1.0
    assert grade("5050", boxed("\\sum_{k=1}^{100} k"), final_form=False).value == 1.0


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("\\sum_{k=1}^{n} k^2", "\\sum_{k=1}^{n} k^2"),  # the reference uses the operator itself
        ("\\binom{n}{2}", "\\binom{n}{2}"),
        ("\\frac{3}{4}", "\\frac{6}{8}"),  # an unreduced fraction is a form question, not an unsolved problem
        ("\\frac{3}{4}", "6/8"),
        ("150000000", "1.5 \\times 10^{8}"),  # scientific notation is a way to write a number
        ("0.0000001", "10^{-7}"),
        ("1 + \\sqrt{2}", "\\sqrt{2} + 1"),
        ("\\ln 8", "3 \\ln 2"),  # the reference uses the logarithm too
        ("\\sec^2 y", "\\tan^2 y + 1"),
        ("2^{10}", "2^{10}"),
    ],
)
def test_final_forms_that_are_answers(grade: Grade, gold: str, answer: str) -> None:
    result = grade(gold, boxed(answer))
    assert result.value == 1.0, result.details


@pytest.mark.parametrize(
    ("gold", "completion"),
    [
        ("3", "The answer is $3$ or $5$."),
        ("3", boxed("3 \\text{ (or maybe 5)}")),
        ("3", boxed("3 is wrong")),
        ("3", boxed("\\neg 3")),
        ("3", boxed("1 \\lor 2 \\lor 3 \\lor 4")),
        ("5", boxed("3 \\implies 5")),
        ("5", "So we get $\\boxed{3}$. On second thought the answer is $\\boxed{5}$."),
        ("3", "$\\boxed{3}$ $\\boxed{5}$"),
        ("3", "$\\boxed{3}$ or $\\boxed{5}$"),
    ],
)
def test_hedged_answers_score_zero(grade: Grade, gold: str, completion: str) -> None:
    result = grade(gold, completion)
    assert result.value == 0.0, result.details
    assert result.details["reason"] == "hedged"


@pytest.mark.parametrize(("gold", "answer"), [("2", "3=2"), ("5", "1=2=3=4=5"), ("3", "x = 2 = 3"), ("4", "2+2=5=4")])
def test_false_statements_score_zero(grade: Grade, gold: str, answer: str) -> None:
    result = grade(gold, boxed(answer))
    assert result.value == 0.0, result.details
    assert result.details["reason"] == "false_statement"


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("391", "17 \\times 23 = 391"),  # working before a closed result is not part of the answer
        ("3", "x = 2 + 1 = 3"),
        ("\\frac{\\sqrt{2}}{2}", "\\frac{\\sqrt{2}}{2} \\approx 0.707"),  # an approximation to the digits written
        ("3.14", "\\pi \\approx 3.14"),
    ],
)
def test_true_statements_pass(grade: Grade, gold: str, answer: str) -> None:
    assert grade(gold, boxed(answer)).value == 1.0, grade(gold, boxed(answer)).details


def test_a_wrong_approximation_is_a_false_statement(grade: Grade) -> None:
    result = grade("\\pi", boxed("\\pi \\approx 3.5"))
    assert result.value == 0.0 and result.details["reason"] == "false_statement"


# Unfinished reasoning: the shared conventions of verifier.split_reasoning.


def test_unfinished_reasoning_under_a_prefilled_think_tag_has_no_answer(grade: Grade) -> None:
    completion = "Maybe it is \\boxed{3}. Hmm, let me check again and"
    assert grade("3", completion).value == 1.0  # no tags and no think_in_prompt: the text is the answer
    result = grade("3", completion, think_in_prompt=True)
    assert result.value == 0.0 and result.details["reason"] == "no_answer"
    assert "never closed" in result.details["note"]
    assert grade("3", completion + "</think>The answer is $\\boxed{3}$.", think_in_prompt=True).value == 1.0


def test_math_reads_a_renamed_reasoning_tag(grade: Grade) -> None:
    completion = "<reasoning>the answer is \\boxed{4}</reasoning>So the answer is $\\boxed{3}$."
    assert grade("3", completion, think_tag="reasoning").value == 1.0
    assert grade("4", completion, think_tag="reasoning").value == 0.0
    unclosed = "<reasoning>Maybe it is \\boxed{3}. Hmm"
    result = grade("3", unclosed, think_tag="reasoning")
    assert result.value == 0.0 and result.details["reason"] == "no_answer"
    assert "<reasoning>" in result.details["note"]


def test_reasoning_reopened_after_the_answer_has_no_answer(grade: Grade) -> None:
    completion = "<think>a</think>The answer is $\\boxed{3}$.<think>but maybe 5"
    assert grade("3", completion).details["reason"] == "no_answer"


# Notation.


@pytest.mark.parametrize(
    ("gold", "answer", "value"),
    [
        ("1000", "1\\,000", 1.0),
        ("0", "1\\,000", 0.0),
        ("1234567", "1\\,234\\,567", 1.0),
        ("\\frac{1}{3}", "0.\\overline{3}", 1.0),
        ("0", "0.\\overline{3}", 0.0),
        ("\\frac{1}{6}", "0.1\\overline{6}", 1.0),
        ("50", "50\\%", 1.0),
        ("0.5", "50\\%", 0.0),  # one reading of the percent sign: a unit
        ("50\\%", "0.5", 0.0),
        ("10^{-7}", "0.0000004", 0.0),  # a relative tolerance, not rounding to 6 places
        ("10^{-7}", "0.0000001", 1.0),
        ("\\frac{1}{3}", "0.333333", 1.0),
        ("\\frac{1}{3}", "0.3333", 0.0),
        ("1234567.4", "1234567.5", 1.0),  # relative: the 8th significant digit
        ("1234567.4", "1234569", 0.0),
        ("1234567", "1234568", 0.0),  # integers are compared exactly
        ("12345678", "12345678.000001", 1.0),
    ],
)
def test_notation(grade: Grade, gold: str, answer: str, value: float) -> None:
    result = grade(gold, boxed(answer))
    assert result.value == value, result.details


def test_precision_still_works_as_a_relative_tolerance(grade: Grade) -> None:
    assert grade("\\frac{1}{3}", boxed("0.3333"), precision=4).value == 1.0
    assert grade("\\frac{1}{3}", boxed("0.3333"), rel_tol=1e-4).value == 1.0
    assert grade("\\frac{1}{3}", boxed("0.33"), precision=4).value == 0.0


# The false negatives of issue 14: each scored 0.0 before.

SOLUTIONS = "\\frac{1}{2}, \\frac{-1 - \\sqrt{13}}{4}, \\frac{-1 + \\sqrt{13}}{4}"


@pytest.mark.parametrize(
    ("gold", "completion"),
    [
        ("3", "So $x=\\boxed{3}$. Checking the original equation confirms it, so the answer is $\\boxed{3}$."),
        ("\\pm 2", boxed("x = \\pm 2")),
        ("12:00", boxed("12:00")),
        ("(3,2)", boxed("(p,q)=(3,2)")),
        ("(p,q)=(3,2)", boxed("(3,2)")),
        ("\\frac{1}{2}, \\frac{-1 \\pm \\sqrt{13}}{4}", boxed("x = \\frac{1}{2}, x = \\frac{-1 \\pm \\sqrt{13}}{4}")),
        ("x = \\frac{1}{2}, x = \\frac{-1 \\pm \\sqrt{13}}{4}", boxed(SOLUTIONS)),
        ("\\boxed{1} and \\boxed{-2}", "$\\boxed{-2, 1}$"),
        ("\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).", "$\\boxed{-2, 1}$."),
        ("2:30 \\text{ p.m.}", boxed("14:30")),
    ],
)
def test_right_answers_the_old_grader_refused(grade: Grade, gold: str, completion: str) -> None:
    result = grade(gold, completion)
    assert result.value == 1.0, (result.details, result.error)


def test_clock_times_differ_by_their_minutes(grade: Grade) -> None:
    assert grade("12:00", boxed("1:00")).value == 0.0
    assert grade("7:32", boxed("14:64")).value == 1.0  # not a clock time: a ratio equal to 7:32


def test_a_list_of_solutions_is_not_one_part(grade: Grade) -> None:
    assert grade("\\frac{1}{2}, 3", boxed("x = \\frac{1}{2}, x = 3")).value == 1.0
    assert grade("\\frac{1}{2}, 3", boxed("x = \\frac{1}{2}, x = 4")).value == 0.0
    assert grade("\\frac{1}{2}", boxed("x = \\frac{1}{2}, x = 3")).value == 0.0


# Our own attacks: false positives a policy would try next (score 0.0) and right answers in odd dress (1.0).

OWN_ATTACKS = [
    # boxes
    ("3", "$\\boxed{}$ and $\\boxed{3}$", 0.0, "an empty box next to the answer is a second, disagreeing answer"),
    ("3", "\\boxed{\\boxed{3}}", 1.0, "a box in a box is the same answer"),
    ("5", "\\boxed{\\boxed{3}} \\boxed{5}", 0.0, "two boxes with different values"),
    ("3", "\\boxed{3}" * 20, 1.0, "the same answer boxed many times is one answer"),
    ("3", "".join(f"\\boxed{{{k}}} " for k in range(1, 40)), 0.0, "boxing every candidate"),
    ("3", boxed("3, 3"), 1.0, "a set with a repeated element is that element"),
    # text wrappers and hidden content
    ("3", boxed("3\\text{5}"), 0.0, "digits inside \\text are digits: 35, not 3 with a unit"),
    ("35", boxed("3\\text{5}"), 1.0, "what is written is 35"),
    ("3", boxed("3\\phantom{5}"), 0.0, "hidden content"),
    ("5", boxed("\\phantom{3}5"), 0.0, "hidden content"),
    ("5", boxed("\\color{red}{5}"), 1.0, "colour is styling"),
    ("5", boxed("\\textcolor{blue}{5}"), 1.0, "colour is styling"),
    ("5", boxed("\\text{5}"), 1.0, "a number inside \\text is that number"),
    ("5", boxed("\\textbf{5}"), 1.0, "bold is styling"),
    # unicode
    ("3", boxed("３"), 1.0, "a fullwidth digit is a digit"),
    ("35", boxed("3\u200b5"), 1.0, "a zero-width space inside a number is invisible"),
    ("3", boxed("3\u200b5"), 0.0, "the visible number is 35"),
    ("3", boxed("\u0663"), 1.0, "an Arabic-Indic three is three"),
    ("3", boxed("\U0001d7d1"), 1.0, "a mathematical bold three is three"),
    ("9", boxed("３²"), 0.0, "a superscript two is a power of a number: not final"),
    ("x^2", boxed("x²"), 1.0, "a superscript two is a square"),
    # infinity and undefined values
    ("5", boxed("\\infty"), 0.0, "infinity is not a number"),
    ("\\infty", boxed("-\\infty"), 0.0, "the sign of infinity matters"),
    ("\\infty", boxed("\\infty"), 1.0, "infinity"),
    ("5", boxed("\\infty - \\infty"), 0.0, "undefined"),
    ("0", boxed("\\frac{0}{0}"), 0.0, "undefined"),
    ("5", boxed("\\frac{5}{0}"), 0.0, "division by zero is not 5"),
    # approximations, tolerance, scientific notation, negative zero
    ("\\pi", boxed("\\approx 3.14"), 0.0, "an approximation is not the exact value"),
    ("\\pi", boxed("3.1415926535"), 1.0, "ten decimals of pi are within 1e-6"),
    ("0", boxed("-0"), 1.0, "negative zero is zero"),
    ("0", boxed("0.0000001"), 0.0, "zero is only equal to zero: the tolerance is relative"),
    ("5 \\times 10^{-7}", boxed("0.0000005"), 1.0, "scientific notation"),
    ("6.02 \\times 10^{23}", boxed("6.02 \\times 10^{23}"), 1.0, "scientific notation"),
    ("6.02 \\times 10^{23}", boxed("6.03 \\times 10^{23}"), 0.0, "scientific notation, wrong mantissa"),
    # intervals and inequalities
    ("(1, 2)", boxed("1 < x < 2"), 0.0, "an inequality is not an interval unless set_relation"),
    ("[1, 2]", boxed("[1, 2)"), 0.0, "an endpoint"),
    ("(-\\infty, 3]", boxed("x \\le 3"), 0.0, "an inequality is not an interval unless set_relation"),
    ("(1, 3)", boxed("3, 1"), 0.0, "a point read in the order written"),
    # units
    ("10", boxed("10 \\text{ cm or 12 cm}"), 0.0, "alternatives hidden in a unit"),
    ("10", boxed("10 \\text{ maybe}"), 0.0, "a doubt hidden as a unit"),
    ("10", boxed("10 \\text{ cm}"), 1.0, "a unit"),
    ("10", boxed("10 \\text{ is not the answer}"), 0.0, "a negation hidden as a unit"),
    ("10", boxed("10?"), 0.0, "a question is not an answer"),
    ("3", boxed("3 \\ldots"), 0.0, "an unfinished list"),
    ("2", boxed("2 \\text{ or more}"), 0.0, "an open-ended answer"),
    ("\\frac{\\pi}{6}", boxed("30^\\circ"), 0.0, "degrees are not radians: one reading, no answer covers both"),
    ("2", boxed("x \\in \\{2, 3\\}"), 0.0, "membership in a set of candidates"),
    # functions of numbers
    ("3", boxed("\\log_2 8"), 0.0, "a function of numbers is not evaluated for the policy"),
    ("\\frac{1}{2}", boxed("\\sin \\frac{\\pi}{6}"), 0.0, "a function of numbers"),
    ("4", boxed("\\sqrt{16}"), 0.0, "an exact root"),
    ("6", boxed("\\gcd(12, 18)"), 0.0, "a function of numbers"),
    ("1024", boxed("2^{10}"), 0.0, "a power of numbers"),
    ("2\\sqrt{2}", boxed("\\sqrt{8}"), 1.0, "a radical is a final form"),
    ("391", boxed("(17)(23)"), 0.0, "a product of parenthesised numbers"),
    ("391", boxed("17 \\cdot (23)"), 0.0, "a product with a parenthesised number"),
    ("40", boxed("17(23)"), 0.0, "juxtaposed numbers (latex2sympy reads 17(23) as 40)"),
    ("391", boxed("17{\\times}23"), 0.0, "a braced operator (latex2sympy reads it as 17)"),
    ("3", boxed("|-3|"), 0.0, "the absolute value of a number"),
    ("3", boxed("\\lfloor 3.5 \\rfloor"), 0.0, "the floor of a number"),
    ("391", boxed("\\frac{17 \\cdot 23}{1}"), 0.0, "arithmetic inside a fraction"),
    ("391", boxed("\\frac{782}{2}"), 1.0, "an unreduced fraction is a written number (a form question)"),
    # variables and matrices
    ("\\frac{a}{b}", boxed("a/b"), 1.0, "a quotient of variables"),
    ("\\frac{a}{b}", boxed("\\frac{b}{a}"), 0.0, "the inverse"),
    ("x + 1", boxed("x + 1 = x + 1"), 1.0, "an identity whose sides agree"),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        boxed("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}^{1}"),
        0.0,
        "a matrix power is arithmetic",
    ),
    ("-2", boxed("\\begin{vmatrix} 1 & 2 \\\\ 3 & 4 \\end{vmatrix}"), 0.0, "a determinant written with bars"),
    ("\\{1, 2, 3\\}", boxed("\\{\\{1, 2, 3\\}\\}"), 0.0, "a set of a set"),
    ("\\{1, 2\\}", boxed("\\{1, 2, 2\\}"), 1.0, "a repeated element"),
    # long and huge answers
    ("5", boxed("5" + " " * 3000), 1.0, "trailing spaces"),
    ("5", boxed("+".join(["0"] * 600) + "+5"), 0.0, "a very long box"),
    ("2, 3", boxed(", ".join(str(k) for k in range(100))), 0.0, "listing every number"),
]


@pytest.mark.parametrize(("gold", "completion", "value", "why"), OWN_ATTACKS, ids=[c[3] for c in OWN_ATTACKS])
def test_own_attacks(grade: Grade, gold: str, completion: str, value: float, why: str) -> None:
    result = grade(gold, completion)
    assert result.value == value, (why, result.details, result.error)


def test_boxes_are_the_parts_of_a_multi_part_reference(grade: Grade) -> None:
    two = "$\\boxed{(3, 3)}$ for part (a), and for part (b) we find $\\boxed{(1, 1)}$."
    assert grade("(3, 3), (1, 1)", two).value == 1.0
    assert grade("(3, 3)", two).value == 0.0
    assert grade("1", "$\\boxed{3}$ for part (a), and $\\boxed{1}$ for (b).").details["reason"] == "hedged"
    three = "First $\\boxed{3}$, then $\\boxed{5}$, and to be safe also $\\boxed{7}$."
    assert grade("3, 5", three).value == 0.0  # an extra candidate is an extra part
    assert grade("(2, 2), (6, 2)", "$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$$").value == 1.0


def test_or_lists_solutions_when_the_reference_has_several(grade: Grade) -> None:
    assert grade("3, 5", boxed("3 \\text{ or } 5")).value == 1.0
    assert grade("3, 5", "The answer is $3$ or $5$.").value == 1.0
    assert grade("3, 5", boxed("3 \\text{ or } 6")).value == 0.0
    assert grade("x = 3 \\text{ or } x = 5", boxed("5, 3")).value == 1.0


def test_the_reference_may_use_words_the_answer_uses(grade: Grade) -> None:
    assert grade("\\text{no solution}", boxed("\\text{no solution}")).value == 1.0
    assert grade("x \\neq 3", boxed("x \\ne 3")).value == 1.0


@pytest.mark.parametrize(
    ("gold", "completion", "reason"),
    [
        ("3", "The answer is $3$ or $5$.", "wrong"),  # math-verify reads both: a set of two parts for one
        ("3", "The answer is $3$, maybe $5$.", "hedged"),
        ("5", "So we get $\\boxed{3}$. On second thought the answer is $\\boxed{5}$.", "hedged"),
        ("5", boxed("\\int_0^1 10x\\,dx"), "unfinished"),
        ("2", boxed("3=2"), "false_statement"),
    ],
)
def test_the_math_verify_method_refuses_the_same_attacks(grade: Grade, gold: str, completion: str, reason: str) -> None:
    result = grade(gold, completion, extract=["math_verify"])
    assert result.value == 0.0 and result.details["reason"] == reason, result.details
