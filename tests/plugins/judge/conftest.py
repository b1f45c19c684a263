"""Judge stubs on real uvicorn servers, and a helper that scores items through the ``judge`` reward."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import anyio
import pytest
import verifier_judge

from tests.plugins.judge.openai_stub import OpenAIStub
from verifier import PluginConfig, Reward, RewardItem, Score


@pytest.fixture
def start_stub(live_server: Callable[[Any], str]) -> Iterator[Callable[..., tuple[str, OpenAIStub]]]:
    """Start stand-in judges; any request they hold is released before the servers stop."""
    started: list[OpenAIStub] = []

    def start(**kwargs: Any) -> tuple[str, OpenAIStub]:
        stub = OpenAIStub(**kwargs)
        started.append(stub)
        return live_server(stub.app()), stub

    yield start
    for stub in started:
        stub.released.set()


@pytest.fixture
def dead_url() -> str:
    """A 127.0.0.1 URL where nothing listens (connections are refused at once)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def judge_reward(options: dict[str, Any], name: str = "judge") -> Reward:
    rewards = verifier_judge.register_rewards(config=PluginConfig("judge", options))
    return next(r for r in rewards if r.name == name)


def options_for(*urls: str, **extra: Any) -> dict[str, Any]:
    return {"endpoints": [{"url": u} for u in urls], "model": "judge-model", "backoff_s": 0.0} | extra


def score_batches(
    options: dict[str, Any], *batches: Sequence[dict[str, Any]], reward_name: str = "judge"
) -> list[list[Score]]:
    """Score each batch in turn through one reward (one lifespan, so the cache carries over)."""
    reward = judge_reward(options, reward_name)

    async def go() -> list[list[Score]]:
        assert reward.lifespan is not None
        out = []
        async with reward.lifespan():
            for batch in batches:
                items = [
                    RewardItem(
                        index=i,
                        completion=item["completion"],
                        prompt=item.get("prompt"),
                        reference=item.get("reference"),
                        params=reward.params.model_validate(item.get("params", {})),
                    )
                    for i, item in enumerate(batch)
                ]
                out.append(list(await reward.score(items)))  # the judge scores asynchronously
        return out

    return anyio.run(go)


def score_one(options: dict[str, Any], **item: Any) -> Score:
    return score_batches(options, [item])[0][0]
