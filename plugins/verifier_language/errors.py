"""Exceptions of the language plugin.

    verifier.RewardFailure
    └── DetectorUnavailable   a language detector cannot be loaded (missing package, unreadable model)

Everything the model writes is a score, never an exception; only a broken installation raises.
"""

from __future__ import annotations

from verifier import RewardFailure


class DetectorUnavailable(RewardFailure):
    """The configured detector cannot be built; the host reports it per item (and at startup)."""
