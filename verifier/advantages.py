"""GRPO group-relative advantages, computed the way TRL's GRPOTrainer computes them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from verifier.errors import InvalidRequestError

ScaleRewards = Literal["group", "batch", "none"]
STD_EPSILON = 1e-4  # TRL divides by (std + 1e-4)


def group_advantages(
    rewards: Sequence[float | None], group_size: int, scale_rewards: ScaleRewards = "group"
) -> list[float]:
    """Reward minus its group's mean, divided by the group's (or batch's) sample std unless ``"none"``.

    As in TRL (>= 1.16), a ``None`` reward (no reward applied to the item) is unscorable: it is left out of
    its group's mean and std and its own advantage is 0.0, so it neither moves the policy nor biases the
    baseline of the others. The std is the unbiased sample std over the scored items (TRL's ``nanstd``);
    where it is undefined (fewer than two scored items), TRL's NaN advantage becomes 0.0, as there.
    """
    if group_size < 1 or len(rewards) % group_size:
        raise InvalidRequestError(
            [{"loc": ["group_size"], "msg": f"{len(rewards)} items do not split into groups of {group_size}"}]
        )
    batch_std = _nanstd(rewards)
    out: list[float] = []
    for start in range(0, len(rewards), group_size):
        group = rewards[start : start + group_size]
        scored = [float(r) for r in group if r is not None]
        mean = sum(scored) / len(scored) if scored else math.nan
        std = _nanstd(group) if scale_rewards == "group" else batch_std
        for value in group:
            if value is None:
                out.append(0.0)
                continue
            advantage = float(value) - mean
            if scale_rewards != "none":
                advantage /= std + STD_EPSILON
            out.append(0.0 if math.isnan(advantage) else advantage)
    return out


def _nanstd(values: Sequence[float | None]) -> float:
    """Sample std of the non-null values; NaN for fewer than two (TRL's ``nanstd``)."""
    scored = [float(v) for v in values if v is not None]
    if len(scored) < 2:
        return math.nan
    mean = sum(scored) / len(scored)
    return math.sqrt(sum((v - mean) ** 2 for v in scored) / (len(scored) - 1))
