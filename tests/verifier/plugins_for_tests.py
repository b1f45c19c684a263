"""Small plugins the host tests register directly (no entry points)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from pydantic import BaseModel, ConfigDict

from verifier import Health, PluginConfig, Reward, RewardItem, Score, hookimpl


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = 1.0
    offset: float = 0.0


def echo(items: Sequence[RewardItem]) -> list[Score]:
    """Scores the float written in the completion (``"none"`` does not apply, ``"boom"`` is an error)."""
    out = []
    for item in items:
        text = item.completion_text.strip()
        params = item.params
        assert isinstance(params, EchoParams)
        if text == "none":
            out.append(Score(None))
        elif text == "boom":
            out.append(Score(None, error="boom for this item"))
        else:
            out.append(Score(float(text) * params.scale + params.offset, {"seen": text}))
    return out


async def async_length(items: Sequence[RewardItem]) -> list[float]:
    await asyncio.sleep(0)
    return [float(len(item.completion_text)) for item in items]


def explode(items: Sequence[RewardItem]) -> list[float]:
    raise RuntimeError("the pool is gone")


def wrong_count(items: Sequence[RewardItem]) -> list[float]:
    return [1.0] * (len(items) + 1)


def not_finite(items: Sequence[RewardItem]) -> list[float]:
    return [math.nan for _ in items]


def slow(items: Sequence[RewardItem]) -> list[float]:
    time.sleep(1.0)
    return [1.0 for _ in items]


class BaseExceptionish(BaseException):
    """Math-Verify's timeout derives from BaseException; the host must survive such things."""


def raises_base_exception(items: Sequence[RewardItem]) -> list[float]:
    raise BaseExceptionish("timeout from a library")


def seen_scores(items: Sequence[RewardItem]) -> list[Score]:
    return [Score(float(len(item.scores)), {"scores": dict(item.scores)}) for item in items]


class Lifecycle:
    """Records lifespan entry/exit and reports health from a mutable status."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.status = "ok"

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        self.events.append("start")
        try:
            yield
        finally:
            self.events.append("stop")

    def health(self) -> Health:
        return Health(self.status, f"status is {self.status}")  # type: ignore[arg-type]

    def __call__(self, items: Sequence[RewardItem]) -> list[float]:
        return [1.0 for _ in items]


lifecycle = Lifecycle()


@hookimpl
def register_rewards(config: PluginConfig) -> list[Reward]:
    return [
        Reward(name="echo", description="the number in the completion", score=echo, params=EchoParams),
        Reward(
            name="async_length",
            description="completion length, scored by an async function",
            score=async_length,
        ),
        Reward(name="explode", description="always raises", score=explode),
        Reward(name="wrong_count", description="returns one result too many", score=wrong_count),
        Reward(name="not_finite", description="returns NaN", score=not_finite),
        Reward(name="slow", description="sleeps a second", score=slow),
        Reward(name="base_exc", description="raises a BaseException subclass", score=raises_base_exception),
        Reward(
            name="seen_scores",
            description="reports the verdicts it can read",
            score=seen_scores,
            reads_scores=True,
        ),
        Reward(
            name="lifecycle",
            description="has a lifespan and a health check",
            score=lifecycle,
            lifespan=lifecycle.lifespan,
            health=lifecycle.health,
        ),
    ]
