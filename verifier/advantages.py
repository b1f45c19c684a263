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

    A ``None`` reward counts as 0.0, as TRL's ``nansum`` over reward functions makes it. The std is the
    unbiased sample std (``torch.std``), so a group of one has std NaN and its advantage is NaN there; we
    return 0.0 for such a group instead, since one sample carries no relative signal.
    """
    if group_size < 1 or len(rewards) % group_size:
        raise InvalidRequestError(
            [{"loc": ["group_size"], "msg": f"{len(rewards)} items do not split into groups of {group_size}"}]
        )
    values = [0.0 if r is None else float(r) for r in rewards]
    batch_std = _std(values)
    out: list[float] = []
    for start in range(0, len(values), group_size):
        group = values[start : start + group_size]
        mean = sum(group) / len(group)
        std = _std(group) if scale_rewards == "group" else batch_std
        for value in group:
            centred = value - mean
            if scale_rewards == "none":
                out.append(centred)
            elif math.isnan(std):
                out.append(0.0)
            else:
                out.append(centred / (std + STD_EPSILON))
    return out


def _std(values: Sequence[float]) -> float:
    if len(values) < 2:
        return math.nan
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
