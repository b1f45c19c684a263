"""verl custom reward functions that score through the verifier over HTTP.

verl loads a reward function from a file path; this module is that file. Under verl's default reward loop
(``reward_model.use_reward_loop=True``), whose workers score one sample a call, concurrently::

    custom_reward_function.path=$(python -c 'import verifier.verl as m; print(m.__file__)')
    custom_reward_function.name=compute_score_async      # awaited by the loop: no thread per sample
    reward_model.reward_manager=naive
    +custom_reward_function.reward_kwargs.url=http://verifier:8000
    +custom_reward_function.reward_kwargs.profile=r1

and under verl's legacy reward managers (``reward_model.use_reward_loop=False``)::

    custom_reward_function.name=compute_score_batch      # a whole batch in one request
    reward_model.reward_manager=batch
    # or compute_score with reward_manager=naive, one sample a call

The service coalesces the loop's concurrent single-sample requests into shared batches (docs/operations.md).

``url``, ``rewards``, ``profile`` and ``api_key`` come from the reward kwargs, else from ``VERIFIER_URL``,
``VERIFIER_REWARDS``, ``VERIFIER_PROFILE`` and ``VERIFIER_API_KEY`` in the trainer's environment (read by
``verifier.client.ClientSettings``), else the defaults below (``rewards`` replaces the profile's rewards; with
neither, ``math``). Each sample's
``data_source`` goes with it: a profile's ``data_source`` map picks the rewards per dataset, so one run can mix
math and code datasets (``[profiles.mixed] data_source = {"openai/gsm8k" = "r1", "codecontests" = "code"}``).
The ``ground_truth`` is the item's ``reference``; ``extra_info["prompt"]`` (when a string) its prompt, and
``extra_info["verifier_params"]`` (when a mapping of reward -> params) its params.

A sample the verifier cannot score (its reward is null: the sandbox is down, the reference is unparseable)
raises ``UnscoredError`` unless ``on_unscored="zero"``: a silent 0.0 would be learnt from.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from verifier.client import DEFAULT_URL, AsyncVerifierClient, ClientSettings, VerifierClient
from verifier.errors import UnscoredError
from verifier.schemas import Item, ItemResult, parse_weights

DEFAULT_REWARDS = {"math": 1.0}

_clients: dict[tuple[str, str | None], VerifierClient] = {}
_async_clients: dict[tuple[str, str | None, int], tuple[asyncio.AbstractEventLoop, AsyncVerifierClient]] = {}
_clients_lock = threading.Lock()


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **reward_kwargs: Any,
) -> dict[str, Any]:
    """One sample: ``{"score": reward, <reward name>: score, ...}`` (verl logs the extra keys)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **reward_kwargs)[0]


async def compute_score_async(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    rewards: str | Mapping[str, float] | None = None,
    profile: str | None = None,
    api_key: str | None = None,
    on_unscored: str = "error",
    **_: Any,
) -> dict[str, Any]:
    """One sample, awaited by verl's reward loop (which calls it for every sample at once)."""
    items = _items([data_source], [solution_str], [ground_truth], [extra_info])
    weights, profile = _choice(rewards, profile)
    response = await _async_client(url, api_key).verify(items, rewards=weights, profile=profile)
    return _sample(response.results[0], on_unscored)


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    url: str | None = None,
    rewards: str | Mapping[str, float] | None = None,
    profile: str | None = None,
    api_key: str | None = None,
    on_unscored: str = "error",
    **_: Any,
) -> list[dict[str, Any]]:
    """A whole batch in one request; one dict per sample, in order."""
    items = _items(data_sources, solution_strs, ground_truths, extra_infos)
    weights, profile = _choice(rewards, profile)
    response = _client(url, api_key).verify(items, rewards=weights, profile=profile)
    return [_sample(result, on_unscored) for result in response.results]


def _items(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None,
) -> list[Item]:
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    rows = zip(data_sources, solution_strs, ground_truths, infos, strict=True)
    return [
        Item(
            id=i,
            prompt=_prompt(info),
            completion=solution,
            reference=truth,
            data_source=source if isinstance(source, str) and source else None,
            params=_params(info),
        )
        for i, (source, solution, truth, info) in enumerate(rows)
    ]


def _choice(
    rewards: str | Mapping[str, float] | None, profile: str | None
) -> tuple[dict[str, float] | None, str | None]:
    """The rewards and the profile a call asks for: a profile alone lets its rewards (and map) decide."""
    environment = ClientSettings.current()
    profile = profile or environment.profile or None
    if rewards is None:
        rewards = environment.rewards
    if rewards is None and profile is not None:
        return None, profile
    return _weights(rewards), profile


def _sample(result: ItemResult, on_unscored: str) -> dict[str, Any]:
    if result.reward is None and on_unscored != "zero":
        raise UnscoredError(f"sample {result.id} could not be scored: {result.errors}")
    sample: dict[str, Any] = {"score": result.reward if result.reward is not None else 0.0}
    sample.update({name: value if value is not None else 0.0 for name, value in result.scores.items()})
    return sample


def _weights(rewards: str | Mapping[str, float] | None) -> dict[str, float]:
    if rewards is None:
        return dict(DEFAULT_REWARDS)
    return parse_weights(rewards) if isinstance(rewards, str) else {k: float(v) for k, v in rewards.items()}


def _prompt(info: Mapping[str, Any] | None) -> str | None:
    prompt = (info or {}).get("prompt")
    return prompt if isinstance(prompt, str) else None


def _params(info: Mapping[str, Any] | None) -> dict[str, Any] | None:
    params = (info or {}).get("verifier_params")
    return dict(params) if isinstance(params, Mapping) else None


def close_clients() -> None:
    """Close the pooled clients (also run at interpreter exit; async ones: ``aclose_clients``)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


async def aclose_clients() -> None:
    """Close the async clients of the running event loop (a reward-loop worker that shuts down)."""
    loop = asyncio.get_running_loop()
    with _clients_lock:
        mine = [key for key, (owner, _) in _async_clients.items() if owner is loop]
        clients = [_async_clients.pop(key)[1] for key in mine]
    for client in clients:
        await client.aclose()


atexit.register(close_clients)


def _endpoint(url: str | None, api_key: str | None) -> tuple[str, str | None]:
    """The URL and key a call asks for, else the environment's (``ClientSettings``), else the default URL."""
    environment = ClientSettings.current()
    key = api_key or (environment.api_key.get_secret_value() if environment.api_key else None) or None
    return url or environment.url or DEFAULT_URL, key


def _async_client(url: str | None, api_key: str | None) -> AsyncVerifierClient:
    """One pooled async client per (url, key) per event loop: the reward loop's workers each run their own."""
    url, api_key = _endpoint(url, api_key)
    loop = asyncio.get_running_loop()
    with _clients_lock:
        key = (url, api_key, id(loop))
        client = _async_clients.get(key)
        if client is None or client[0] is not loop:
            client = _async_clients[key] = (loop, AsyncVerifierClient(url, api_key=api_key))
        return client[1]


def _client(url: str | None, api_key: str | None) -> VerifierClient:
    """One pooled client per (url, key) per process: verl calls the function many times."""
    url, api_key = _endpoint(url, api_key)
    with _clients_lock:
        client = _clients.get((url, api_key))
        if client is None:
            client = _clients[(url, api_key)] = VerifierClient(url, api_key=api_key)
        return client
