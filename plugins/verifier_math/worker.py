"""The worker process: a loop that grades one ``Job`` at a time in its main thread.

Signals work here (unlike in the service's threads), so each item runs under an interval timer that raises
``ItemDeadline``, a ``BaseException`` that math-verify's and sympy's ``except Exception`` blocks let through.
What the timer cannot interrupt, the pool ends with SIGKILL. The address space is capped (RLIMIT_AS) so a
memory bomb raises ``MemoryError`` here instead of swapping the host; after one, the worker reports and
exits, because a process that ran out of memory mid-way may hold broken state.
"""

from __future__ import annotations

import os
import resource
import signal
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from math_verify.errors import TimeoutException

from verifier_math.grading import Grader
from verifier_math.guards import GuardLimits
from verifier_math.messages import READY, Job, Phase, Verdict, gold_failure


class ItemDeadline(BaseException):
    """Raised by the interval timer when an item runs past its timeout."""


def serve(
    conn: Connection,
    phase: Any,
    limits: GuardLimits,
    gold_cache_size: int,
    memory_limit_mb: int,
    own_session: bool = False,
) -> None:
    """Run until the pipe closes. ``phase`` is a shared ``c_int`` the pool reads when it has to kill us."""
    if own_session:
        os.setsid()
    limit = memory_limit_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the service, which stops us itself
    signal.signal(signal.SIGALRM, _deadline)

    def publish(value: Phase) -> None:
        phase.value = int(value)

    grader = Grader(limits, gold_cache_size, publish)
    conn.send((READY, os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        verdict, exit_after = _grade(grader, job)
        grader.set_phase(Phase.IDLE)
        conn.send(verdict)
        if exit_after:
            return


def _grade(grader: Grader, job: Job) -> tuple[Verdict, bool]:
    """Grade under the item's deadline. Returns the verdict and whether this worker must exit afterwards."""
    signal.setitimer(signal.ITIMER_REAL, job.timeout_s)
    try:
        return grader.grade(job), False
    except (ItemDeadline, TimeoutException):  # TimeoutException: math-verify's, also a BaseException
        return _lost(grader, "timeout", f"took longer than {job.timeout_s:g} s"), False
    except MemoryError:
        return _lost(grader, "memory", "ran out of memory"), True
    except RecursionError:
        return _lost(grader, "rejected", "nested too deeply to parse"), False
    except Exception as exc:  # a bug of ours or an error math-verify does not catch: never a silent 0.0
        return gold_failure("internal_error", f"grading failed: {type(exc).__name__}: {exc}"), False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _lost(grader: Grader, reason: str, what: str) -> Verdict:
    """An item that could not be graded: the model's fault (0.0) unless it happened on the gold answer."""
    if grader.phase == Phase.GOLD:
        return gold_failure(f"reference_{reason}", f"parsing the reference answer {what}")
    return Verdict(0.0, reason, note=f"grading the answer {what}")


def _deadline(signum: int, frame: FrameType | None) -> None:
    raise ItemDeadline
