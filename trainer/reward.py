"""``RemoteReward``: a TRL reward function whose scores come from the verifier over HTTP.

    from trainer import RemoteReward
    trainer = GRPOTrainer(..., reward_funcs=[RemoteReward("math"), RemoteReward("format")],
                          args=GRPOConfig(..., reward_weights=[1.0, 0.2]))
    # or one server-side preset of rewards, weights and params (GET /v1/profiles):
    trainer = GRPOTrainer(..., reward_funcs=[RemoteReward(profile="r1-distill")])

TRL calls it with the batch's prompts, completions and completion ids, plus every dataset column as a keyword
argument; it builds one verifier item per completion (see ``trainer.columns`` for the column mapping), sends
the batch in one request (or in concurrent chunks when it is large) and returns the verifier's ``reward`` per
item: a float, or ``None`` where no requested reward applies (TRL then leaves that completion out).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import orjson

from trainer.columns import DEFAULT_COLUMNS, ColumnMap
from trainer.errors import RemoteRewardError, VerifierUnreachableError
from trainer.transport import VerifierPool
from verifier.client import DEFAULT_URL
from verifier.schemas import ItemResult, Params, RewardInfo, Weights

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
# Keyword arguments TRL adds for reward functions that are not dataset columns.
_TRL_KWARGS = frozenset({"trainer_state", "log_extra", "log_metric", "environments", "completion_ids"})


class RemoteReward:
    """A picklable TRL reward function backed by the verifier.

    Args:
        rewards: a reward name, a list of names (weight 1 each) or a mapping of name to weight. With several,
            the value returned per completion is the verifier's weighted sum of the rewards that apply.
            Optional with ``profile`` (then they replace the profile's rewards).
        profile: a reward profile of the verifier: its rewards, weights and params (``params`` here override
            the profile's field by field).
        urls: one verifier URL or several (replicas): batches are spread over them and fail over between them.
        name: what TRL logs this function as (``rewards/<name>/mean``); defaults to the reward name, or the
            names joined with ``+``.
        params: request-level parameters per reward, e.g. ``{"format": {"answer_tag": "answer"}}``.
        columns: dataset column → item field (``trainer.columns``); defaults to ``DEFAULT_COLUMNS``.
        chunk_size: batches larger than this are split into chunks sent concurrently.
        max_concurrency: most chunks in flight at once.
        timeout, retries, backoff: per request, per URL (``verifier.client`` retries connect errors, 429, 5xx).
        on_error: ``"raise"`` (default) stops training when no verifier answers; ``"skip"`` scores the failed
            chunks ``None`` and logs a warning, which makes TRL ignore those completions.
        send_prompt: include the prompt in each item (rewards such as ``language`` or a judge read it).
        log_details: put each reward's score and the verifier's details into TRL's completions table.
    """

    def __init__(
        self,
        rewards: str | Sequence[str] | Mapping[str, float] | None = None,
        urls: str | Sequence[str] = DEFAULT_URL,
        *,
        profile: str | None = None,
        name: str | None = None,
        params: Params | None = None,
        columns: Mapping[str, str] | None = None,
        chunk_size: int = 512,
        max_concurrency: int = 4,
        timeout: float = 300.0,
        retries: int = 2,
        backoff: float = 0.5,
        on_error: OnError = "raise",
        send_prompt: bool = True,
        log_details: bool = True,
    ) -> None:
        self.rewards: Weights | None = (
            None if rewards is None else [rewards] if isinstance(rewards, str) else _weights(rewards)
        )
        self.profile = profile
        if self.rewards is None and profile is None:
            raise ValueError("RemoteReward needs a reward name or a profile")
        if self.rewards is not None and not self.rewards:
            raise ValueError("RemoteReward needs at least one reward name")
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error is 'raise' or 'skip'")
        if chunk_size < 1 or max_concurrency < 1:
            raise ValueError("chunk_size and max_concurrency must be at least 1")
        self.__name__ = name or ("+".join(self.rewards) if self.rewards is not None else str(profile))
        self.params = params
        self.columns = ColumnMap(dict(DEFAULT_COLUMNS if columns is None else columns))
        self.chunk_size = chunk_size
        self.max_concurrency = max_concurrency
        self.on_error: OnError = on_error
        self.send_prompt = send_prompt
        self.log_details = log_details
        self.pool = VerifierPool(urls, timeout=timeout, retries=retries, backoff=backoff)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._schemas: dict[str, RewardInfo] | None = None
        self._profile_rewards: list[str] | None = None

    @property
    def reward_names(self) -> list[str]:
        """The rewards each completion gets: the given ones, else the profile's (asked of the verifier once)."""
        if self.rewards is not None:
            return list(self.rewards)
        with self._lock:
            if self._profile_rewards is None:
                offered = {info.name: info for info in self.pool.profiles()}
                info = offered.get(str(self.profile))
                if info is None:
                    raise RemoteRewardError(
                        f"the verifier has no profile {self.profile!r}; it offers {', '.join(sorted(offered))}"
                    )
                self._profile_rewards = list(info.rewards)
            return list(self._profile_rewards)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_lock", "_executor", "_schemas", "_profile_rewards"):
            del state[key]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def __repr__(self) -> str:
        profile = f", profile={self.profile!r}" if self.profile is not None else ""
        return f"RemoteReward({self.rewards!r}, urls={self.pool.urls!r}{profile}, name={self.__name__!r})"

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] = (),
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        """Score a TRL batch: one float or ``None`` per completion, in order."""
        results = self.score(prompts, completions, completion_ids, **kwargs)
        return [None if r is None else r.reward for r in results]

    def score(
        self,
        prompts: Sequence[Any] | None,
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[ItemResult | None]:
        """The verifier's full result per completion (``None`` for chunks skipped by ``on_error="skip"``)."""
        started = time.perf_counter()
        items = self.build_items(prompts, completions, completion_ids, kwargs)
        chunks = [items[i : i + self.chunk_size] for i in range(0, len(items), self.chunk_size)]
        if len(chunks) <= 1:
            per_chunk = [self._score_chunk(chunk) for chunk in chunks]
        else:
            per_chunk = list(self._pool_executor().map(self._score_chunk, chunks))
        results: list[ItemResult | None] = []
        for chunk, scored in zip(chunks, per_chunk, strict=True):
            results.extend(scored if scored is not None else [None] * len(chunk))
        self._log(results, kwargs.get("log_extra"), kwargs.get("log_metric"), time.perf_counter() - started)
        return results

    def build_items(
        self,
        prompts: Sequence[Any] | None,
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None,
        columns: Mapping[str, Any],
    ) -> list[dict[str, Any]]:
        """The verifier items for a TRL batch (exposed for inspection and tests)."""
        items: list[dict[str, Any]] = [{"completion": c} for c in completions]
        if self.send_prompt and prompts is not None:
            for item, prompt in zip(items, prompts, strict=True):
                item["prompt"] = prompt
        if completion_ids is not None:
            for item, ids in zip(items, completion_ids, strict=True):
                item["completion_tokens"] = len(ids)
        data = {k: v for k, v in columns.items() if k not in _TRL_KWARGS and isinstance(v, list | tuple)}
        self.columns.apply(items, data, self.reward_names, self._declares)
        return items

    def _score_chunk(self, items: list[dict[str, Any]]) -> list[ItemResult] | None:
        try:
            response = self.pool.verify(items, rewards=self.rewards, params=self.params, profile=self.profile)
        except VerifierUnreachableError:
            if self.on_error == "raise":
                raise
            log.warning("%s: verifier unreachable, %d completions scored None", self.__name__, len(items))
            return None
        if len(response.results) != len(items):
            raise VerifierUnreachableError(
                self.pool.urls, ValueError(f"{len(response.results)} results for {len(items)} items")
            )
        return response.results

    def _declares(self, reward: str, field: str) -> bool:
        with self._lock:
            if self._schemas is None:
                self._schemas = {info.name: info for info in self.pool.rewards()}
            info = self._schemas.get(reward)
        return info is not None and field in info.params_schema.get("properties", {})

    def _pool_executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="remote-reward")
            return self._executor

    def _log(
        self,
        results: Sequence[ItemResult | None],
        log_extra: Callable[[str, list[Any]], None] | None,
        log_metric: Callable[[str, float], None] | None,
        seconds: float,
    ) -> None:
        """Feed TRL's completions table (``log_extra``) and metrics (``log_metric``), when TRL offers them."""
        if log_metric is not None:
            log_metric(f"verifier/{self.__name__}/seconds", seconds)
            skipped = sum(r is None for r in results)
            log_metric(f"verifier/{self.__name__}/skipped_fraction", skipped / max(len(results), 1))
            errored = sum(bool(r is not None and r.errors) for r in results)
            log_metric(f"verifier/{self.__name__}/error_fraction", errored / max(len(results), 1))
        if not self.log_details or log_extra is None:
            return
        names = self.reward_names
        if len(names) > 1:
            for reward in names:
                log_extra(reward, [None if r is None else r.scores.get(reward) for r in results])
        log_extra(f"{self.__name__} details", [_details_text(r) for r in results])

    def close(self) -> None:
        """Stop the chunk threads and close the verifier connections."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        self.pool.close()

    def __enter__(self) -> RemoteReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _weights(rewards: Sequence[str] | Mapping[str, float]) -> Weights:
    if isinstance(rewards, Mapping):
        return {str(k): float(v) for k, v in rewards.items()}
    return [str(r) for r in rewards]


def _details_text(result: ItemResult | None) -> str:
    if result is None:
        return "skipped: verifier unreachable"
    shown: dict[str, Any] = {}
    for reward, details in result.details.items():
        if details:
            shown[reward] = details
    if result.errors:
        shown["errors"] = result.errors
    return orjson.dumps(shown).decode() if shown else ""
