"""Verdicts: the known failure cases of math graders, equivalence classes, and a public corpus of answer pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.math.conftest import Grade

CORPUS = Path(__file__).parent / "data" / "math_cases_public.jsonl"  # provenance: data/README.md


def boxed(answer: str) -> str:
    return f"Some reasoning first. Therefore the final answer is $\\boxed{{{answer}}}$."


# The verdict bugs users reported against plain math-verify graders.


@pytest.mark.parametrize(
    ("gold", "pred"),
    [("\\dfrac{\\pi}{2}", "pi/2"), ("pi/2", "\\dfrac{\\pi}{2}"), ("\\frac{\\pi}{2}", "π/2"), ("2\\pi", "2pi")],
)
def test_plain_pi_equals_latex_pi(grade: Grade, gold: str, pred: str) -> None:
    assert grade(gold, boxed(pred)).value == 1.0


def test_markdown_bold_answer_is_extracted(grade: Grade) -> None:
    result = grade("73", "Adding the two counts gives a total of **73**")
    assert result.value == 1.0 and result.details["method"] == "bold"
    result = grade("73", "So the total is **73** apples, not 75.")
    assert result.value == 1.0 and result.details["method"] == "bold"


@pytest.mark.parametrize(
    ("gold", "pred", "value"),
    [
        ("\\pm 2", "2", 0.0),
        ("\\pm 2", "-2", 0.0),
        ("\\pm 2", "\\pm 2", 1.0),
        ("\\pm 2", "2, -2", 1.0),
        ("1 \\pm \\sqrt{3}", "1 + \\sqrt{3}", 0.0),
        ("1 \\pm \\sqrt{3}", "1 - \\sqrt{3}, 1 + \\sqrt{3}", 1.0),
        ("2", "\\pm 2", 0.0),
    ],
)
def test_plus_minus_needs_both_signs(grade: Grade, gold: str, pred: str, value: float) -> None:
    assert grade(gold, boxed(pred)).value == value


@pytest.mark.parametrize(
    ("gold", "completion", "value"),
    [
        ("3, 5", boxed("3"), 0.0),
        ("3, 5", boxed("5, 3"), 1.0),
        ("3, 5", boxed("3, 5, 7"), 0.0),
        ("3", boxed("3, 5"), 0.0),
        ("3", "The answer is 3 or 5.", 0.0),
        ("(1, 2)", boxed("1"), 0.0),
        ("(1, 2)", boxed("(2, 1)"), 0.0),
        ("(1, 2)", boxed("(1, 2)"), 1.0),
        ("x = 2, y = 3", boxed("x = 2"), 0.0),
        ("2, -2", "The roots are $\\boxed{2}$ and $\\boxed{-2}$.", 1.0),
        ("2, -2", "The roots are $\\boxed{2}$ and $\\boxed{-3}$.", 0.0),
    ],
)
def test_multi_part_answers_pass_only_when_every_part_matches(
    grade: Grade, gold: str, completion: str, value: float
) -> None:
    assert grade(gold, completion).value == value


def test_lenient_multipart_accepts_one_listed_alternative(grade: Grade) -> None:
    assert grade("3, 5", boxed("3"), strict_multipart=False).value == 1.0
    assert grade("3, 5", boxed("4"), strict_multipart=False).value == 0.0


# Equivalence classes: (gold, prediction, equal?)

EQUIVALENCE: dict[str, list[tuple[str, str, bool]]] = {
    "fractions_decimals": [
        ("\\frac{1}{2}", "0.5", True),
        ("0.5", "\\frac{1}{2}", True),
        ("\\frac{1}{3}", "0.333333", True),
        ("\\frac{1}{3}", "0.33", False),
        ("2.5", "\\frac{5}{2}", True),
        ("918.5", "918\\frac{1}{2}", True),
        ("5", "5.001", False),
        ("1,234", "1234", True),
    ],
    "frac_dfrac_slash": [
        ("\\frac{3}{4}", "\\dfrac{3}{4}", True),
        ("\\frac{3}{4}", "\\tfrac34", True),
        ("\\frac{3}{4}", "3/4", True),
        ("\\frac{3}{4}", "4/3", False),
        ("\\frac{\\sqrt{3}}{2}", "\\sqrt{3}/2", True),
    ],
    "percent": [
        ("50\\%", "50", True),
        ("50\\%", "50\\%", True),
        ("12.5\\%", "12.5", True),
        ("12.5\\%", "0.125", False),  # the percent sign is a unit: 12.5% is 12.5, never 0.125
        ("12.5", "12.5\\%", True),
        ("12.5\\%", "13", False),
        ("50\\%", "60", False),
    ],
    "degrees": [
        ("30^\\circ", "30", True),
        ("30", "30^{\\circ}", True),
        ("30°", "30", True),
        ("30^\\circ", "60^\\circ", False),
    ],
    "text_units": [
        ("10 \\text{ cm}", "10", True),
        ("10", "10\\text{ cm}^2", True),
        ("\\$18.90", "18.90", True),
        ("5 \\text{ apples}", "5", True),
        ("10 weeks", "10", True),
        ("10 \\text{ cm}", "12", False),
    ],
    "radicals": [
        ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True),
        ("2\\sqrt{2}", "\\sqrt{8}", True),
        ("\\sqrt{3}", "1.7320508", True),
        ("\\sqrt{3}", "\\sqrt{2}", False),
    ],
    "intervals": [
        ("[1, 2)", "[1,2)", True),
        ("(-\\infty, 3]", "(-\\infty,3]", True),
        ("[1, 2)", "(1, 2)", False),
        ("(0, 1) \\cup (2, 3)", "(2, 3) \\cup (0, 1)", True),
        ("(0, 1) \\cup (2, 3)", "(0, 1)", False),
    ],
    "sets": [
        ("\\{1, 2, 3\\}", "\\{3, 2, 1\\}", True),
        ("\\{1, 2, 3\\}", "\\{1, 2\\}", False),
        ("\\{1, 2\\}", "1, 2", True),
    ],
    "matrices": [
        ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}", True),
        ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 4 & 3 \\end{pmatrix}", False),
        ("\\begin{pmatrix} \\frac12 \\\\ 1 \\end{pmatrix}", "\\begin{pmatrix} 0.5 \\\\ 1 \\end{pmatrix}", True),
    ],
    "equations": [
        ("y = 2x + 1", "y = 1 + 2x", True),
        ("y = 2x + 1", "2x + 1", True),
        ("y = 2x + 1", "y = 2x - 1", False),
        ("x = 3", "3", True),
        ("x + y = 1", "y = 1 - x", True),
    ],
    "symbolic": [
        ("x^2 + 2x + 1", "(x + 1)^2", True),
        ("\\sin^2 x + \\cos^2 x", "1", True),
        ("\\frac{x}{2}", "0.5x", True),
        ("x^2 - 1", "(x - 1)(x + 1)", True),
        ("x^2 + 1", "x^2 - 1", False),
        ("\\ln 8", "3\\ln 2", True),
    ],
}


@pytest.mark.parametrize(
    ("gold", "pred", "equal"),
    [pytest.param(*case, id=f"{name}-{i}") for name, cases in EQUIVALENCE.items() for i, case in enumerate(cases)],
)
def test_equivalence_classes(grade: Grade, gold: str, pred: str, equal: bool) -> None:
    result = grade(gold, boxed(pred))
    assert result.value == (1.0 if equal else 0.0), result.details
    assert result.details["reason"] == ("correct" if equal else "wrong")


# Conventions where graders disagree, written for this suite: each pins the reading ours takes.


@pytest.mark.parametrize(
    ("gold", "pred", "value"),
    [
        pytest.param("\\sqrt{2}", "1.414", 0.0, id="tolerance-rel-1e-6"),
        pytest.param("20\\pi", "62.832", 0.0, id="tolerance-pi"),
        pytest.param("25\\%", "0.25", 0.0, id="percent-is-a-unit"),
        pytest.param("7km", "7", 1.0, id="units-dropped"),
        pytest.param("3 + 4i", "i(4 - 3i)", 0.0, id="i-is-a-variable"),
        pytest.param("g(x) = 3x - 1", "y = 3x - 1", 0.0, id="strict-variables"),
        pytest.param("\\begin{matrix} \\frac14 \\\\ 2 \\end{matrix}", "[0.25, 2]", 0.0, id="list-not-column-vector"),
        pytest.param("\\cos(90^{\\circ} - x)", "\\sin(x)", 0.0, id="degrees-in-trig-not-converted"),
    ],
)
def test_conventions_where_graders_differ(grade: Grade, gold: str, pred: str, value: float) -> None:
    result = grade(gold, boxed(pred))
    assert result.value == value, (result.details, result.error)


# The public corpus (tests/plugins/math/data/README.md). Each row pins the verdict of one upstream grader; the
# conventions differ, so the rows where ours differs are listed with our verdict and why, and pinned too.

KNOWN_DIFFERENCES: dict[str, tuple[float | None, str]] = {
    "math-0276": (1.0, "a comma-separated list is a set of solutions here; hendrycks compares strings in order"),
    "math-0284": (1.0, "a comma-separated list is a set of solutions here; hendrycks compares strings in order"),
    "math-0403": (None, "an empty reference is unusable: null + error, not 0.0"),
}


def _corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _corpus_params() -> list[Any]:
    return [pytest.param(row, id=row["id"]) for row in _corpus()]


@pytest.mark.parametrize("row", _corpus_params())
def test_public_corpus_row(grade: Grade, row: dict[str, Any]) -> None:
    result = grade(row["gold"], boxed(row["pred"]))
    if row["id"] in KNOWN_DIFFERENCES:
        ours, _why = KNOWN_DIFFERENCES[row["id"]]
        assert result.value == ours, (row, result.details, result.error)
        assert ours is None or (ours == 1.0) != row["expected"]
        assert (result.value is None) == (result.error is not None)
    else:
        assert result.value == (1.0 if row["expected"] else 0.0), (row, result.details, result.error)


def test_known_differences_name_rows_of_the_corpus() -> None:
    ids = {row["id"] for row in _corpus()}
    assert set(KNOWN_DIFFERENCES) <= ids
