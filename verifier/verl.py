"""verl custom reward functions that score through the verifier over HTTP.

verl loads a reward function from a file path; this module is that file::

    custom_reward_function.path=$(python -c 'import verifier.verl as m; print(m.__file__)')
    custom_reward_function.name=compute_score          # one sample a call (the naive reward manager)
    # or, a whole batch in one request:
    custom_reward_function.name=compute_score_batch
    reward_model.reward_manager=batch
    +custom_reward_function.reward_kwargs.url=http://verifier:8000
    +custom_reward_function.reward_kwargs.rewards='math:1.0,format:0.5'

``url``, ``rewards`` and ``api_key`` come from the reward kwargs, else from ``VERIFIER_URL``,
``VERIFIER_REWARDS`` and ``VERIFIER_API_KEY`` in the trainer's environment, else the defaults below. The
``ground_truth`` is the item's ``reference``; ``extra_info["prompt"]`` (when present) its prompt.

A sample the verifier cannot score (its reward is null: the sandbox is down, the reference is unparseable)
raises ``UnscoredError`` unless ``on_unscored="zero"``: a silent 0.0 would be learnt from.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from verifier.client import DEFAULT_URL, VerifierClient
from verifier.errors import VerifierError
from verifier.schemas import Item, ItemResult, parse_weights

DEFAULT_REWARDS = {"math": 1.0}

_clients: dict[tuple[str, str | None], VerifierClient] = {}
_clients_lock = threading.Lock()


class UnscoredError(VerifierError):
    """The verifier returned no reward for a sample (see the result's errors)."""


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **reward_kwargs: Any,
) -> dict[str, Any]:
    """One sample: ``{"score": reward, <reward name>: score, ...}`` (verl logs the extra keys)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **reward_kwargs)[0]


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    url: str | None = None,
    rewards: str | Mapping[str, float] | None = None,
    api_key: str | None = None,
    on_unscored: str = "error",
    **_: Any,
) -> list[dict[str, Any]]:
    """A whole batch in one request; one dict per sample, in order."""
    weights = _weights(rewards)
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    items = [
        Item(id=i, prompt=_prompt(info), completion=solution, reference=truth)
        for i, (solution, truth, info) in enumerate(zip(solution_strs, ground_truths, infos, strict=True))
    ]
    response = _client(url, api_key).verify(items, rewards=weights)
    return [_sample(result, on_unscored) for result in response.results]


def _sample(result: ItemResult, on_unscored: str) -> dict[str, Any]:
    if result.reward is None and on_unscored != "zero":
        raise UnscoredError(f"sample {result.id} could not be scored: {result.errors}")
    sample: dict[str, Any] = {"score": result.reward if result.reward is not None else 0.0}
    sample.update({name: value if value is not None else 0.0 for name, value in result.scores.items()})
    return sample


def _weights(rewards: str | Mapping[str, float] | None) -> dict[str, float]:
    if rewards is None:
        rewards = os.environ.get("VERIFIER_REWARDS")
    if rewards is None:
        return dict(DEFAULT_REWARDS)
    return parse_weights(rewards) if isinstance(rewards, str) else {k: float(v) for k, v in rewards.items()}


def _prompt(info: Mapping[str, Any] | None) -> str | None:
    prompt = (info or {}).get("prompt")
    return prompt if isinstance(prompt, str) else None


def close_clients() -> None:
    """Close the pooled clients (also run at interpreter exit)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


atexit.register(close_clients)


def _client(url: str | None, api_key: str | None) -> VerifierClient:
    """One pooled client per (url, key) per process: verl calls the function many times."""
    url = url or os.environ.get("VERIFIER_URL") or DEFAULT_URL
    api_key = api_key or os.environ.get("VERIFIER_API_KEY")
    with _clients_lock:
        client = _clients.get((url, api_key))
        if client is None:
            client = _clients[(url, api_key)] = VerifierClient(url, api_key=api_key)
        return client
