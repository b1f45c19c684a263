"""Score a batch: plan which rewards each item needs, run each reward once over its items, combine.

Every item gets exactly one result. A reward that raises or times out costs the items it was scoring a
``null`` score and an error message; it never fails the batch and never becomes a silent 0.0.

The scorer speaks the core's own types (``ScoreRequest`` in, ``ScoredBatch`` out); ``verifier.wire`` converts
the v1 wire format (``VerifyRequest``/``VerifyResponse``) to and from them at the boundary.

The three steps are public so that several requests can share the middle one (``verifier.coalesce``): each
request is planned on its own, the plans of many run as one batch, and each request is combined from exactly
its own plans. A plan's ``origin`` says which request it came from, so that a reward that raises on a shared
batch is retried on halves of it (down to one request's items) rather than failing every request in it.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from pydantic import BaseModel, ValidationError

from verifier.advantages import ScaleRewards, group_advantages
from verifier.errors import InvalidRequestError, LimitExceededError
from verifier.registry import RegisteredReward, RewardRegistry
from verifier.types import RewardItem, Score, Text, to_score
from verifier.verdict_cache import VerdictCache, batch_lookup
from verifier.weights import Params, Weights

log = logging.getLogger(__name__)


class ScoringObserver(Protocol):
    """Told about every reward call (the HTTP layer turns this into metrics; the core stays free of them)."""

    def reward_done(
        self, reward: str, items: int, seconds: float, nulls: int, errors: int, timed_out: bool
    ) -> None: ...

    def batch_done(self, requests: int) -> None:
        """A shared batch of ``requests`` requests was scored (``verifier.coalesce``)."""


@dataclass(frozen=True, slots=True)
class RequestItem:
    """One completion to score, as a request brings it (its profile already resolved)."""

    completion: Text
    prompt: Text | None = None
    reference: Any = None
    id: str | int | None = None
    completion_tokens: int | None = None
    rewards: Weights | None = None  # overrides the request's
    params: Params | None = None  # merged over the request's


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """A batch to score: ``rewards`` and ``params`` are defaults each item may override."""

    items: Sequence[RequestItem]
    rewards: Weights | None = None
    params: Params | None = None
    group_size: int | None = None  # consecutive items form GRPO groups of this size: adds advantages
    scale_rewards: ScaleRewards = "group"
    cache: bool = True  # False: the verdict cache neither serves nor keeps this request's verdicts


@dataclass(slots=True)
class ItemScore:
    """One item's result: the weighted ``reward`` (``None`` when no weighted reward applies), each reward's
    score, details and error, the version of the plugin behind each reward, and the GRPO advantage."""

    id: str | int | None
    reward: float | None
    scores: dict[str, float | None]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    advantage: float | None = None


@dataclass(slots=True)
class ScoredBatch:
    """Exactly one ``ItemScore`` per request item, in request order."""

    results: list[ItemScore]


@dataclass
class ItemPlan:
    """What one item needs: reward weights and validated params per reward."""

    item: RequestItem
    weights: dict[str, float]
    params: dict[str, BaseModel]
    scores: dict[str, Score] = field(default_factory=dict)
    origin: int = 0  # which request of a shared batch the item belongs to
    use_cache: bool = True  # its request's ``cache`` field: the verdict cache may serve and keep its verdicts


class BatchScorer:
    """Scores ``ScoreRequest`` batches against a registry. Holds no per-request state."""

    def __init__(
        self,
        registry: RewardRegistry,
        *,
        reward_timeout_s: float = 600.0,
        max_items: int | None = None,
        max_completion_chars: int | None = None,
        observer: ScoringObserver | None = None,
        cache: VerdictCache | None = None,
    ):
        self.registry = registry
        self.cache = cache
        self.reward_timeout_s = reward_timeout_s
        self.max_items = max_items
        self.max_completion_chars = max_completion_chars
        self.observer = observer

    async def score(self, request: ScoreRequest) -> ScoredBatch:
        """Validate the request against the registry (raising a ``RequestError``), then score it."""
        plans = self.plan(request)
        await self.run(plans)
        return self.combine(plans, request)

    def plan(self, request: ScoreRequest) -> list[ItemPlan]:
        """What each item needs, validated (a ``RequestError`` for a bad request); nothing is scored yet."""
        if self.max_items is not None and len(request.items) > self.max_items:
            raise LimitExceededError("items per batch", len(request.items), self.max_items)
        if self.max_completion_chars is not None:
            longest = max((_length(item.completion) for item in request.items), default=0)
            if longest > self.max_completion_chars:
                raise LimitExceededError("completion characters", longest, self.max_completion_chars)
        if request.group_size is not None and len(request.items) % request.group_size:
            raise InvalidRequestError(
                [
                    {
                        "loc": ["group_size"],
                        "msg": f"{len(request.items)} items do not split into groups of {request.group_size}",
                    }
                ]
            )
        default_weights = _weights(request.rewards, ["rewards"]) if request.rewards is not None else None
        mentioned = set(default_weights or ()) | set(request.params or ())
        weights_per_item: list[dict[str, float]] = []
        errors: list[dict[str, Any]] = []
        for i, item in enumerate(request.items):
            if item.rewards is not None:
                weights = _weights(item.rewards, ["items", i, "rewards"])
            elif default_weights is not None:
                weights = default_weights
            else:
                errors.append(
                    {
                        "loc": ["items", i, "rewards"],
                        "msg": "no rewards requested for this item (set items[].rewards or rewards)",
                    }
                )
                weights = {}
            weights_per_item.append(weights)
            mentioned |= set(weights) | set(item.params or ())
        if errors:
            raise InvalidRequestError(errors)
        self.registry.check_known(mentioned)

        shared = request.params or {}
        cache: dict[str, BaseModel] = {}  # request-level params validated once per reward, not once per item
        plans: list[ItemPlan] = []
        for i, (item, weights) in enumerate(zip(request.items, weights_per_item, strict=True)):
            params: dict[str, BaseModel] = {}
            for name in weights:
                own = (item.params or {}).get(name)
                try:
                    if own is None:
                        if name not in cache:
                            cache[name] = self._validate(name, shared.get(name, {}), ["params", name])
                        params[name] = cache[name]
                    else:
                        merged = {**shared.get(name, {}), **own}
                        params[name] = self._validate(name, merged, ["items", i, "params", name])
                except InvalidRequestError as exc:
                    errors.extend(exc.details["errors"])
            plans.append(ItemPlan(item, weights, params, use_cache=request.cache))
        if errors:
            raise InvalidRequestError(errors)
        return plans

    def _validate(self, name: str, raw: Mapping[str, Any], loc: list[str | int]) -> BaseModel:
        model = self.registry.get(name).reward.params
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise InvalidRequestError(
                [{"loc": [*loc, *err["loc"]], "msg": err["msg"], "type": err["type"]} for err in exc.errors()]
            ) from None

    async def run(self, plans: list[ItemPlan]) -> None:
        """Score the plans (of one request or several): each reward once over every item that needs it."""
        needed: dict[str, list[ItemPlan]] = {}
        for plan in plans:
            for name in plan.weights:
                needed.setdefault(name, []).append(plan)
        entries = [self.registry.get(name) for name in needed]
        # Rewards that read other rewards' verdicts (cosine length, ...) run once those verdicts exist.
        for phase in (
            [e for e in entries if not e.reward.reads_scores],
            [e for e in entries if e.reward.reads_scores],
        ):
            async with anyio.create_task_group() as tg:
                for entry in phase:
                    tg.start_soon(self._run_reward, entry, needed[entry.name])

    async def _run_reward(self, entry: RegisteredReward, plans: list[ItemPlan]) -> None:
        reward = entry.reward
        items = [
            RewardItem(
                index=i,
                completion=plan.item.completion,
                params=plan.params[reward.name],
                prompt=plan.item.prompt,
                reference=plan.item.reference,
                id=plan.item.id,
                completion_tokens=plan.item.completion_tokens,
                scores={k: s.value for k, s in plan.scores.items()} if reward.reads_scores else {},
            )
            for i, plan in enumerate(plans)
        ]
        started = time.perf_counter()
        timed_out = False
        # Verdicts a deterministic reward gave before are reused; only the rest reach the reward.
        lookup = batch_lookup(self.cache, entry, items, [not plan.use_cache for plan in plans])
        todo = items if lookup is None else lookup.to_score
        try:
            with anyio.fail_after(self.reward_timeout_s):
                results = await _call(reward.score, todo) if todo else []
            scores = _check_results(results, len(todo))
        except BaseException as exc:
            if isinstance(
                exc, anyio.get_cancelled_exc_class() | KeyboardInterrupt | SystemExit | GeneratorExit
            ):
                raise
            origins = sorted({plan.origin for plan in plans})
            if len(origins) > 1 and not isinstance(exc, TimeoutError):
                # A shared batch: the failure may be one request's item. Halves are retried until the requests
                # that fail are alone, so no request gets an error that its own items did not cause. (A timeout
                # is not retried: that would multiply the wait, and it is seldom one item's doing.)
                log.warning(
                    "reward %s failed on a batch shared by %d requests (%s: %s); retrying it in halves",
                    reward.name, len(origins), type(exc).__name__, exc,
                )  # fmt: skip
                first = set(origins[: len(origins) // 2])
                await self._run_reward(entry, [p for p in plans if p.origin in first])
                await self._run_reward(entry, [p for p in plans if p.origin not in first])
                return
            timed_out = isinstance(exc, TimeoutError)
            message = _failure_message(entry, exc, self.reward_timeout_s)
            log.error(
                "reward %s failed for %d items: %s",
                reward.name,
                len(todo),
                message,
                exc_info=not isinstance(exc, TimeoutError),
            )
            scores = [Score(None, {}, message)] * len(todo)
        if lookup is not None:
            scores = lookup.complete(scores)
        for plan, score in zip(plans, scores, strict=True):
            plan.scores[reward.name] = score
        if self.observer is not None:
            nulls = sum(s.value is None for s in scores)
            errors = sum(s.error is not None for s in scores)
            self.observer.reward_done(
                reward.name, len(items), time.perf_counter() - started, nulls, errors, timed_out
            )

    def combine(self, plans: list[ItemPlan], request: ScoreRequest) -> ScoredBatch:
        """One result per planned item, in request order, with the request's advantages."""
        results: list[ItemScore] = []
        versions: dict[str, str] = {}  # the version of the plugin behind each reward, for re-verification
        for plan in plans:
            total = 0.0
            applied = False
            # A zero-weighted reward (a rule that another reward reads) adds nothing, so it alone must not
            # turn an item whose weighted rewards are all null into a 0.0; unless every weight is zero.
            weighted = any(w != 0 for w in plan.weights.values())
            scores: dict[str, float | None] = {}
            details: dict[str, dict[str, Any]] = {}
            errors: dict[str, str] = {}
            for name, weight in plan.weights.items():
                if name not in versions:
                    versions[name] = self.registry.get(name).plugin.version
                score = plan.scores[name]
                scores[name] = score.value
                if score.details:
                    details[name] = dict(score.details)
                if score.error:
                    errors[name] = score.error
                if score.value is not None:
                    total += weight * score.value
                    applied = applied or weight != 0 or not weighted
            results.append(
                ItemScore(
                    id=plan.item.id,
                    reward=total if applied else None,
                    scores=scores,
                    details=details,
                    errors=errors,
                    versions={name: versions[name] for name in plan.weights},
                )
            )
        if request.group_size is not None:
            advantages = group_advantages(
                [r.reward for r in results], request.group_size, request.scale_rewards
            )
            for result, advantage in zip(results, advantages, strict=True):
                result.advantage = advantage
        return ScoredBatch(results)


def _length(completion: Text) -> int:
    if isinstance(completion, str):
        return len(completion)
    return sum(len(RewardItem(index=0, completion=[m]).completion_text) for m in completion)


def _weights(raw: Weights, loc: list[str | int]) -> dict[str, float]:
    if isinstance(raw, list):
        if len(set(raw)) != len(raw):
            raise InvalidRequestError([{"loc": loc, "msg": "a reward is listed twice"}])
        return dict.fromkeys(raw, 1.0)
    return {name: float(w) for name, w in raw.items()}


async def _call(score: Any, items: Sequence[RewardItem]) -> object:
    """Await an async scorer; run a sync one in a worker thread (it may still hand back an awaitable)."""
    if inspect.iscoroutinefunction(score) or inspect.iscoroutinefunction(type(score).__call__):
        return await score(items)
    result = await anyio.to_thread.run_sync(score, items, abandon_on_cancel=True)
    return await result if inspect.isawaitable(result) else result


def _check_results(results: object, expected: int) -> list[Score]:
    if isinstance(results, str | bytes) or not isinstance(results, Sequence):
        raise TypeError(f"reward returned {type(results).__name__}, expected a sequence of scores")
    if len(results) != expected:
        raise ValueError(f"reward returned {len(results)} results for {expected} items")
    return [to_score(r) for r in results]


def _failure_message(entry: RegisteredReward, exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"reward {entry.name!r} did not finish within {timeout:g} s"
    return f"reward {entry.name!r} (plugin {entry.plugin.name}) failed: {type(exc).__name__}: {exc}"
