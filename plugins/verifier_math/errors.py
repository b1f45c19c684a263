"""Every exception of the math plugin: one public tree, under the host's ``verifier.RewardFailure``.

::

    verifier.RewardFailure
    └── PoolError     the worker pool cannot grade: not started, closed, or no worker process can be started

A wrong, unparseable, too slow or crashing *answer* is never an exception: it is a 0.0 score with a reason.
``PoolError`` is an infrastructure failure and becomes ``null`` plus an error for the items it hits; the pool
(``verifier_math.pool``) is the boundary where a worker's ``OSError``/``EOFError`` becomes one.

Private control flow, raised and caught inside one module, never seen outside the plugin::

    Exception
    ├── _WorkerDied   pool: a worker's pipe closed mid-item (retried once on a fresh worker, then a crash verdict)
    ├── _Overran      pool: the worker did not answer within the item's deadline (a too-slow verdict)
    └── BadGold       grading: the reference answer cannot be used (a bad_reference verdict, not a score)
    BaseException
    └── ItemDeadline  worker: the item's interval timer fired. A BaseException so that math-verify's and
                      sympy's ``except Exception`` blocks let it through
"""

from __future__ import annotations

from verifier import RewardFailure


class PoolError(RewardFailure):
    """The math worker pool cannot grade items right now."""
