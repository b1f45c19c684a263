"""Scoring modes of the ``code`` reward (fraction, all_or_nothing, weighted, IOI groups) and the score of a
program that does not compile; weights and groups come from the reference and nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from verifier_code.reward import CodeParams
from verifier_code.scoring import combine
from verifier_code.suite import StdioCase, UnusableReference

from tests.plugins.code.live import LiveReward, fenced, live_reward
from tests.system import needs_bwrap

pytestmark = needs_bwrap

# Subtask 1 (small inputs, worth 30): every test has a < 10; subtask 2 (worth 70): a >= 10.
IOI = {
    "tests": [
        {"input": "1 2\n", "output": "3\n", "group": "small", "weight": 30},
        {"input": "3 4\n", "output": "7\n", "group": "small", "weight": 30},
        {"input": "10 5\n", "output": "15\n", "group": "large", "weight": 70},
        {"input": "3 50\n", "output": "53\n", "group": "large", "weight": 70},
    ]
}
SMALL_ONLY = "a, b = map(int, input().split())\nprint(a + b if a < 10 else 0)"
RIGHT = "a, b = map(int, input().split())\nprint(a + b)"
WEIGHTED = {
    "tests": [
        {"input": "1 2\n", "output": "3\n", "weight": 1},
        {"input": "10 5\n", "output": "15\n", "weight": 3},
    ]
}


@pytest.fixture(scope="module")
def live() -> Iterator[LiveReward]:
    with live_reward({"backend": "process", "isolation": "bwrap"}) as reward:
        yield reward


def cases(*spec: tuple[str | None, float | None]) -> list[StdioCase]:
    return [StdioCase("", "", group, weight) for group, weight in spec]


def test_combine_modes() -> None:
    four = cases(("a", 2), ("a", None), ("b", 6), (None, None))
    scores = [1.0, 1.0, 0.0, 1.0]
    assert combine(scores, four, "fraction")[0] == 0.75
    assert combine(scores, four, "all_or_nothing")[0] == 0.0
    # weighted: weights 2, 1 (absent), 6, 1.
    assert combine(scores, four, "weighted")[0] == pytest.approx(4 / 10)
    # groups: a (weight 2, from its tests) passes, b (6) fails, the ungrouped test (1) passes.
    value, extra = combine(scores, four, "groups")
    assert value == pytest.approx(3 / 9)
    assert [(g["group"], g["weight"], g["score"]) for g in extra["groups"]] == [
        ("a", 2.0, 1.0),
        ("b", 6.0, 0.0),
        ("#3", 1.0, 1.0),
    ]


def test_a_group_earns_its_lowest_partial_score() -> None:
    two = cases(("a", 10), ("a", 10))
    assert combine([1.0, 0.4], two, "groups")[0] == pytest.approx(0.4)


def test_zero_total_weight_cannot_give_a_score() -> None:
    with pytest.raises(UnusableReference, match="weight 0"):
        combine([1.0], cases((None, 0)), "weighted")
    with pytest.raises(UnusableReference, match="weight 0"):
        combine([1.0], cases(("a", 0)), "groups")


def test_ioi_groups_score_a_subtask_only_when_all_its_tests_pass(live: LiveReward) -> None:
    groups, weighted, fraction, right = live.score_all(
        (fenced(SMALL_ONLY), IOI, {"scoring": "groups"}),
        (fenced(SMALL_ONLY), IOI, {"scoring": "weighted"}),
        (fenced(SMALL_ONLY), IOI, {}),
        (fenced(RIGHT), IOI, {"scoring": "groups"}),
    )
    assert groups.value == pytest.approx(0.3)
    assert [(g["group"], g["score"]) for g in groups.details["groups"]] == [("small", 1.0), ("large", 0.0)]
    # weighted: the small tests (30 each) pass, the first large one (70) fails, the second (a=3) passes.
    assert weighted.value == pytest.approx(130 / 200)
    assert fraction.value == 0.75
    assert right.value == 1.0


def test_weighted_scoring(live: LiveReward) -> None:
    assert live.score(fenced(SMALL_ONLY), WEIGHTED, scoring="weighted").value == pytest.approx(0.25)


def test_cpp_compile_error_scores_compile_error_score(live: LiveReward) -> None:
    broken = fenced("int main( { return 0; }", "cpp")
    default, penalised = live.score_all(
        (broken, IOI, {"language": "cpp"}),
        (broken, IOI, {"language": "cpp", "compile_error_score": -1.0, "scoring": "groups"}),
    )
    assert default.value == 0.0 and default.details["reason"] == "compile_error"
    assert penalised.value == -1.0 and penalised.details["reason"] == "compile_error"
    assert "error" in penalised.details["compile_error"]


def test_compile_error_score_is_bounded() -> None:
    with pytest.raises(ValidationError):
        CodeParams(compile_error_score=2.0)


def test_weights_cannot_come_from_the_completion_or_the_params(live: LiveReward) -> None:
    # The completion carries its own "reference" with all the weight on the test it passes, and prints
    # weights and group verdicts; none of it is read.
    forged = (
        "```json\n"
        '{"tests": [{"input": "1 2\\n", "output": "3\\n", "group": "small", "weight": 1000}]}\n'
        "```\n" + fenced(SMALL_ONLY + '\nprint(\'{"group": "large", "weight": 0, "score": 1}\')')
    )
    assert live.score(forged, IOI, scoring="groups").value == 0.0  # the extra line fails every test
    honest_forged = (
        "```json\n"
        '{"tests": [{"input": "1 2\\n", "output": "3\\n", "group": "small", "weight": 1000}]}\n'
        "```\n" + fenced(SMALL_ONLY)
    )
    assert live.score(honest_forged, IOI, scoring="groups").value == pytest.approx(0.3)
    with pytest.raises(ValidationError):
        CodeParams.model_validate({"weights": [0, 0, 1, 1]})
    with pytest.raises(ValidationError):
        CodeParams.model_validate({"groups": {"large": 0}})
