"""The verifier's GRPO advantages (``group_size``) equal TRL's own computation for the same rewards.

``trl_advantages`` below is TRL 1.16.0's ``GRPOTrainer._generate_and_score_completions``, branch
``multi_objective_aggregation == "sum_then_normalize"`` (trl/trainer/grpo_trainer.py, lines 2756-2810 of
1.16.0), run on one process, with TRL's own ``nanstd``. ``test_trl_still_computes_advantages_this_way``
fails when an upgrade of TRL changes those lines; the GRPO step test (test_trainer_grpo_step.py) also checks
the advantages a real GRPOTrainer step logs.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Sequence

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from trl import GRPOTrainer  # noqa: E402
from trl.trainer.utils import nanstd  # noqa: E402

from verifier.client import VerifierClient  # noqa: E402


def trl_advantages(
    rewards_per_func: Sequence[Sequence[float | None]],
    weights: Sequence[float],
    num_generations: int,
    scale_rewards: str,
) -> list[float]:
    rpf = torch.tensor(
        [[torch.nan if r is None else r for r in row] for row in rewards_per_func], dtype=torch.float32
    )
    reward_weights = torch.tensor(weights, dtype=torch.float32)
    unscorable_mask = torch.isnan(rpf).all(dim=1)
    rewards = (rpf * reward_weights.unsqueeze(0)).nansum(dim=1)
    rewards[unscorable_mask] = torch.nan
    mean_grouped_rewards = torch.nanmean(rewards.view(-1, num_generations), dim=1)
    mean_grouped_rewards = mean_grouped_rewards.repeat_interleave(num_generations, dim=0)
    if scale_rewards in ["group", "none"]:
        if num_generations > 1:
            std_rewards = nanstd(rewards.view(-1, num_generations), dim=1)
            std_rewards = std_rewards.repeat_interleave(num_generations, dim=0)
        else:
            std_rewards = torch.zeros_like(rewards)
    else:  # "batch"
        std_rewards = nanstd(rewards).expand_as(rewards) if rewards.numel() > 1 else torch.zeros_like(rewards)
    advantages = rewards - mean_grouped_rewards
    if scale_rewards != "none":
        advantages = advantages / (std_rewards + 1e-4)
    advantages = torch.nan_to_num(advantages, nan=0.0)
    return [float(a) for a in advantages.tolist()]


def verifier_advantages(
    url: str, values: Sequence[float | None], group_size: int, scale_rewards: str
) -> list[float | None]:
    completions = ["none" if v is None else repr(v) for v in values]
    with VerifierClient(url) as client:
        response = client.verify(
            [{"completion": c} for c in completions],
            rewards=["number"],
            group_size=group_size,
            scale_rewards=scale_rewards,
        )
    return [r.advantage for r in response.results]


def test_trl_still_computes_advantages_this_way() -> None:
    source = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    for line in (
        "unscorable_mask = torch.isnan(rewards_per_func).all(dim=1)",
        "rewards = (rewards_per_func * self.reward_weights.to(device).unsqueeze(0)).nansum(dim=1)",
        "rewards[unscorable_mask] = torch.nan",
        "mean_grouped_rewards = torch.nanmean(rewards.view(-1, num_generations), dim=1)",
        "std_rewards = nanstd(rewards.view(-1, num_generations), dim=1)",
        "std_rewards = nanstd(rewards).expand_as(rewards)",
        "advantages = advantages / (std_rewards + 1e-4)",
        "advantages = torch.nan_to_num(advantages, nan=0.0)",
    ):
        assert line in source, f"TRL {trl.__version__} changed its advantage code: {line!r} is gone"


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
@pytest.mark.parametrize("group_size", [2, 4, 8])
def test_advantages_match_trl(verifier_url: str, group_size: int, scale_rewards: str) -> None:
    rng = random.Random(group_size)
    values: list[float | None] = [round(rng.uniform(-1, 2), 3) for _ in range(group_size * 3)]
    values[:group_size] = [1.0] * group_size  # a group with no spread: advantage 0, not a division by 0
    values[group_size] = 0.0
    got = verifier_advantages(verifier_url, values, group_size, scale_rewards)
    expected = trl_advantages([[v] for v in values], [1.0], group_size, scale_rewards)
    assert got == pytest.approx(expected, abs=1e-4)


def test_weighted_rewards_with_some_none_match_trl_nansum(verifier_url: str) -> None:
    # number is None for two items, digits always applies: TRL's nansum ignores the None, as the verifier.
    completions = ["1", "none", "12", "3", "none", "0.5", "7", "22"]
    with VerifierClient(verifier_url) as client:
        response = client.verify(
            [{"completion": c} for c in completions], rewards={"number": 1.0, "digits": 0.5}, group_size=4
        )
    per_func = [[r.scores["number"], r.scores["digits"]] for r in response.results]
    expected = trl_advantages(per_func, [1.0, 0.5], 4, "group")
    assert [r.advantage for r in response.results] == pytest.approx(expected, abs=1e-4)


def test_unscorable_completions_match_trl(verifier_url: str) -> None:
    values: list[float | None] = [1.0, None, 0.0, 0.5, None, None, 2.0, 1.0]
    got = verifier_advantages(verifier_url, values, 4, "group")
    expected = trl_advantages([[v] for v in values], [1.0], 4, "group")
    assert got == pytest.approx(expected, abs=1e-4)
