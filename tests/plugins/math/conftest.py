"""A real math worker pool shared by the grading tests, running on its own event loop in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any, Protocol

import pytest
from verifier_math import MathOptions, MathParams, MathReward

from verifier import RewardItem, Score


class Grade(Protocol):
    def __call__(self, reference: Any, completion: str, **params: Any) -> Score: ...


class PoolThread:
    """Owns a ``MathReward`` whose lifespan is entered on a private event loop; tests submit batches to it."""

    def __init__(self, options: MathOptions) -> None:
        self.reward = MathReward(options)
        self.loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with self.reward.lifespan():
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> PoolThread:
        self._thread.start()
        if not self._ready.wait(120):
            raise RuntimeError("the math pool did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        self.loop.close()

    def submit(self, items: list[RewardItem]) -> Future[list[Score]]:
        return asyncio.run_coroutine_threadsafe(self.reward(items), self.loop)

    def score(self, items: list[RewardItem]) -> list[Score]:
        return self.submit(items).result(300)


def item(reference: Any, completion: str, index: int = 0, **params: Any) -> RewardItem:
    return RewardItem(index=index, completion=completion, reference=reference, params=MathParams(**params))


@pytest.fixture(scope="session")
def math_pool() -> Iterator[PoolThread]:
    with PoolThread(MathOptions(workers=2)) as pool:
        yield pool


@pytest.fixture
def grade(math_pool: PoolThread) -> Grade:
    """Score one completion against a reference on the shared pool."""

    def run(reference: Any, completion: str, **params: Any) -> Score:
        [result] = math_pool.score([item(reference, completion, **params)])
        return result

    return run
