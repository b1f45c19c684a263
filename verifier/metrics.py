"""Plugin metrics: create a Prometheus metric once per process on the default registry, which the service's
``/metrics`` serves.

A plugin module can be loaded twice in one process (``importlib.reload``, two app instances in tests, the
module imported under another name); prometheus_client then refuses the second registration ("Duplicated
timeseries"). ``plugin_metric`` hands back the metric registered the first time instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

MetricT = TypeVar("MetricT", Counter, Gauge, Histogram)


def plugin_metric(kind: type[MetricT], name: str, documentation: str, labels: Sequence[str] = ()) -> MetricT:
    """``kind(name, documentation, labels)`` on the default registry, or the one already registered there."""
    try:
        return kind(name, documentation, labels)
    except ValueError:
        # prometheus_client offers no public lookup by name; its name map has been stable for years.
        existing = getattr(REGISTRY, "_names_to_collectors", {}).get(name)
        if isinstance(existing, kind):
            return existing
        raise
