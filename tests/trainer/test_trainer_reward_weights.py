"""Two ways to weight rewards give TRL the same training signal.

One ``RemoteReward({"exact": 1.0, "format": 0.5})`` (one request, the verifier sums) and two ``RemoteReward``s
with ``GRPOConfig(reward_weights=[1.0, 0.5])`` (TRL sums) yield the same per-completion reward and the same
advantages, ``None`` scores included; they differ in what TRL logs and in the number of requests.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from tests.trainer.conftest import CountingApp
from tests.trainer.test_trainer_advantages import trl_advantages
from trainer import RemoteReward

# exact is None where the reference is missing; format always applies
COMPLETIONS = [
    "<think>\nx\n</think>\n\\boxed{4}",
    "\\boxed{4}",
    "<think>\nx\n</think>\n\\boxed{5}",
    "no answer",
    "<think>\ny\n</think>\n\\boxed{7}",
    "\\boxed{7}",
    "<think>\n</think>\n",
    "<think>\nz\n</think>\n\\boxed{1}",
]
SOLUTIONS: list[str | None] = ["4", "4", "4", "4", "7", None, "7", None]
WEIGHTS = {"exact": 1.0, "format": 0.5}


def test_one_weighted_remote_reward_equals_trl_reward_weights(start_verifier: object) -> None:
    url, app = start_verifier()  # type: ignore[operator]
    assert isinstance(app, CountingApp)
    kwargs = {"prompts": ["p"] * len(COMPLETIONS), "completions": COMPLETIONS, "solution": SOLUTIONS}

    combined = RemoteReward(WEIGHTS, url)(**kwargs)
    separate = [RemoteReward(name, url)(**kwargs) for name in WEIGHTS]
    assert app.verify_requests == 3  # one for the combined function, one per separate function

    # TRL's own sum over reward functions (nansum: a None score adds nothing)
    def trl_sum(row: tuple[float | None, ...]) -> float | None:
        present = [w * v for w, v in zip(WEIGHTS.values(), row, strict=True) if v is not None]
        return sum(present) if present else None

    per_completion = list(zip(*separate, strict=True))
    assert combined == pytest.approx([trl_sum(row) for row in per_completion])
    assert None in separate[0]  # the case where the two could differ is exercised

    for group_size in (2, 4):
        with_weights = trl_advantages(per_completion, list(WEIGHTS.values()), group_size, "group")
        one_function = trl_advantages([[v] for v in combined], [1.0], group_size, "group")
        assert one_function == pytest.approx(with_weights, abs=1e-6)
