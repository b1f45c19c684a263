"""The verdict cache: a deterministic reward's verdict on an item it has seen before is reused, not recomputed.

GRPO samples several completions per prompt, and late in training many of a group are identical; the same
rollouts also come back when a step is retried or a batch re-scored. For a reward registered with
``deterministic=True`` the verdict is a function of what the key below covers, so scoring it again is waste.

- The key is SHA-256 over an unambiguous encoding: every field is length-prefixed, so no choice of completion
  can make two different (reward, params, completion, reference, ...) tuples encode alike. It covers the reward
  and its plugin (name, version, options), the validated params (the reasoning-tag fields and a profile's
  params included), the completion, the prompt, the reference, the completion's token count, and the other
  rewards' scores for a reward that reads them. Values are canonical JSON (sorted keys), so ``"1"`` and ``1``
  and a text and a chat completion stay apart.
- Only a success is stored: no ``error`` and not marked ``cacheable=False`` (a verdict that hung on the
  machine, such as a timeout under load). A null caused by a dead pool or an unreachable sandbox always carries
  an error, so it is scored afresh next time.
- The bound is in bytes: an entry counts its serialised verdict, its key and a fixed overhead; the least
  recently used entries go first. One cache serves the whole process (``shared_cache``), behind a lock, since
  several apps or event loops may score in one process.
- Within one batch, identical items of a reward are scored once and the verdict is handed to each of them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from verifier.registry import RegisteredReward
from verifier.types import RewardItem, Score

log = logging.getLogger(__name__)

KEY_VERSION = b"r1-verifier verdict key v1"
"""Changes whenever the encoding below changes, so that old keys can never match new ones."""

ENTRY_OVERHEAD_BYTES = 160
"""What one entry costs beyond its key and serialised verdict (the dict slot, object headers), roughly."""


@dataclass
class CacheStats:
    """Counters since the cache was created; ``lookups`` per reward as (hits, misses)."""

    max_bytes: int
    bytes: int = 0
    entries: int = 0
    evictions: int = 0
    lookups: dict[str, list[int]] = field(default_factory=dict)

    @property
    def hits(self) -> int:
        return sum(h for h, _ in self.lookups.values())

    @property
    def misses(self) -> int:
        return sum(m for _, m in self.lookups.values())


class VerdictCache:
    """Verdicts by key, least recently used out first once ``max_bytes`` is reached."""

    def __init__(self, max_bytes: int) -> None:
        self._lock = threading.Lock()
        self._data: OrderedDict[bytes, bytes] = OrderedDict()
        self._stats = CacheStats(max_bytes)

    @property
    def max_bytes(self) -> int:
        return self._stats.max_bytes

    def get(self, reward: str, key: bytes) -> Score | None:
        """The stored verdict, counted as a hit or a miss of ``reward``."""
        with self._lock:
            blob = self._data.get(key)
            counts = self._stats.lookups.setdefault(reward, [0, 0])
            if blob is None:
                counts[1] += 1
                return None
            self._data.move_to_end(key)
            counts[0] += 1
        value, details = orjson.loads(blob)
        return Score(value, details)

    def count_hit(self, reward: str) -> None:
        """A verdict served without scoring that did not come from ``get`` (a duplicate within a batch)."""
        with self._lock:
            self._stats.lookups.setdefault(reward, [0, 0])[0] += 1

    def put(self, key: bytes, score: Score) -> bool:
        """Store a successful verdict; ``False`` when it is not one, cannot be serialised, or is too large."""
        if score.error is not None or not score.cacheable:
            return False
        try:
            blob = orjson.dumps([score.value, dict(score.details)])
        except TypeError:  # details that are not plain JSON: the response could not carry them alike
            return False
        size = _entry_size(key, blob)
        with self._lock:
            if size > self._stats.max_bytes:
                return False
            old = self._data.pop(key, None)
            if old is not None:
                self._stats.bytes -= _entry_size(key, old)
            self._data[key] = blob
            self._stats.bytes += size
            self._evict()
        return True

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self._stats.max_bytes = max_bytes
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._stats.bytes = 0

    def stats(self) -> CacheStats:
        """A copy of the counters, consistent with each other."""
        with self._lock:
            return replace(
                self._stats,
                entries=len(self._data),
                lookups={name: list(counts) for name, counts in self._stats.lookups.items()},
            )

    def __len__(self) -> int:
        return len(self._data)

    def _evict(self) -> None:
        while self._stats.bytes > self._stats.max_bytes and self._data:
            key, blob = self._data.popitem(last=False)
            self._stats.bytes -= _entry_size(key, blob)
            self._stats.evictions += 1


def _entry_size(key: bytes, blob: bytes) -> int:
    return len(key) + len(blob) + ENTRY_OVERHEAD_BYTES


_shared: VerdictCache | None = None
_shared_lock = threading.Lock()


def shared_cache(max_bytes: int) -> VerdictCache | None:
    """The process's one verdict cache, created on first use; ``None`` when ``max_bytes`` is 0 (off).

    A later caller asking for another size resizes it: the last configuration started wins.
    """
    global _shared
    if max_bytes <= 0:
        return None
    with _shared_lock:
        if _shared is None:
            _shared = VerdictCache(max_bytes)
        elif _shared.max_bytes != max_bytes:
            log.info("verdict cache resized from %d to %d bytes", _shared.max_bytes, max_bytes)
            _shared.resize(max_bytes)
        return _shared


def reward_identity(reward: str, plugin: str, version: str, options: Mapping[str, Any] | None) -> bytes | None:
    """The part of every key that names the reward and the plugin build and configuration scoring it."""
    encoded = _canonical(dict(options or {}))
    if encoded is None:
        return None
    return _fields(KEY_VERSION, reward.encode(), plugin.encode(), version.encode(), encoded)


def verdict_key(
    identity: bytes, item: RewardItem, reads_scores: bool, encoded_params: bytes | None = None
) -> bytes | None:
    """The key of ``item``'s verdict, or ``None`` when a field has no canonical encoding (then it is not cached).

    ``encoded_params`` is ``item.params`` already encoded, for callers that score many items with one params.
    """
    parts = [
        encoded_params if encoded_params is not None else _canonical(item.params.model_dump(mode="json")),
        _canonical(item.completion),
        _canonical(item.prompt),
        _canonical(item.reference),
        _canonical(item.completion_tokens),
        _canonical(dict(item.scores) if reads_scores else None),
    ]
    if any(p is None for p in parts):
        return None
    return hashlib.sha256(_fields(identity, *parts)).digest()  # type: ignore[arg-type]


def _canonical(value: object) -> bytes | None:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None


def _fields(*parts: bytes) -> bytes:
    """Each part preceded by its length in 8 bytes: the boundaries cannot be forged from inside a part."""
    return b"".join(len(p).to_bytes(8, "big") + p for p in parts)


def batch_lookup(
    cache: VerdictCache | None,
    entry: RegisteredReward,
    items: Sequence[RewardItem],
    uncached: Sequence[bool] | None = None,
) -> BatchLookup | None:
    """``items`` of ``entry`` against ``cache``; ``None`` (score them all) when the reward is not deterministic.
    ``uncached[i]``: item ``i`` neither reads nor fills the cache (its request said ``cache: false``; a batch
    may hold several requests' items)."""
    if cache is None or not entry.reward.deterministic or (uncached is not None and all(uncached)):
        return None
    options = entry.config.options if entry.config is not None else None
    identity = reward_identity(entry.name, entry.plugin.name, entry.plugin.version, options)
    if identity is None:
        return None
    return BatchLookup(cache, entry.name, identity, items, entry.reward.reads_scores, uncached)


class BatchLookup:
    """One reward's items of one batch against the cache: which still need scoring, and the full result list.

    ``to_score`` holds one item per distinct key not in the cache (renumbered 0..n-1, as a reward expects),
    plus every item that has no key; ``complete`` takes their verdicts, stores the successful ones and returns
    one verdict per original item, in order.
    """

    def __init__(
        self,
        cache: VerdictCache,
        reward: str,
        identity: bytes,
        items: Sequence[RewardItem],
        reads_scores: bool,
        uncached: Sequence[bool] | None = None,
    ) -> None:
        self.cache = cache
        self._found: list[Score | None] = [None] * len(items)
        self._keys: list[bytes | None] = []
        self._fills: list[list[int]] = []
        self.to_score: list[RewardItem] = []
        pending: dict[bytes, int] = {}
        params: dict[int, bytes | None] = {}  # items of a batch mostly share one params object: encode it once
        for position, item in enumerate(items):
            if id(item.params) not in params:
                params[id(item.params)] = _canonical(item.params.model_dump(mode="json"))
            key = (
                None
                if uncached and uncached[position]
                else verdict_key(identity, item, reads_scores, params[id(item.params)])
            )
            if key is not None:
                if key in pending:
                    self._fills[pending[key]].append(position)
                    cache.count_hit(reward)
                    continue
                hit = cache.get(reward, key)
                if hit is not None:
                    self._found[position] = hit
                    continue
                pending[key] = len(self.to_score)
            self._keys.append(key)
            self._fills.append([position])
            self.to_score.append(replace(item, index=len(self.to_score)))

    def complete(self, scores: Sequence[Score]) -> list[Score]:
        for key, positions, score in zip(self._keys, self._fills, scores, strict=True):
            if key is not None:
                self.cache.put(key, score)
            for position in positions:
                self._found[position] = score
        complete = [s for s in self._found if s is not None]
        assert len(complete) == len(self._found), "every item gets a verdict"
        return complete
