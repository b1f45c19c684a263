"""The ``math`` reward's Prometheus metrics, read from the running pools when ``/metrics`` is scraped."""

from __future__ import annotations

import weakref
from collections.abc import Callable

from prometheus_client import Gauge

from verifier import plugin_metric
from verifier_math.pool import PoolStats, WorkerPool

__all__ = ["track"]

_pools: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


def track(pool: WorkerPool) -> None:
    """Publish ``pool`` (until it is garbage) in the gauges below."""
    _pools.add(pool)


def _total(read: Callable[[WorkerPool, PoolStats], int]) -> Callable[[], float]:
    def value() -> float:
        return float(sum(read(pool, stats) for pool in list(_pools) if not (stats := pool.stats()).closed))

    return value


for _name, _doc, _read in (
    ("verifier_math_workers", "math worker processes the pools keep (configured size)", lambda p, s: s.size),
    ("verifier_math_workers_alive", "math worker processes running now", lambda p, s: s.alive),
    ("verifier_math_workers_busy", "math worker processes grading an item now", lambda p, s: s.busy),
    (
        "verifier_math_workers_replaced",
        "math workers killed (deadline, crash, memory) and replaced since the pool started",
        lambda p, s: s.replaced,
    ),
    ("verifier_math_queue_depth", "math items waiting for a free worker", lambda p, s: p.waiting),
):
    plugin_metric(Gauge, _name, _doc).set_function(_total(_read))
