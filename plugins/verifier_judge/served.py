"""What the rewards backed by a model server share: the client's lifespan, health probes, cache, token count."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

from verifier import Health, ReasoningTags, split_reasoning
from verifier_judge.cache import JudgmentCache
from verifier_judge.client import ChatClient
from verifier_judge.metrics import Outcome, record_call, record_tokens
from verifier_judge.options import ServerOptions


def judged_text(completion: str, tags: ReasoningTags, whole: bool) -> tuple[str | None, str]:
    """What a model is shown, and where it came from (``verifier.split_reasoning``'s source, or
    ``whole_completion``). ``None`` when the reasoning never ended: there is no answer, so nothing is sent,
    whether or not the reasoning would be shown too (an unfinished completion earns nothing from any reward)."""
    split = split_reasoning(completion, tags)
    if split.answer is None:
        return None, split.source
    if whole:
        return completion.strip(), "whole_completion"
    return split.answer.strip(), split.source


def cut_middle(text: str, limit: int) -> tuple[str, int]:
    """``text`` within ``limit`` characters and how many were left out: the middle goes, marked where it was;
    the start and the end (where the conclusion is) stay."""
    if len(text) <= limit:
        return text, 0
    marker = "\n[... {} characters left out here by the grading service ...]\n"
    budget = limit - len(marker.format(len(text)))
    head = budget // 3
    tail = budget - head
    omitted = len(text) - head - tail
    return text[:head] + marker.format(omitted) + text[len(text) - tail :], omitted


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
