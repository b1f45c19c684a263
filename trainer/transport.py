"""Several verifier replicas behind one ``verify`` call: load spreading, failover, cool-down.

Each URL gets one pooled ``verifier.client.VerifierClient``, which already retries connection errors, 429 and
502/503/504 with exponential backoff. On top of that this pool:

- starts each call at the next URL (round robin), so concurrent chunks spread over the replicas;
- fails over to the next URL when one stays unreachable or answers a 5xx, and puts that URL at the back of the
  queue for ``cooldown_s`` seconds, so later batches do not pay its retries again (``r1_failover.Rotation``);
- raises ``VerifierUnreachableError`` only when every URL failed; a 4xx (an invalid request, an unknown reward)
  is raised at once as ``RemoteRewardError``, since another replica would refuse it the same way.

The pool pickles without its live clients (TRL may pickle reward functions); they reopen on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from r1_failover import Rotation
from trainer.errors import RemoteRewardError, VerifierUnreachableError
from verifier.client import VerifierClient
from verifier.errors import VerifierHTTPError, VerifierUnavailableError
from verifier.schemas import Item, Params, ProfileInfo, RewardInfo, VerifyResponse, Weights

T = TypeVar("T")


class VerifierPool:
    """Blocking, thread-safe access to one or more verifier URLs."""

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        timeout: float = 300.0,
        retries: int = 2,
        backoff: float = 0.5,
        cooldown_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ValueError("at least one verifier URL is needed")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.cooldown_s = cooldown_s
        self.headers = dict(headers or {})
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, VerifierClient] = {}
        self._rotation = Rotation(self.urls, cooldown_s=self.cooldown_s)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_lock", "_clients", "_rotation"):
            del state[key]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def verify(
        self,
        items: Sequence[Item | Mapping[str, Any]],
        *,
        rewards: Weights | None = None,
        params: Params | None = None,
        group_size: int | None = None,
        profile: str | None = None,
    ) -> VerifyResponse:
        """Score a batch on the first URL that answers; one result per item, in order."""
        return self._call(
            lambda c: c.verify(items, rewards=rewards, params=params, group_size=group_size, profile=profile)
        )

    def profiles(self) -> list[ProfileInfo]:
        """The reward profiles the verifier offers."""
        return self._call(lambda c: c.profiles())

    def rewards(self) -> list[RewardInfo]:
        """The rewards the verifier offers, with their params schemas."""
        return self._call(lambda c: c.rewards())

    def _call(self, fn: Callable[[VerifierClient], T]) -> T:
        last_error: BaseException | None = None
        for url in self._rotation.order():
            try:
                result = fn(self._client(url))
            except VerifierUnavailableError as exc:
                last_error = exc
            except VerifierHTTPError as exc:
                if exc.status < 500 and exc.status != 429:
                    raise RemoteRewardError(f"the verifier at {url} refused the batch: {exc}") from exc
                last_error = exc
            else:
                self._rotation.succeeded(url)
                return result
            self._rotation.failed(url)
        raise VerifierUnreachableError(self.urls, last_error)

    def _client(self, url: str) -> VerifierClient:
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = VerifierClient(
                    url,
                    timeout=self.timeout,
                    retries=self.retries,
                    backoff=self.backoff,
                    headers=self.headers,
                )
                self._clients[url] = client
            return client

    def close(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __del__(self) -> None:
        # Reward functions handed to a trainer are rarely closed by anyone; release the sockets with them.
        clients = getattr(self, "_clients", None)
        for client in (clients or {}).values():
            client.close()

    def __enter__(self) -> VerifierPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
