"""Scoring through a deployment handle, for callers that already run inside the Ray cluster.

A verl reward-loop worker or any Ray actor can skip HTTP and JSON-over-the-proxy:

    verifier = VerifierHandle()                     # app "verifier", deployment "VerifierReplica"
    response = verifier.verify(items, rewards=["math"])        # blocking (a sync worker)
    response = await verifier.averify(items, rewards=["math"])  # in async code

The batch and its answer are the ``/v1/verify`` bodies, so results equal the HTTP API's. A replica that dies
under the batch (its process killed, its node lost) surfaces as Ray's ``ActorDiedError``; scoring is a pure
function of the request, so the batch is sent again, and Serve routes it to a live replica. A request the
verifier refuses raises ``VerifierHTTPError``, as the HTTP client does; 429/503 are retried after a pause.
The object is picklable (the handle is looked up lazily in the process that uses it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ray import serve
from ray.exceptions import ActorDiedError, ActorUnavailableError
from ray.serve.exceptions import BackPressureError

from verifier.advantages import ScaleRewards
from verifier.client import RETRY_STATUSES, encode_verify
from verifier.errors import VerifierHTTPError, VerifierUnavailableError
from verifier.rayserve.deployment import APP_NAME, DEPLOYMENT_NAME
from verifier.schemas import ErrorResponse, Item, Params, VerifyResponse, Weights

_RETRYABLE = (ActorDiedError, ActorUnavailableError, BackPressureError)


class VerifierHandle:
    def __init__(
        self,
        app_name: str = APP_NAME,
        deployment_name: str = DEPLOYMENT_NAME,
        *,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.app_name = app_name
        self.deployment_name = deployment_name
        self.retries = retries
        self.backoff = backoff
        self.last_replica = ""  # NODE_ID/REPLICA_ID of the replica that answered the last batch
        self._handle: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handle": None}

    def _get(self) -> Any:
        if self._handle is None:
            self._handle = serve.get_deployment_handle(self.deployment_name, app_name=self.app_name)
        return self._handle

    def verify(
        self,
        items: Sequence[Item | Mapping[str, Any]],
        *,
        rewards: Weights | None = None,
        params: Params | None = None,
        group_size: int | None = None,
        scale_rewards: ScaleRewards = "group",
        profile: str | None = None,
    ) -> VerifyResponse:
        """Score a batch, blocking; one result per item, in order."""
        body = encode_verify(items, rewards, params, group_size, scale_rewards, profile)
        for attempt in range(self.retries + 1):
            try:
                answer = self._get().score.remote(body).result()
            except _RETRYABLE as exc:
                self._give_up_after(attempt, exc)
                time.sleep(self.backoff * 2**attempt)
                continue
            if self._retry(answer, attempt):
                time.sleep(self.backoff * 2**attempt)
                continue
            return self._response(answer)
        raise AssertionError("unreachable")

    async def averify(
        self,
        items: Sequence[Item | Mapping[str, Any]],
        *,
        rewards: Weights | None = None,
        params: Params | None = None,
        group_size: int | None = None,
        scale_rewards: ScaleRewards = "group",
        profile: str | None = None,
    ) -> VerifyResponse:
        """Score a batch from async code; one result per item, in order."""
        body = encode_verify(items, rewards, params, group_size, scale_rewards, profile)
        for attempt in range(self.retries + 1):
            try:
                answer = await self._get().score.remote(body)
            except _RETRYABLE as exc:
                self._give_up_after(attempt, exc)
                await asyncio.sleep(self.backoff * 2**attempt)
                continue
            if self._retry(answer, attempt):
                await asyncio.sleep(self.backoff * 2**attempt)
                continue
            return self._response(answer)
        raise AssertionError("unreachable")

    def _give_up_after(self, attempt: int, exc: Exception) -> None:
        if attempt == self.retries:
            raise VerifierUnavailableError(f"deployment {self.app_name}/{self.deployment_name}: {exc!r}") from exc

    def _retry(self, answer: tuple[int, bytes, str], attempt: int) -> bool:
        return answer[0] in RETRY_STATUSES and attempt < self.retries

    def _response(self, answer: tuple[int, bytes, str]) -> VerifyResponse:
        status, body, self.last_replica = answer
        if status != 200:
            error = ErrorResponse.model_validate_json(body).error
            raise VerifierHTTPError(status, error.type, error.message, error.details)
        return VerifyResponse.model_validate_json(body)
