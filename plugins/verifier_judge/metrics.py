"""The judge plugin's Prometheus metrics, on prometheus_client's default registry (the host's ``/metrics``
serves it). ``reward`` is ``judge`` or ``reward_model``; ``endpoint`` one of the configured base URLs.

``verifier_judge_calls_total`` counts HTTP attempts, each once, by how it ended:

- ``ok``: a usable answer;
- ``retried``: failed (connection error, timeout, 429/5xx, a malformed 200, a refused ``response_format``)
  and was tried again on the same endpoint;
- ``error``: the endpoint's last attempt failed, or it refused the request (4xx): the call fails over to
  the next endpoint, or its items get ``null`` + an error;
- ``unparseable``: a well-formed answer that holds no score (a judge reply without a 1-10 grade, a reward
  model's value outside [0, 1]): the item gets ``null`` + an error.

Each metric exists once per process. A second load of this module in the same process (``importlib.reload``,
the module imported under another name) finds the metric it registered the first time instead of failing
with prometheus_client's "Duplicated timeseries".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from prometheus_client import Counter

from verifier import plugin_metric

__all__ = ["CACHE_LOOKUPS", "CALLS", "TOKENS", "Outcome", "record_call", "record_tokens"]

Outcome = Literal["ok", "retried", "error", "unparseable"]


CALLS = plugin_metric(
    Counter, "verifier_judge_calls", "HTTP attempts to the model servers by outcome", ["reward", "endpoint", "outcome"]
)
CACHE_LOOKUPS = plugin_metric(Counter, "verifier_judge_cache_lookups", "result cache lookups", ["reward", "result"])
TOKENS = plugin_metric(Counter, "verifier_judge_tokens", "tokens the model servers reported using", ["reward", "kind"])

_TOKEN_KINDS = {"prompt_tokens": "prompt", "completion_tokens": "completion"}


def record_call(reward: str, endpoint: str, outcome: Outcome) -> None:
    CALLS.labels(reward, endpoint, outcome).inc()


def record_tokens(reward: str, usage: Mapping[str, int]) -> None:
    for key, kind in _TOKEN_KINDS.items():
        if usage.get(key):
            TOKENS.labels(reward, kind).inc(usage[key])
