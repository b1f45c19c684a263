"""Coalescing: concurrent requests scored as shared batches, so many small requests cost about one batch.

Per-sample clients (OpenRLHF's remote-RM client, verl's reward loop) send one request per completion as
generations finish: thousands at once. Scored one by one, each pays every reward's fixed cost per call (a round
trip to the math pool, a sandbox dispatch, a judge request) and they queue behind each other. Instead:

- each request is validated and planned on its own (``BatchScorer.plan``): a bad request fails alone, with its
  own 4xx, before it joins anything;
- its items join the *open* batch. A batch is scored once a scoring slot is free (``max_concurrent``) and its
  window has passed (``window_s``, a few ms) or it holds ``max_items``; while every slot is busy the open batch
  keeps filling, so the busier the server, the larger (and cheaper per item) its batches;
- the shared batch runs each reward once over all its items, each item with its own validated params, so
  requests with different rewards, weights, params or profiles share a batch without being mixed;
- each request's result is combined from exactly its own items (advantages per request, in request order).

A reward that raises on a shared batch is retried on halves of it down to single requests (``BatchScorer``),
so one request's bad item never becomes another request's error. A reward *timeout* is not retried: every
request in that call gets the timeout error (docs/operations.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskGroup

from verifier.errors import BatchFailedError
from verifier.scoring import BatchScorer, ItemPlan, ScoredBatch, ScoreRequest, ScoringObserver

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Member:
    plans: list[ItemPlan]
    done: anyio.Event = field(default_factory=anyio.Event)
    error: BaseException | None = None


@dataclass(eq=False)
class _Batch:
    members: list[_Member] = field(default_factory=list)
    items: int = 0
    full: anyio.Event = field(default_factory=anyio.Event)


class Coalescer:
    """Scores ``ScoreRequest``s through ``scorer``, merging those that arrive together into shared batches.

    Enter ``running()`` (it owns the tasks that score the batches); outside it, each request is scored alone.
    """

    def __init__(
        self,
        scorer: BatchScorer,
        *,
        window_s: float = 0.005,
        max_items: int = 1024,
        max_concurrent: int = 8,
        observer: ScoringObserver | None = None,
    ) -> None:
        self.scorer = scorer
        self.observer = observer
        self.window_s = window_s
        self.max_items = max_items
        self.max_concurrent = max_concurrent
        self._slots = anyio.Semaphore(max_concurrent)
        self._open: _Batch | None = None
        self._tasks: TaskGroup | None = None
        self.active = 0  # batches being scored
        self.waiting = 0  # batches formed, waiting for their window or a slot

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Coalescer]:
        """Score shared batches until the block ends; on exit, the batches already formed are finished."""
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield self
            finally:
                self._tasks = None  # later requests are scored alone; the task group waits for the formed ones

    async def score(
        self, request: ScoreRequest, *, admit: Callable[[int], None] | None = None
    ) -> ScoredBatch:
        """One result per item of ``request``, as ``BatchScorer.score`` gives. ``admit`` is called with the
        item count once the request is valid and before it waits; it may raise to refuse the request."""
        plans = self.scorer.plan(request)
        if admit is not None:
            admit(len(plans))
        tasks = self._tasks
        if plans and tasks is None:
            await self.scorer.run(plans)
        elif plans and tasks is not None:
            member = _Member(plans)
            self._join(member, tasks)
            await member.done.wait()
            if member.error is not None:
                raise BatchFailedError("scoring a shared batch failed; the server log has the traceback") from (
                    member.error
                )
        return self.scorer.combine(plans, request)

    def _join(self, member: _Member, tasks: TaskGroup) -> None:
        batch = self._open
        if batch is None:
            batch = self._open = _Batch()
            self.waiting += 1
            tasks.start_soon(self._score_when_ready, batch)
        batch.members.append(member)
        batch.items += len(member.plans)
        if batch.items >= self.max_items:
            self._open = None  # the next request opens a new batch
            batch.full.set()

    async def _score_when_ready(self, batch: _Batch) -> None:
        error: BaseException | None = BatchFailedError("the server stopped before the batch was scored")
        queued = True  # counted in ``waiting``
        try:
            with anyio.move_on_after(self.window_s):
                await batch.full.wait()
            async with self._slots:
                if self._open is batch:
                    self._open = None
                self.waiting -= 1
                queued = False
                self.active += 1
                try:
                    plans: list[ItemPlan] = []
                    for origin, member in enumerate(batch.members):
                        for plan in member.plans:
                            plan.origin = origin
                        plans.extend(member.plans)
                    await self.scorer.run(plans)
                    error = None
                    if self.observer is not None:
                        self.observer.batch_done(len(batch.members))
                finally:
                    self.active -= 1
        except Exception as exc:  # the scorer turns reward failures into item errors; this is anything else
            log.exception("scoring a batch of %d requests failed", len(batch.members))
            error = exc
        finally:
            if queued:
                self.waiting -= 1
            if self._open is batch:
                self._open = None
            for member in batch.members:
                member.error = error
                member.done.set()
