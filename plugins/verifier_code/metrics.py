"""The ``code`` reward's Prometheus metrics, on prometheus_client's default registry (the host's ``/metrics``
serves it): sandbox runs by status and language, and programs in flight.

Each metric exists once per process. A second load of this module in the same process (``importlib.reload``,
the module imported under another name) finds the metric it registered the first time instead of failing
with prometheus_client's "Duplicated timeseries".
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Gauge

from verifier import plugin_metric

__all__ = ["PROGRAMS_IN_FLIGHT", "SANDBOX_RUNS", "record_runs"]



SANDBOX_RUNS = plugin_metric(
    Counter,
    "verifier_code_sandbox_runs",
    "test runs of the code reward by how they ended (sandbox_error: the sandbox failed, not the program)",
    ["status", "language"],
)
PROGRAMS_IN_FLIGHT = plugin_metric(
    Gauge,
    "verifier_code_programs_in_flight",
    "programs of the code reward handed to the sandbox and not finished (running or waiting for a slot)",
)


def record_runs(statuses: Sequence[str], language: str) -> None:
    for status in statuses:
        SANDBOX_RUNS.labels(status, language).inc()
