"""The ``math`` reward and the verdict cache: a grading that ran out of time is marked not to be reused (on a
loaded machine a right answer can run out of time too); an ordinary verdict may be."""

from __future__ import annotations

import os
import signal
import time

from verifier_math import MathOptions

from tests.plugins.math.conftest import PoolThread, item


def test_a_timed_out_grading_is_not_cacheable_and_a_graded_one_is() -> None:
    with PoolThread(MathOptions(workers=1, kill_grace_s=0.5)) as pool:
        [graded] = pool.score([item("1", "\\boxed{1}")])
        assert graded.value == 1.0 and graded.cacheable
        pool_stats = pool.reward.pool
        assert pool_stats is not None
        for pid in pool_stats.stats().pids:
            os.kill(pid, signal.SIGSTOP)  # a worker that cannot answer in time, as on an overloaded machine
        [late] = pool.score([item("1", "\\boxed{1}", timeout_s=0.3)])
        assert late.value == 0.0 and late.details["reason"] == "timeout"
        assert not late.cacheable
        deadline = time.monotonic() + 60
        while pool_stats.stats().alive < 1 and time.monotonic() < deadline:  # the replacement, before closing
            time.sleep(0.05)
