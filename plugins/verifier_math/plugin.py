"""The hook implementation: the ``math`` reward."""

from __future__ import annotations

from verifier import PluginConfig, Reward, hookimpl
from verifier_math.params import MathOptions, MathParams
from verifier_math.reward import MathReward


@hookimpl
def register_rewards(config: PluginConfig) -> list[Reward]:
    reward = MathReward(config.parse(MathOptions))
    return [
        Reward(
            name="math",
            description="1.0 when the completion's final answer is mathematically equal to the reference, else 0.0",
            score=reward,
            params=MathParams,
            deterministic=True,  # a grading that ran out of time is not reused (Score.cacheable)
            lifespan=reward.lifespan,
            health=reward.health,
        )
    ]
