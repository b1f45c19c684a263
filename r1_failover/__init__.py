"""Round robin over interchangeable endpoints, with a cool-down for the ones that just failed.

A caller asks ``order()`` for the endpoints to try, in turn, and reports ``failed(endpoint)`` or
``succeeded(endpoint)``. Each order starts one endpoint further along than the last (so concurrent calls
spread over all of them); an endpoint that failed less than ``cooldown_s`` ago goes to the back, after every
endpoint not cooling down, and is never dropped: when all the others fail it is still tried.

Stdlib only and importing nothing of ours: the sandbox (a leaf), the trainer (which must not import the
sandbox) and the judge plugin share it. Thread-safe. It pickles without its state (TRL pickles reward
functions): a copy starts at the first endpoint with none cooling down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

__all__ = ["Rotation"]

T = TypeVar("T", bound=Hashable)


class Rotation(Generic[T]):
    """Endpoints ``members`` (URLs, indices: anything hashable) in round-robin order, cooled ones last."""

    def __init__(
        self, members: Iterable[T], *, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if cooldown_s < 0:
            raise ValueError(f"cooldown_s must not be negative, got {cooldown_s}")
        self.members = tuple(members)
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._turn = 0
        self._down_until: dict[T, float] = {}

    def order(self) -> list[T]:
        """Every member once per occurrence, starting at the next one in turn; those cooling down last."""
        if not self.members:
            return []
        with self._lock:
            start = self._turn
            self._turn = (start + 1) % len(self.members)
            now = self.clock()
            rotated = self.members[start:] + self.members[:start]
            cooling = {m for m in rotated if self._down_until.get(m, now) > now}
        return [m for m in rotated if m not in cooling] + [m for m in rotated if m in cooling]

    def failed(self, member: T) -> None:
        """``member`` did not answer (or answered as broken): to the back for ``cooldown_s`` seconds."""
        with self._lock:
            self._down_until[member] = self.clock() + self.cooldown_s

    def succeeded(self, member: T) -> None:
        """``member`` answered: it takes its turn again at once."""
        with self._lock:
            self._down_until.pop(member, None)

    def __getstate__(self) -> dict[str, Any]:
        return {"members": self.members, "cooldown_s": self.cooldown_s, "clock": self.clock}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()
