"""Admission control: a bounded number of batches scored at once, a bounded queue, then 429.

Without a bound, a trainer that fires faster than the rewards can score grows the server's memory until
it dies and takes every in-flight batch with it. With one, the excess gets ``429`` and ``Retry-After``
immediately (the client backs off and retries) and memory stays flat. While the server drains for
shutdown, new batches get ``503``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from verifier.errors import RequestError


class OverloadedError(RequestError):
    status = 429
    type = "overloaded"

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(
            f"{limit} batches (max_concurrent_batches + max_queued_batches) are already in; retry later",
            {"limit": "queued batches", "maximum": limit, "retry_after": retry_after},
        )
        self.retry_after = retry_after


class ShuttingDownError(RequestError):
    status = 503
    type = "shutting_down"

    def __init__(self) -> None:
        super().__init__("the verifier is shutting down; retry on another replica or after restart")


class Admission:
    def __init__(self, max_active: int, max_waiting: int, retry_after: int = 1) -> None:
        self.max_active = max_active
        self.max_total = max_active + max_waiting
        self.retry_after = retry_after
        self._slots = anyio.Semaphore(max_active)
        self.admitted = 0  # scoring or waiting for a slot
        self.draining = False

    @property
    def active(self) -> int:
        return self.max_active - self._slots.value

    @property
    def waiting(self) -> int:
        return self.admitted - self.active

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.draining:
            raise ShuttingDownError()
        if self.admitted >= self.max_total:
            raise OverloadedError(self.max_total, self.retry_after)
        self.admitted += 1
        try:
            async with self._slots:
                yield
        finally:
            self.admitted -= 1
