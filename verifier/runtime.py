"""A running verifier: plugins loaded, reward resources open, a scorer ready. Shared by the HTTP app
and the offline ``verifier score`` command so both score through exactly the same path."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import pluggy

from verifier.coalesce import Coalescer
from verifier.profiles import Profiles
from verifier.registry import RewardRegistry, create_plugin_manager
from verifier.scoring import BatchScorer, ScoringObserver
from verifier.settings import Settings
from verifier.types import Health, HealthStatus
from verifier.verdict_cache import shared_cache

log = logging.getLogger(__name__)


def build_registry(settings: Settings, plugin_manager: pluggy.PluginManager | None = None) -> RewardRegistry:
    """Load the selected plugins and validate their rewards; raises ``PluginError`` naming the culprit."""
    pm = plugin_manager or create_plugin_manager(allow=settings.plugins_allow, deny=settings.plugins_deny)
    return RewardRegistry.from_plugin_manager(pm, settings.plugin_options)


@dataclass(frozen=True)
class ServiceHealth:
    """Each reward's own health report (rewards with a health check only), and the worst of them."""

    status: HealthStatus
    rewards: dict[str, Health]


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    registry: RewardRegistry
    scorer: BatchScorer
    profiles: Profiles
    coalescer: Coalescer
    """Scores through ``scorer``, merging concurrent requests into shared batches (``verifier.coalesce``)."""

    def health(self) -> ServiceHealth:
        """Each reward's own health report, and the worst of them."""
        rewards: dict[str, Health] = {}
        worst: HealthStatus = "ok"
        for entry in self.registry:
            if entry.reward.health is None:
                continue
            try:
                report = entry.reward.health()
                status, message = report.status, report.message
            except Exception as exc:  # a health check that fails is itself a "down"
                status, message = "down", f"health check raised {exc!r}"
            rewards[entry.name] = Health(status, message)
            if status == "down" or (status == "degraded" and worst == "ok"):
                worst = status
        return ServiceHealth(worst, rewards)


@asynccontextmanager
async def running(
    settings: Settings,
    plugin_manager: pluggy.PluginManager | None = None,
    observer: ScoringObserver | None = None,
) -> AsyncIterator[Runtime]:
    """Load plugins, enter every reward's lifespan (pools, clients), and close them all on exit."""
    registry = build_registry(settings, plugin_manager)
    profiles = Profiles.build(settings.profiles, registry)  # before any pool starts: a bad profile fails fast
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(registry.lifespans())
        scorer = BatchScorer(
            registry,
            reward_timeout_s=settings.reward_timeout_s,
            max_items=settings.max_batch_items,
            max_completion_chars=settings.max_completion_chars,
            observer=observer,
            cache=shared_cache(settings.verdict_cache_bytes),
        )
        coalescer = Coalescer(
            scorer,
            window_s=settings.coalesce_window_ms / 1000,
            max_items=settings.coalesce_max_items,
            max_concurrent=settings.max_concurrent_batches,
            observer=observer,
        )
        # Entered last, so it is left first: batches in flight finish while the rewards' resources are still open.
        await stack.enter_async_context(coalescer.running())
        log.info("verifier ready with rewards: %s", ", ".join(registry.names()))
        yield Runtime(settings, registry, scorer, profiles, coalescer)
