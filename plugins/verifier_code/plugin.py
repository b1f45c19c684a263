"""The hook implementation: the ``code`` reward."""

from __future__ import annotations

from sandbox.factory import SandboxOptions, make_executor
from verifier import PluginConfig, PluginError, Reward, hookimpl
from verifier_code.reward import CodeParams, CodeReward


class CodeOptions(SandboxOptions):
    """Plugin options (``plugin_options.code`` in the host settings): where the reward runs programs."""


@hookimpl
def register_rewards(config: PluginConfig) -> list[Reward]:
    options = config.parse(CodeOptions)
    try:
        executor = make_executor(options)
    except ValueError as exc:
        raise PluginError(config.plugin, str(exc)) from exc
    scorer = CodeReward(executor)
    return [
        Reward(
            name="code",
            description="Share of the reference's tests (stdio, asserts, function calls; checkers, IOI groups) "
            "the program passes",
            score=scorer,
            params=CodeParams,
            deterministic=True,  # a verdict that hit a time limit says so (Score.cacheable) and is not reused
            lifespan=scorer.lifespan,
            health=scorer.health,
        )
    ]
