"""The hook implementation: the ``judge``, ``judge_fallback`` and ``reward_model`` rewards."""

from __future__ import annotations

from typing import TypeVar

from pydantic import field_validator

from verifier import PluginConfig, PluginError, Reward, hookimpl
from verifier_judge.fallback import JudgeFallback
from verifier_judge.options import JudgeFallbackParams, JudgeOptions, JudgeParams
from verifier_judge.reward import JudgeReward
from verifier_judge.reward_model import RewardModelParams, RewardModelReward
from verifier_judge.templates import build_templates

J = TypeVar("J", bound=JudgeParams)


def params_for(template_names: list[str], base: type[J]) -> type[J]:
    """``base`` params that accept only the configured template names (an unknown one is a 422)."""
    allowed = frozenset(template_names)

    class ConfiguredJudgeParams(base):  # type: ignore[valid-type,misc]
        @field_validator("template")
        @classmethod
        def _known_template(cls, value: str | None) -> str | None:
            if value is not None and value not in allowed:
                raise ValueError(f"unknown judge template {value!r}; configured: {', '.join(sorted(allowed))}")
            return value

    ConfiguredJudgeParams.__name__ = ConfiguredJudgeParams.__qualname__ = base.__name__
    return ConfiguredJudgeParams


@hookimpl
def register_rewards(config: PluginConfig) -> list[Reward]:
    options = config.parse(JudgeOptions)
    try:
        templates = build_templates(options.templates)
    except ValueError as exc:
        raise PluginError(config.plugin, str(exc)) from exc
    for option in ("default_template", "fallback_template"):
        name = getattr(options, option)
        if name not in templates:
            raise PluginError(config.plugin, f"{option} {name!r} is not a template; configured: {sorted(templates)}")
    scorer = JudgeReward(options, templates)
    outcome = RewardModelReward(options.reward_model)
    return [
        Reward(
            name="judge",
            description="An LLM judge's 1-10 grade of the final answer against a rubric template, mapped to [0, 1]",
            score=scorer,
            params=params_for(sorted(templates), JudgeParams),
            lifespan=scorer.lifespan,
            health=scorer.health,
        ),
        Reward(
            name="judge_fallback",
            description="A rule reward's score where it passes (e.g. math 1.0); the LLM judge decides the rest",
            score=JudgeFallback(scorer),
            params=params_for(sorted(templates), JudgeFallbackParams),
            reads_scores=True,
            health=scorer.health,  # the judge's client: its lifespan is the judge reward's
        ),
        Reward(
            name="reward_model",
            description="An outcome reward model's score of prompt + final answer (vLLM pooling API), in [0, 1]",
            score=outcome,
            params=RewardModelParams,
            lifespan=outcome.lifespan,
            health=outcome.health,
        ),
    ]
