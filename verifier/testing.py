"""Test a reward plugin exactly as the service runs it, without installing it (after datasette's test instance).

    from verifier.testing import PluginHarness, Sample

    with PluginHarness(my_rewards, options={"bonus": 0.5}) as plugin:
        [verdict] = plugin.score("keyword", Sample("It is Paris", reference="paris"))
        assert verdict.value == 1.5

The harness registers the one plugin it is given in a plugin manager of its own (no entry points), so what the
plugin registers and its options are validated as at the service's startup (a ``PluginError`` naming the
plugin). Inside ``with`` (or ``async with``) every reward's lifespan is open, and items are scored by the
host's own scorer: params merged and validated as for ``/v1/verify`` (a bad one raises ``RequestError``, where
the service answers 422), rewards that read other rewards' scores run after those, what a scorer returns is
normalised (a non-finite value becomes null plus an error), and a scorer that raises or times out costs its
items null plus an error. Left out are the HTTP layer, the service's size limits, the coalescing of concurrent
requests and, unless asked for, the verdict cache.

This is a host module: a plugin's tests import it, the plugin itself never does (import-linter checks that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, ExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio.from_thread
from anyio.from_thread import BlockingPortal
from pydantic import ValidationError

from verifier.errors import InvalidRequestError, PluginError, RequestError
from verifier.profiles import Profiles
from verifier.registry import RewardRegistry, create_plugin_manager
from verifier.schemas import VerifyRequest
from verifier.scoring import BatchScorer, ItemScore
from verifier.types import Health, Reward, Text
from verifier.verdict_cache import VerdictCache
from verifier.wire import score_request

__all__ = ["Outcome", "PluginError", "PluginHarness", "RequestError", "Sample", "Verdict"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One item to score with one reward: what a client sends as an item of ``/v1/verify``.

    ``params`` are this item's params for the reward scored, merged over the call's ``params``."""

    completion: Text
    reference: Any = None
    prompt: Text | None = None
    params: Mapping[str, Any] | None = None
    id: str | int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One reward's result for one item, as the service reports it: ``value`` is ``None`` when the reward did
    not apply or failed (then ``error`` says why)."""

    value: float | None
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One item's result over every reward it asked for: one of ``/v1/verify``'s ``results``."""

    id: str | int | None
    reward: float | None
    """The weighted sum of the non-null scores; ``None`` when none applied."""
    scores: Mapping[str, float | None]
    details: Mapping[str, Mapping[str, Any]]
    errors: Mapping[str, str]
    advantage: float | None
    versions: Mapping[str, str]

    def verdict(self, reward: str) -> Verdict:
        """What ``reward`` gave this item."""
        return Verdict(self.scores[reward], self.details.get(reward, {}), self.errors.get(reward))


class PluginHarness:
    """One plugin, loaded and scored through the host's code paths; use it inside ``with`` or ``async with``.

    ``plugin`` is the plugin module (or any object with hook implementations); ``name`` is its plugin name,
    the entry-point name it would be published under (default: the module's top-level name); ``options``
    are what the settings' ``plugin_options.<name>`` would hold. ``verdict_cache_bytes`` gives the harness a
    verdict cache of its own (0, the default, scores every item afresh).
    """

    def __init__(
        self,
        plugin: object,
        *,
        name: str | None = None,
        options: Mapping[str, Any] | None = None,
        reward_timeout_s: float = 600.0,
        verdict_cache_bytes: int = 0,
    ) -> None:
        self.name = name or (getattr(plugin, "__name__", None) or type(plugin).__module__).split(".")[0]
        manager = create_plugin_manager(load_entrypoints=False, plugins={self.name: plugin})
        self._registry = RewardRegistry.from_plugin_manager(
            manager, {self.name: dict(options)} if options is not None else None
        )
        self._profiles = Profiles.build({}, self._registry)
        cache = VerdictCache(verdict_cache_bytes) if verdict_cache_bytes > 0 else None
        self._scorer = BatchScorer(self._registry, reward_timeout_s=reward_timeout_s, cache=cache)
        self._portal: BlockingPortal | None = None  # the event loop a ``with`` runs the rewards in
        self._sync: ExitStack | None = None
        self._async: AbstractAsyncContextManager[None] | None = None  # the lifespans an ``async with`` opened

    @property
    def rewards(self) -> list[str]:
        """The names of the rewards the plugin registered."""
        return self._registry.names()

    def reward(self, name: str) -> Reward:
        """The reward as the plugin registered it."""
        return self._registry.get(name).reward

    def health(self, name: str) -> Health | None:
        """What ``/readyz`` would report for ``name`` now; ``None`` for a reward without a health check."""
        check = self.reward(name).health
        return None if check is None else check()

    def __enter__(self) -> PluginHarness:
        self._check_closed()
        with ExitStack() as stack:
            portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
            stack.enter_context(portal.wrap_async_context_manager(self._registry.lifespans()))
            self._portal, self._sync = portal, stack.pop_all()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        stack, self._portal, self._sync = self._sync, None, None
        if stack is not None:
            stack.__exit__(kind, error, traceback)

    async def __aenter__(self) -> PluginHarness:
        self._check_closed()
        opened = self._registry.lifespans()
        await opened.__aenter__()
        self._async = opened
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        opened, self._async = self._async, None
        if opened is not None:
            await opened.__aexit__(kind, error, traceback)

    def score(
        self, reward: str, *samples: Sample | str, params: Mapping[str, Any] | None = None, cache: bool = True
    ) -> list[Verdict]:
        """Score ``samples`` (a string is a completion alone) with ``reward`` as one batch: one verdict each, in
        order. ``params`` apply to every sample; ``cache=False`` bypasses the verdict cache."""
        return _verdicts(reward, self.verify(_body(reward, samples, params, cache)))

    async def score_async(
        self, reward: str, *samples: Sample | str, params: Mapping[str, Any] | None = None, cache: bool = True
    ) -> list[Verdict]:
        """``score`` inside ``async with``."""
        return _verdicts(reward, await self.verify_async(_body(reward, samples, params, cache)))

    def verify(self, body: Mapping[str, Any]) -> list[Outcome]:
        """Score a ``/v1/verify`` request body (its JSON as a dict: several rewards, weights, per-item params,
        ``group_size``, a built-in profile whose rewards are loaded): one outcome per item, in order."""
        if self._portal is None:
            raise RuntimeError("score and verify work inside `with PluginHarness(...)` (the *_async: `async with`)")
        return self._portal.call(self._verify, body)

    async def verify_async(self, body: Mapping[str, Any]) -> list[Outcome]:
        """``verify`` inside ``async with``."""
        if self._async is None:
            raise RuntimeError("score_async and verify_async work inside `async with PluginHarness(...)`")
        return await self._verify(body)

    async def _verify(self, body: Mapping[str, Any]) -> list[Outcome]:
        try:
            request = VerifyRequest.model_validate(dict(body))
        except ValidationError as exc:  # what the service answers 422 for, before any reward sees it
            raise InvalidRequestError(
                [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            ) from None
        batch = await self._scorer.score(score_request(self._profiles.resolve(request)))
        return [_outcome(result) for result in batch.results]

    def _check_closed(self) -> None:
        if self._portal is not None or self._async is not None:
            raise RuntimeError("this harness is open already: enter it once at a time")


def _body(
    reward: str, samples: Sequence[Sample | str], params: Mapping[str, Any] | None, cache: bool
) -> dict[str, Any]:
    items = [_wire_item(s if isinstance(s, Sample) else Sample(s), reward) for s in samples]
    body: dict[str, Any] = {"rewards": [reward], "items": items, "cache": cache}
    if params is not None:
        body["params"] = {reward: dict(params)}
    return body


def _verdicts(reward: str, outcomes: list[Outcome]) -> list[Verdict]:
    return [outcome.verdict(reward) for outcome in outcomes]


def _wire_item(sample: Sample, reward: str) -> dict[str, Any]:
    item: dict[str, Any] = {"completion": _wire_text(sample.completion)}
    if sample.prompt is not None:
        item["prompt"] = _wire_text(sample.prompt)
    if sample.reference is not None:
        item["reference"] = sample.reference
    if sample.params is not None:
        item["params"] = {reward: dict(sample.params)}
    if sample.id is not None:
        item["id"] = sample.id
    if sample.completion_tokens is not None:
        item["completion_tokens"] = sample.completion_tokens
    return item


def _wire_text(text: Text) -> str | list[dict[str, Any]]:
    return text if isinstance(text, str) else [dict(message) for message in text]


def _outcome(result: ItemScore) -> Outcome:
    return Outcome(
        id=result.id,
        reward=result.reward,
        scores=result.scores,
        details=result.details,
        errors=result.errors,
        advantage=result.advantage,
        versions=result.versions,
    )
