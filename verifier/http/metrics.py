"""Prometheus metrics for ``/metrics``.

The service's own metrics live in a registry per app (so several apps can exist in one process, as in
tests); plugins may register theirs on prometheus_client's default registry, and ``/metrics`` serves both.
With several uvicorn workers each scrape reaches one worker: run one worker per container and scale
replicas, the usual shape on Kubernetes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import get_args

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from verifier.coalesce import Coalescer
from verifier.http.admission import Admission
from verifier.runtime import ServiceHealth
from verifier.types import HealthStatus
from verifier.verdict_cache import CacheStats, VerdictCache

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


HEALTH_STATES: tuple[HealthStatus, ...] = get_args(HealthStatus)


@dataclass(frozen=True)
class Sources:
    """What a scrape reads from the running service. The lifespan hands it in (``Metrics.watch``); before
    startup and after shutdown there is none, and those metrics read empty."""

    health: Callable[[], ServiceHealth]
    verdict_cache: VerdictCache | None
    coalescer: Coalescer


class _RewardHealth(Collector):
    """Each reward's ``/readyz`` status at scrape time, as a 0/1 gauge per state (alert on ``down``)."""

    def __init__(self, report: Callable[[], ServiceHealth | None]) -> None:
        self.report = report

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        report = self.report()
        for name, entry in (report.rewards if report is not None else {}).items():
            for state in HEALTH_STATES:
                family.add_metric([name, state], float(entry.status == state))
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "verifier_reward_health", "1 for the state each reward's resources report now", labels=["reward", "state"]
        )


class _VerdictCacheMetrics(Collector):
    """The process's verdict cache, read at scrape time (it is shared by every app of the process)."""

    def __init__(self, cache: Callable[[], VerdictCache | None]) -> None:
        self.cache = cache

    def describe(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        return self._families(None)  # at registration, before any runtime exists

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        cache = self.cache()
        return self._families(cache.stats() if cache is not None else None)

    @staticmethod
    def _families(stats: CacheStats | None) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        lookups = CounterMetricFamily(
            "verifier_verdict_cache_lookups",
            "verdicts of deterministic rewards looked up in the cache, by reward and result (hit, miss)",
            labels=["reward", "result"],
        )
        for reward, (hits, misses) in sorted((stats.lookups if stats else {}).items()):
            lookups.add_metric([reward, "hit"], hits)
            lookups.add_metric([reward, "miss"], misses)
        yield lookups
        yield CounterMetricFamily(
            "verifier_verdict_cache_evictions", "verdicts dropped to stay under the byte bound",
            value=stats.evictions if stats else 0,
        )  # fmt: skip
        yield GaugeMetricFamily("verifier_verdict_cache_bytes", "bytes the cached verdicts take (estimated)",
                                value=stats.bytes if stats else 0)  # fmt: skip
        yield GaugeMetricFamily("verifier_verdict_cache_entries", "verdicts in the cache",
                                value=stats.entries if stats else 0)  # fmt: skip
        yield GaugeMetricFamily("verifier_verdict_cache_max_bytes", "the cache's byte bound (0: off)",
                                value=stats.max_bytes if stats else 0)  # fmt: skip


class Metrics:
    def __init__(
        self,
        admission: Admission,
        max_concurrent_batches: int = 0,
    ) -> None:
        self.sources: Sources | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "verifier_http_requests",
            "HTTP requests by route and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "verifier_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_items = Histogram(
            "verifier_batch_items",
            "items per /v1/verify batch",
            buckets=(1, 8, 64, 256, 1024, 4096, 16384),
            registry=r,
        )
        self.reward_seconds = Histogram(
            "verifier_reward_seconds",
            "time one reward took for one batch",
            ["reward"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.reward_items = Counter(
            "verifier_reward_items", "items scored per reward", ["reward"], registry=r
        )
        self.reward_nulls = Counter(
            "verifier_reward_nulls", "items a reward gave null", ["reward"], registry=r
        )
        self.reward_errors = Counter(
            "verifier_reward_errors", "items a reward gave an error (null + message)", ["reward"], registry=r
        )
        self.reward_timeouts = Counter(
            "verifier_reward_timeouts", "reward calls over reward_timeout_s", ["reward"], registry=r
        )
        Gauge("verifier_items_in_flight", "items admitted and not yet answered", registry=r).set_function(
            lambda: admission.items
        )
        Gauge("verifier_bytes_in_flight", "request bytes admitted and not yet answered", registry=r).set_function(
            lambda: admission.bytes
        )
        in_flight = Gauge("verifier_in_flight_limit", "admission limits (429 above)", ["kind"], registry=r)
        in_flight.labels("items").set(admission.max_items)
        in_flight.labels("bytes").set(admission.max_bytes)
        Gauge("verifier_batches_active", "(coalesced) batches being scored", registry=r).set_function(
            lambda: _or_zero(self._coalescer(), "active")
        )
        Gauge("verifier_batches_waiting", "batches formed, filling or waiting for a slot", registry=r).set_function(
            lambda: _or_zero(self._coalescer(), "waiting")
        )
        Gauge("verifier_batches_limit", "batches scored at the same time", registry=r).set(max_concurrent_batches)
        self.batch_requests = Histogram(
            "verifier_batch_requests",
            "requests coalesced into one scored batch",
            buckets=(1, 2, 4, 16, 64, 256, 1024, 4096),
            registry=r,
        )
        Gauge("verifier_draining", "1 once a shutdown signal arrived (new batches get 503)", registry=r).set_function(
            lambda: float(admission.draining)
        )
        r.register(_RewardHealth(lambda: self.sources.health() if self.sources else None))
        r.register(_VerdictCacheMetrics(lambda: self.sources.verdict_cache if self.sources else None))

    def _coalescer(self) -> Coalescer | None:
        return self.sources.coalescer if self.sources else None

    def watch(self, sources: Sources | None) -> None:
        """Read the running service's health, cache and coalescer from now on (``None``: it stopped)."""
        self.sources = sources

    def reward_done(
        self, reward: str, items: int, seconds: float, nulls: int, errors: int, timed_out: bool
    ) -> None:
        self.reward_seconds.labels(reward).observe(seconds)
        self.reward_items.labels(reward).inc(items)
        if nulls:
            self.reward_nulls.labels(reward).inc(nulls)
        if errors:
            self.reward_errors.labels(reward).inc(errors)
        if timed_out:
            self.reward_timeouts.labels(reward).inc()

    def batch_done(self, requests: int) -> None:
        self.batch_requests.observe(requests)

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry) + generate_latest(REGISTRY)


def _or_zero(coalescer: Coalescer | None, counter: str) -> int:
    return int(getattr(coalescer, counter)) if coalescer is not None else 0
