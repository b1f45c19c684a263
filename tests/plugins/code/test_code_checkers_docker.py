"""Checkers, scoring modes and dataset shapes through the docker backend (warm containers of a real engine):
the same verdicts as on bubblewrap."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.code.live import LiveReward, fenced, live_reward
from tests.plugins.code.test_code_checker_attacks import PLANT_FILES, STEAL_ANSWER
from tests.plugins.code.test_code_checker_attacks import TESTS as RIGHT_ANSWERS
from tests.plugins.code.test_code_checkers import (
    CMS_CPP,
    NEGATIVE,
    ONE_AND_REST,
    ONES,
    TESTLIB_CPP,
    TESTLIB_PY,
    TWO_AND_REST,
    reference,
)
from tests.plugins.code.test_code_scoring import IOI, SMALL_ONLY
from tests.plugins.code.test_code_shapes import ADD, CODECONTESTS_ROW, LCB_FUNCTIONAL_ROW, SUB, TWO_SUM
from tests.system import require_docker

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def live() -> Iterator[LiveReward]:
    require_docker()
    with live_reward({"backend": "docker", "docker": {"warm_containers": 1, "max_containers": 3}}) as reward:
        yield reward


def test_testlib_checkers_python_and_cpp(live: LiveReward) -> None:
    for source, language in ((TESTLIB_PY, "python"), (TESTLIB_CPP, "cpp")):
        ref = reference(source, language=language)
        scores = live.score_all(
            (fenced(ONE_AND_REST), ref, {}), (fenced(TWO_AND_REST), ref, {}), (fenced(ONES), ref, {})
        )
        assert [s.value for s in scores] == [1.0, 1.0, 0.0], language
        assert scores[2].details["first_failure"]["status"] == "wrong_answer"


def test_cms_cpp_checker_partial_score(live: LiveReward) -> None:
    ref = reference(CMS_CPP, "cms", "cpp")
    right, partial = live.score_all((fenced(ONE_AND_REST), ref, {}), (fenced(NEGATIVE), ref, {}))
    assert (right.value, partial.value) == (1.0, 0.5)


def test_checker_failure_is_null(live: LiveReward) -> None:
    crash = live.score(fenced(ONE_AND_REST), reference("raise RuntimeError('bug')"))
    assert crash.value is None and crash.error is not None and "exit 3" in crash.error


def test_planted_and_stolen_answer_files(live: LiveReward) -> None:
    planted, stolen = live.score_all(
        (fenced(PLANT_FILES), reference(TESTLIB_PY, tests=RIGHT_ANSWERS), {}),
        (fenced(STEAL_ANSWER), reference(TESTLIB_PY, tests=RIGHT_ANSWERS), {}),
    )
    assert (planted.value, stolen.value) == (0.0, 0.0)


def test_shapes_groups_and_compile_error(live: LiveReward) -> None:
    scores = live.score_all(
        (fenced(ADD), CODECONTESTS_ROW, {}),
        (fenced(SUB), CODECONTESTS_ROW, {}),
        (fenced(TWO_SUM), LCB_FUNCTIONAL_ROW, {}),
        (fenced(SMALL_ONLY), IOI, {"scoring": "groups"}),
        (fenced("int main( {", "cpp"), IOI, {"language": "cpp", "compile_error_score": -1.0}),
    )
    assert [s.value for s in scores] == [1.0, 0.25, 1.0, pytest.approx(0.3), -1.0]
