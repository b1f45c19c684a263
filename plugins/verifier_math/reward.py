"""The ``math`` reward: 1.0 when the completion's final answer equals the reference answer, else 0.0."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import Any

from verifier import Health, RewardItem, Score, split_reasoning
from verifier_math import metrics
from verifier_math.errors import PoolError
from verifier_math.guards import GuardLimits
from verifier_math.messages import Job, Verdict
from verifier_math.params import MathOptions, MathParams
from verifier_math.pool import WorkerPool

BAD_GOLD_MEMORY = 256
"""Gold answers whose parsing timed out or crashed, remembered so the rest of their group fails fast."""


class MathReward:
    """Scores items on a worker pool that its ``lifespan`` owns. Picklable (the pool stays behind)."""

    def __init__(self, options: MathOptions | None = None) -> None:
        self.options = options or MathOptions()
        self._pool: WorkerPool | None = None
        self._bad_gold: OrderedDict[tuple[str, float], Verdict] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["options"])  # type: ignore[misc]

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Own the worker pool for the life of the service."""
        options = self.options
        pool = WorkerPool(
            options.workers or len(os.sched_getaffinity(0)),
            limits=GuardLimits(
                options.max_answer_chars, options.max_nesting, options.max_power_depth, options.max_digits
            ),
            gold_cache_size=options.gold_cache_size,
            memory_limit_mb=options.memory_limit_mb,
            own_sessions=options.own_sessions,
            kill_grace_s=options.kill_grace_s,
            start_timeout_s=options.start_timeout_s,
        )
        await pool.start()
        metrics.track(pool)
        self._pool = pool
        try:
            yield
        finally:
            self._pool = None
            await pool.close()

    def health(self) -> Health:
        pool = self._pool
        if pool is None:
            return Health("down", "math worker pool not started")
        stats = pool.stats()
        if stats.alive == 0 and stats.start_error:
            return Health("down", f"cannot start math workers: {stats.start_error}")
        summary = f"{stats.alive}/{stats.size} workers, {stats.busy} busy, {stats.replaced} replaced"
        if stats.start_error:
            return Health("degraded", f"{summary}; last worker start failed: {stats.start_error}")
        return Health("ok", summary)

    @property
    def pool(self) -> WorkerPool | None:
        """The running pool (``None`` outside the lifespan)."""
        return self._pool

    async def __call__(self, items: Sequence[RewardItem[MathParams]]) -> list[Score]:
        return list(await asyncio.gather(*(self._score(item) for item in items)))

    async def _score(self, item: RewardItem[MathParams]) -> Score:
        params = item.params
        gold = item.reference
        if gold is None:
            return Score(
                None,
                {"reason": "no_reference"},
                "the item has no reference answer: send the gold answer as a string in 'reference'",
            )
        if isinstance(gold, int | float) and not isinstance(gold, bool):  # GSM8K-style numeric answers
            gold = str(gold)
        if not isinstance(gold, str):
            return Score(
                None,
                {"reason": "bad_reference"},
                f"the reference answer must be a string or a number, not {type(gold).__name__}",
            )
        known_bad = self._bad_gold.get((gold, params.timeout_s))  # a longer timeout may yet parse it
        if known_bad is not None:
            return Score(None, known_bad.details(), known_bad.error)

        text = item.completion_text
        split = split_reasoning(text, params)
        region = text if params.search_think else split.answer or ""
        truncated = len(region) > self.options.max_completion_chars
        if truncated:
            region = region[-self.options.max_completion_chars :]
        job = Job(
            gold,
            region,
            params.extract,
            params.tolerance,
            params.strict_multipart,
            params.set_relation,
            params.strict_variables,
            params.timeout_s,
            params.final_form,
            params.math_verify_targets,
        )
        pool = self._pool
        if pool is None:
            return Score(
                None, {}, "the math worker pool is not running (the host did not enter its lifespan)"
            )
        try:
            verdict = await pool.run(job)
        except PoolError as exc:
            return Score(None, {}, str(exc))

        if verdict.value is None and verdict.reason.startswith("reference_"):
            self._remember_bad_gold((gold, params.timeout_s), verdict)
        details = verdict.details()
        if truncated:
            details["truncated"] = (
                f"only the last {self.options.max_completion_chars} characters were searched"
            )
        if verdict.reason == "no_answer" and not split.finished and not params.search_think:
            details["note"] = f"the <{params.think_tag}> block is never closed: the reasoning did not finish"
        # Running out of time depends on the machine's load as much as on the item: never reuse that verdict.
        return Score(verdict.value, details, verdict.error, cacheable=verdict.reason != "timeout")

    def _remember_bad_gold(self, gold: tuple[str, float], verdict: Verdict) -> None:
        self._bad_gold[gold] = verdict
        self._bad_gold.move_to_end(gold)
        while len(self._bad_gold) > BAD_GOLD_MEMORY:
            self._bad_gold.popitem(last=False)
