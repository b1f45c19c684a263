"""A bounded in-memory cache of judgments, so re-scoring the same completion is free."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

from verifier_judge.metrics import CACHE_LOOKUPS


def cache_key(model: str, template: str, order: str, prompt: str, answer: str, reference: str | None) -> str:
    """A digest of everything that decides a judgment: the template's full text (not only its name) and the
    order the responses were shown in (a pairwise template is asked both ways)."""
    payload = json.dumps([model, template, order, prompt, answer, reference], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class JudgmentCache:
    """Least recently used first out; ``size`` 0 keeps nothing."""

    def __init__(self, size: int, reward: str = "judge") -> None:
        self.size = size
        self._hit = CACHE_LOOKUPS.labels(reward, "hit")
        self._miss = CACHE_LOOKUPS.labels(reward, "miss")
        self._data: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._data.get(key)
        if value is None:
            self.misses += 1
            self._miss.inc()
            return None
        self._data.move_to_end(key)
        self.hits += 1
        self._hit.inc()
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self.size == 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
