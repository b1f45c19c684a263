"""The ``code`` reward looks for the program in the answer as ``verifier.split_reasoning`` defines it: code
inside the reasoning is not run, and a completion whose reasoning never ended has no program (0.0)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.code.live import LiveReward, live_reward
from tests.system import needs_bwrap

pytestmark = needs_bwrap

ADD = {"tests": [{"input": "1 2\n", "output": "3\n"}]}
RIGHT = "```python\na, b = map(int, input().split())\nprint(a + b)\n```\n"
WRONG = "```python\nprint(0)\n```\n"


@pytest.fixture(scope="module")
def live() -> Iterator[LiveReward]:
    with live_reward({"backend": "process", "isolation": "bwrap"}) as reward:
        yield reward


def test_code_only_inside_the_reasoning_is_not_run(live: LiveReward) -> None:
    unclosed, inside, after, prefilled, prefilled_unclosed, custom = live.score_all(
        (f"<think>Let me write it.\n{RIGHT}", ADD, {}),
        (f"<think>{RIGHT}</think>\n{WRONG}", ADD, {}),
        (f"<think>{WRONG}</think>\nHere:\n{RIGHT}", ADD, {}),
        (f"I think so.\n</think>\n{RIGHT}", ADD, {"think_in_prompt": True}),
        (f"still thinking {RIGHT}", ADD, {"think_in_prompt": True}),
        (f"<reasoning>{WRONG}</reasoning>\n{RIGHT}", ADD, {"think_tag": "reasoning"}),
    )
    assert unclosed.value == 0.0 and unclosed.details["reason"] == "no_answer"
    assert inside.value == 0.0
    assert after.value == 1.0
    assert prefilled.value == 1.0
    assert prefilled_unclosed.value == 0.0 and prefilled_unclosed.details["reason"] == "no_answer"
    assert custom.value == 1.0
