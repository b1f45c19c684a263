"""A ``code`` reward built from plugin options as the host builds it, its lifespan entered once on one event
loop for a whole test module (starting a sandbox per test would cost most of the suite's time)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import verifier_code

from verifier import Reward, RewardItem, Score
from verifier.types import PluginConfig

Case = tuple[str, Any, dict[str, Any]]


def fenced(code: str, tag: str = "python") -> str:
    return f"Here it is:\n```{tag}\n{code}\n```\n"


class LiveReward:
    def __init__(self, runner: asyncio.Runner, reward: Reward) -> None:
        self.runner = runner
        self.reward = reward

    def score_all(self, *cases: Case) -> list[Score]:
        """Score the cases as one batch (one call of the reward, as one /v1/verify request makes)."""
        items = [
            RewardItem(
                index=i,
                completion=completion,
                reference=reference,
                params=self.reward.params.model_validate(params),
            )
            for i, (completion, reference, params) in enumerate(cases)
        ]

        async def go() -> list[Score]:
            result = self.reward.score(items)
            scores = await result if inspect.isawaitable(result) else result
            assert all(isinstance(s, Score) for s in scores), "the code reward returns a Score for every item"
            return [s for s in scores if isinstance(s, Score)]

        return self.runner.run(go())

    def score(self, completion: str, reference: Any, **params: Any) -> Score:
        [result] = self.score_all((completion, reference, params))
        return result

    @property
    def scorer(self) -> Any:
        """The reward's own object (``CodeReward``), for its checker counters."""
        return self.reward.score


@contextmanager
def live_reward(options: dict[str, Any]) -> Iterator[LiveReward]:
    [reward] = verifier_code.register_rewards(config=PluginConfig("code", options))
    assert reward.lifespan is not None
    with asyncio.Runner() as runner:
        context = reward.lifespan()
        runner.run(context.__aenter__())
        try:
            yield LiveReward(runner, reward)
        finally:
            runner.run(context.__aexit__(None, None, None))
