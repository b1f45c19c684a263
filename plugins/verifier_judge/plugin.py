"""The hook implementation: the ``judge`` reward."""

from __future__ import annotations

from pydantic import field_validator

from verifier import PluginConfig, PluginError, Reward, hookimpl
from verifier_judge.options import JudgeOptions, JudgeParams
from verifier_judge.reward import JudgeReward
from verifier_judge.reward_model import RewardModelParams, RewardModelReward
from verifier_judge.templates import build_templates


def params_for(template_names: list[str]) -> type[JudgeParams]:
    """``JudgeParams`` that accept only the configured template names (an unknown one is a 422)."""
    allowed = frozenset(template_names)

    class ConfiguredJudgeParams(JudgeParams):
        @field_validator("template")
        @classmethod
        def _known_template(cls, value: str | None) -> str | None:
            if value is not None and value not in allowed:
                raise ValueError(f"unknown judge template {value!r}; configured: {', '.join(sorted(allowed))}")
            return value

    ConfiguredJudgeParams.__name__ = ConfiguredJudgeParams.__qualname__ = "JudgeParams"
    return ConfiguredJudgeParams


@hookimpl
def register_rewards(config: PluginConfig) -> list[Reward]:
    options = config.parse(JudgeOptions)
    try:
        templates = build_templates(options.templates)
    except ValueError as exc:
        raise PluginError(config.plugin, str(exc)) from exc
    if options.default_template not in templates:
        raise PluginError(
            config.plugin,
            f"default_template {options.default_template!r} is not a template; configured: {sorted(templates)}",
        )
    scorer = JudgeReward(options, templates)
    outcome = RewardModelReward(options.reward_model)
    return [
        Reward(
            name="judge",
            description="An LLM judge's 1-10 grade of the final answer against a rubric template, mapped to [0, 1]",
            score=scorer,
            params=params_for(sorted(templates)),
            lifespan=scorer.lifespan,
            health=scorer.health,
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
