"""The worker pool: pathological answers, hard deadlines, killed workers, bad input, the gold cache."""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from verifier_math import MathOptions, MathReward
from verifier_math.errors import PoolError
from verifier_math.grading import Grader
from verifier_math.guards import GuardLimits
from verifier_math.messages import Job
from verifier_math.pool import PoolStats, WorkerPool

from tests.plugins.math.conftest import Grade, PoolThread, item

NORMAL = [
    ("\\frac{1}{2}", "So the answer is $\\boxed{0.5}$.", 1.0),
    ("42", "#### 42", 1.0),
    ("\\sqrt{2}", "\\boxed{\\sqrt{3}}", 0.0),
    ("[1, 2)", "The interval is \\boxed{[1,2)}.", 1.0),
    ("73", "In total **73**", 1.0),
    ("x^2 - 1", "\\boxed{(x-1)(x+1)}", 1.0),
]
TOWER = "\\boxed{9^{9^{9^{9}}}}"
LONG_EXPRESSION = "\\boxed{" + "+".join(["x"] * 25_000) + "}"  # 50k characters
HUGE_INTEGER = "\\boxed{" + "7" * 10_000 + "}"
# Guards off, so that the slow answers reach sympy and only the deadline stops them.
UNGUARDED = {"max_power_depth": 10, "max_digits": 10**9, "max_answer_chars": 10**6, "max_nesting": 10**4}


def wait_for(condition: Callable[[], bool], what: str, limit_s: float = 120) -> None:
    """Poll until ``condition`` holds (a bound for a hung test, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def stats(pool: PoolThread) -> PoolStats:
    assert pool.reward.pool is not None
    return pool.reward.pool.stats()


def batch_with(pool: PoolThread, extra: list[tuple[Any, str, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """Score the normal items interleaved with ``extra`` (gold, completion, params); return both scores."""
    cases: list[tuple[Any, str, dict[str, Any], float | None]] = []
    for i, (gold, completion, value) in enumerate(NORMAL):
        cases.append((gold, completion, {}, value))
        if i < len(extra):
            cases.append((*extra[i], None))
    results = pool.score([item(g, c, i, **params) for i, (g, c, params, _) in enumerate(cases)])
    assert len(results) == len(cases)
    normal = [(r, case[3]) for r, case in zip(results, cases, strict=True) if case[3] is not None]
    odd = [r for r, case in zip(results, cases, strict=True) if case[3] is None]
    return normal, odd


def assert_normal_scored(normal: list[Any]) -> None:
    for result, value in normal:
        assert result.value == value, result.details


def test_pathological_batch_is_refused_by_the_guards_and_the_rest_is_scored() -> None:
    with PoolThread(MathOptions(workers=2)) as pool:
        normal, odd = batch_with(pool, [("9", TOWER, {}), ("9", LONG_EXPRESSION, {}), ("9", HUGE_INTEGER, {})])
        assert_normal_scored(normal)
        for result in odd:
            assert result.value == 0.0 and result.error is None
            assert result.details["reason"] in {"rejected", "timeout"}, result.details
        assert stats(pool).alive == 2


@pytest.mark.slow
def test_pathological_batch_past_the_guards_times_out_only_the_slow_item() -> None:
    with PoolThread(MathOptions(workers=2, kill_grace_s=0.5, **UNGUARDED)) as pool:
        normal, odd = batch_with(
            pool, [("9", TOWER, {"timeout_s": 1.0}), ("9", LONG_EXPRESSION, {}), ("9", HUGE_INTEGER, {})]
        )
        assert_normal_scored(normal)
        tower, long_expression, huge_integer = odd
        assert tower.value == 0.0 and tower.details["reason"] == "timeout"
        assert long_expression.value == 0.0 and huge_integer.value == 0.0
        wait_for(lambda: stats(pool).alive == 2, "the pool to be full")
        normal, _ = batch_with(pool, [])
        assert_normal_scored(normal)


@pytest.mark.slow
def test_unresponsive_workers_are_killed_at_the_deadline_and_replaced() -> None:
    with PoolThread(MathOptions(workers=2, kill_grace_s=0.5)) as pool:
        before = stats(pool).pids
        for pid in before:
            os.kill(pid, signal.SIGSTOP)  # frozen like a worker stuck in a C call that holds the GIL
        # The second job is larger than a pipe buffer: sending it to a frozen worker must not block the service.
        completions = ["\\boxed{1}", "a long think. " * 10_000 + "\\boxed{1}"]
        results = pool.score([item("1", c, i, timeout_s=0.5) for i, c in enumerate(completions)])
        for result in results:
            assert result.value == 0.0 and result.details["reason"] == "timeout"
            assert "killed" in result.details["note"]
        wait_for(lambda: stats(pool).alive == 2, "replacement workers")
        after = stats(pool)
        assert after.replaced == 2 and not set(after.pids) & set(before)
        normal, _ = batch_with(pool, [])
        assert_normal_scored(normal)


def test_a_worker_killed_while_idle_costs_nothing() -> None:
    with PoolThread(MathOptions(workers=2)) as pool:
        victim = stats(pool).pids[0]
        os.kill(victim, signal.SIGKILL)
        normal, _ = batch_with(pool, [])
        assert_normal_scored(normal)
        wait_for(lambda: stats(pool).alive == 2 and victim not in stats(pool).pids, "a replacement")


@pytest.mark.slow
def test_a_worker_killed_mid_item_costs_only_that_item() -> None:
    with PoolThread(MathOptions(workers=2, **UNGUARDED)) as pool:
        slow = pool.submit([item("9", TOWER, 0, timeout_s=60)])
        wait_for(lambda: len(stats(pool).busy_pids) == 1, "the slow item to start")
        [first] = stats(pool).busy_pids
        os.kill(first, signal.SIGKILL)  # the item is retried once on another worker...
        normal, _ = batch_with(pool, [])  # ...while the rest of the traffic is scored
        assert_normal_scored(normal)
        wait_for(lambda: [p for p in stats(pool).busy_pids if p != first] != [], "the retry to start")
        [second] = stats(pool).busy_pids
        os.kill(second, signal.SIGKILL)  # a second death scores it 0.0
        [result] = slow.result(120)
        assert result.value == 0.0 and result.details["reason"] == "crashed" and result.error is None
        wait_for(lambda: stats(pool).alive == 2, "the pool to be full")
        assert stats(pool).replaced == 2
        normal, _ = batch_with(pool, [])
        assert_normal_scored(normal)


@pytest.mark.parametrize(
    ("reference", "reason", "message"),
    [
        (None, "no_reference", "no reference"),
        (["1", "2"], "bad_reference", "string or a number, not list"),
        ({"answer": "1"}, "bad_reference", "not dict"),
        (True, "bad_reference", "not bool"),
        ("", "bad_reference", "empty"),
        ("\\frac{", "bad_reference", "could not be parsed"),
        ("???", "bad_reference", "could not be parsed"),
        ("\\boxed{9^{9^{9^{9}}}}", "bad_reference", "not parsed"),
    ],
)
def test_an_unusable_reference_is_null_with_an_error(grade: Grade, reference: Any, reason: str, message: str) -> None:
    for _ in range(2):  # the second time from the service's memory of bad references
        result = grade(reference, "\\boxed{1}")
        assert result.value is None and result.details["reason"] == reason
        assert result.error is not None and message in result.error


def test_a_numeric_reference_is_read_as_its_decimal_text(grade: Grade) -> None:
    assert grade(42, "#### 42").value == 1.0
    assert grade(0.5, "\\boxed{\\frac12}").value == 1.0
    assert grade(42, "#### 41").value == 0.0


def test_a_one_megabyte_completion_is_scored_from_its_tail(grade: Grade) -> None:
    filler = "We keep adding 1 + 1 = 2 and thinking. " * 27_000
    assert len(filler) > 2**20
    result = grade("7", filler + "So the answer is $\\boxed{7}$.")
    assert result.value == 1.0 and "truncated" in result.details
    assert grade("7", filler).value == 0.0


def test_details_are_clipped(grade: Grade) -> None:
    result = grade("1", "\\boxed{" + "1+" * 5000 + "1}")
    assert result.value == 0.0 and result.details["reason"] == "rejected"
    assert all(len(value) <= 300 for value in result.details.values() if isinstance(value, str))


def test_gold_answers_are_parsed_once_per_worker() -> None:
    grader = Grader(GuardLimits(), gold_cache_size=8, publish=lambda phase: None)
    job = Job("\\frac{1}{2}", "\\boxed{0.5}", ("boxed",), 1e-6, True, False, True, 5.0)
    assert [grader.grade(job).value for _ in range(3)] == [1.0, 1.0, 1.0]
    info = grader.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_workers_can_run_in_their_own_sessions() -> None:
    with PoolThread(MathOptions(workers=2, own_sessions=True)) as pool:
        assert all(os.getsid(pid) == pid for pid in stats(pool).pids)
        normal, _ = batch_with(pool, [])
        assert_normal_scored(normal)
    with PoolThread(MathOptions(workers=1)) as pool:
        assert all(os.getsid(pid) == os.getsid(0) for pid in stats(pool).pids)


def test_health_reports_the_pool_and_the_reward_pickles_without_it() -> None:
    reward = MathReward(MathOptions(workers=2))
    assert reward.health().status == "down"
    with PoolThread(MathOptions(workers=2)) as pool:
        health = pool.reward.health()
        assert health.status == "ok" and "2/2 workers" in health.message
        copy = pickle.loads(pickle.dumps(pool.reward))
        assert copy.options == pool.reward.options and copy.pool is None


@pytest.mark.slow
def test_a_reference_that_times_out_is_null_and_not_retried_at_the_same_timeout() -> None:
    with PoolThread(MathOptions(workers=2, kill_grace_s=0.5, **UNGUARDED)) as pool:
        slow_gold = "\\frac{" * 1000 + "1" + "}{2}" * 1000  # seconds to parse (nesting guard off)
        [first] = pool.score([item(slow_gold, "\\boxed{1}", timeout_s=0.2)])
        assert first.value is None and first.details["reason"] == "reference_timeout" and first.error
        replaced = stats(pool).replaced
        [again] = pool.score([item(slow_gold, "\\boxed{2}", timeout_s=0.2)])
        assert again.value is None and again.details["reason"] == "reference_timeout"
        assert stats(pool).replaced == replaced  # answered from memory: no worker was tied up


class _CannotStart(WorkerPool):
    """A pool on a machine where no process can be started (a stand-in: this cannot be caused reliably here)."""

    def _spawn(self) -> Any:
        raise PoolError("fork failed: resource temporarily unavailable")


def test_a_pool_without_workers_answers_with_an_error_not_a_score() -> None:
    async def go() -> None:
        pool = _CannotStart(
            2, limits=GuardLimits(), gold_cache_size=8, memory_limit_mb=1024, kill_grace_s=1.0, start_timeout_s=5.0
        )
        await pool.start()
        try:
            assert pool.stats().alive == 0 and pool.stats().start_error
            job = Job("1", "\\boxed{1}", ("boxed",), 1e-6, True, False, True, 5.0)
            with pytest.raises(PoolError, match="no math worker process can be started"):
                await pool.run(job)
        finally:
            await pool.close()

    anyio.run(go)


def test_a_cancelled_batch_gives_every_worker_back() -> None:
    with PoolThread(MathOptions(workers=2)) as pool:
        many = [item("\\frac{1}{2}", f"\\boxed{{{i}/{2 * i}}}", i) for i in range(1, 300)]
        cancelled = pool.submit(many)
        wait_for(lambda: len(stats(pool).busy_pids) > 0, "the batch to start")
        cancelled.cancel()
        normal, _ = batch_with(pool, [])
        assert_normal_scored(normal)
        wait_for(lambda: stats(pool).alive == 2, "the pool to be full")
        wait_for(lambda: stats(pool).busy == 0, "the workers to be idle")
