"""The one way to read how an execution ended: plain facts in, an ``ExecStatus`` and a message out.

Every backend reports the same facts (``ExitFacts``) and calls ``classify``; the rules, first match wins,
in the order ``ExecStatus`` documents:

1. the program never started                                         -> ``sandbox_error``
2. the supervisor killed it at the wall-time limit                    -> ``timeout``
3. the CPU-time limit: ``SIGXCPU`` (only ``RLIMIT_CPU`` sends it, and rusage may read under the limit
   when it fires), the supervisor's own CPU kill, a ``SIGKILL`` at the limit (the hard limit), or a
   tree that used more CPU than allowed whatever its exit                      -> ``timeout``
4. the supervisor killed it for output beyond the limit                -> ``output_limit``
5. an OOM kill in the run's memory cgroup                             -> ``memory_limit``
6. exit code 0                                                         -> ``ok``
7. a failed run that ran out of memory under an address-space limit or a runtime heap flag: the
   runtime's out-of-memory message, or a peak at the limit                   -> ``memory_limit``
8. anything else (non-zero exit, a signal; ``SIGXFSZ`` says which limit)  -> ``runtime_error``
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Literal

from sandbox.types import ExecStatus, Limits

__all__ = ["MEMORY_MARKERS", "ExitFacts", "KilledFor", "classify"]

KilledFor = Literal["wall_time", "cpu_time", "output"]

MEMORY_MARKERS = (
    "MemoryError",
    "std::bad_alloc",
    "Cannot allocate memory",
    "out of memory",
    "OutOfMemoryError",
)
# A SIGKILL "at" the CPU limit (the hard rlimit) or a peak "at" the memory limit: rusage granularity.
_AT_LIMIT = 0.95
# A tree that exited on its own is over its CPU limit only when clearly over (rusage granularity).
_CPU_OVER = 1.05
_STDERR_SCANNED = 4000


@dataclass(frozen=True, slots=True)
class ExitFacts:
    """What a supervisor saw of one execution, with no interpretation."""

    exit_code: int | None = None
    signal: int | None = None
    cpu_time_s: float = 0.0
    peak_memory_mb: float = 0.0
    killed_for: KilledFor | None = None
    """Why the supervisor itself killed the run, if it did."""
    oom_killed: bool = False
    """The run's memory cgroup counted an OOM kill during the run."""
    stderr: str = ""
    start_error: str | None = None
    """The program could not be started (missing executable, failed setup)."""


def classify(facts: ExitFacts, limits: Limits) -> tuple[ExecStatus, str]:
    """The status of one execution and the sandbox's explanation (empty for ``ok``)."""
    cpu_limit = limits.effective_cpu_time_s
    sig = facts.signal
    if facts.start_error is not None:
        return ExecStatus.SANDBOX_ERROR, f"could not start the program: {facts.start_error}"
    if facts.killed_for == "wall_time":
        return ExecStatus.TIMEOUT, f"killed at the wall-time limit ({limits.wall_time_s:g} s)"
    # A launcher shell (kotlinc, scala, ...) reports its child's death by signal N as exit status 128 + N.
    relayed = facts.exit_code - 128 if sig is None and facts.exit_code is not None and facts.exit_code > 128 else None
    if (
        sig == signal.SIGXCPU
        or relayed == signal.SIGXCPU
        or facts.killed_for == "cpu_time"
        or (signal.SIGKILL in (sig, relayed) and facts.cpu_time_s >= cpu_limit * _AT_LIMIT)
        or facts.cpu_time_s > cpu_limit * _CPU_OVER
    ):
        return ExecStatus.TIMEOUT, f"killed at the CPU-time limit ({cpu_limit:g} s)"
    if facts.killed_for == "output":
        return ExecStatus.OUTPUT_LIMIT, f"output exceeded {limits.output_bytes} bytes"
    if facts.oom_killed:
        return ExecStatus.MEMORY_LIMIT, f"killed by the OOM killer ({limits.memory_mb} MB limit)"
    if facts.exit_code == 0 and sig is None:
        return ExecStatus.OK, ""
    tail = facts.stderr[-_STDERR_SCANNED:]
    if any(marker in tail for marker in MEMORY_MARKERS) or facts.peak_memory_mb >= limits.memory_mb * _AT_LIMIT:
        return ExecStatus.MEMORY_LIMIT, f"ran out of memory ({limits.memory_mb} MB limit)"
    if sig == signal.SIGXFSZ:
        return ExecStatus.RUNTIME_ERROR, f"wrote a file over {limits.file_size_mb} MB"
    if sig is not None:
        return ExecStatus.RUNTIME_ERROR, f"killed by signal {sig} ({_signal_name(sig)})"
    return ExecStatus.RUNTIME_ERROR, f"exit code {facts.exit_code}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown"
