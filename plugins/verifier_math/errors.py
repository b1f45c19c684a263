"""Exceptions of the math plugin.

    verifier.RewardFailure
    └── PoolError     the worker pool cannot grade: not started, closed, or no worker process can be started

A wrong, unparseable, too slow or crashing *answer* is never an exception: it is a 0.0 score with a reason.
``PoolError`` is an infrastructure failure and becomes ``null`` plus an error for the items it hits.
"""

from __future__ import annotations

from verifier import RewardFailure


class PoolError(RewardFailure):
    """The math worker pool cannot grade items right now."""
