"""What the rewards backed by a model server share: the client's lifespan, health probes, cache, token count."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

from verifier import Health
from verifier_judge.cache import JudgmentCache
from verifier_judge.client import ChatClient
from verifier_judge.metrics import Outcome, record_call, record_tokens
from verifier_judge.options import ServerOptions


def final_answer(completion: str, end_tag: str) -> tuple[str, str]:
    """The text after the last ``end_tag`` and where it came from (``after_tag`` or ``no_end_tag``: then the
    whole completion, since it has no separate reasoning)."""
    _, tag, tail = completion.rpartition(end_tag)
    if tag:
        return tail.strip(), "after_tag"
    return completion.strip(), "no_end_tag"


class ServedReward:
    """Owns one ``ChatClient`` (opened by ``lifespan``), a result cache and the tokens spent."""

    name = "judge"  # the reward's name, as the metrics label it

    def __init__(self, options: ServerOptions, where: str) -> None:
        self.options = options
        self.client = ChatClient(options, where=where, reward=self.name)
        self.cache = JudgmentCache(options.cache_size, reward=self.name)
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        self._health = Health("ok", "not checked yet")
        self._monitor: asyncio.Task[None] | None = None

    def count(self, usage: Mapping[str, int]) -> None:
        for key, value in usage.items():
            self.usage[key] = self.usage.get(key, 0) + value
        record_tokens(self.name, usage)

    def answered(self, endpoint: str, outcome: Outcome) -> None:
        """Count an answer the client returned: ``ok``, or ``unparseable`` when it holds no score."""
        record_call(self.name, endpoint, outcome)

    def health(self) -> Health:
        """The last probe's verdict, with what the reward has cost so far."""
        spent = (
            f"cache {self.cache.hits} hits / {self.cache.misses} misses, "
            f"{self.usage['prompt_tokens']} prompt + {self.usage['completion_tokens']} completion tokens"
        )
        return Health(self._health.status, f"{self._health.message}; {spent}")

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[ServedReward]:
        async with self.client:
            self._health = await self.client.probe()
            self._monitor = asyncio.create_task(self._watch_health())
            try:
                yield self
            finally:
                self._monitor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._monitor

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(self.options.health_interval_s)
            self._health = await self.client.probe()
