"""Turning per-test scores into the item's score: the ``scoring`` modes of the ``code`` reward.

Each test scores in [0, 1] (1 or 0 for a verdict, a CMS checker's fraction otherwise).

- ``fraction``: the mean;
- ``all_or_nothing``: 1 when every test scores 1, else 0;
- ``weighted``: the tests' ``weight`` (1 when absent) times their scores, over the total weight;
- ``groups`` (IOI subtasks): a group earns its weight times its lowest test score, so with verdicts it earns
  its weight only when all its tests pass; over the total weight. A test without a group is its own group.

Weights and groups come from the reference only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from verifier_code.suite import Case, UnusableReference, groups_of

ScoringMode = Literal["fraction", "all_or_nothing", "weighted", "groups"]


def combine(scores: Sequence[float], cases: Sequence[Case] | None, mode: ScoringMode) -> tuple[float, dict[str, Any]]:
    """The item's score and what to add to its details. ``cases`` is None for a single assert-style run.
    ``UnusableReference`` when the weights cannot give a score (all zero)."""
    if not scores:
        raise UnusableReference("no test ran")
    if mode == "fraction":
        return sum(scores) / len(scores), {}
    if mode == "all_or_nothing":
        return float(all(s >= 1.0 for s in scores)), {}
    listed: list[Case] = list(cases) if cases is not None else []
    if mode == "weighted":
        weights = [c.weight if c.weight is not None else 1.0 for c in listed] or [1.0]
        total = sum(weights)
        if total <= 0:
            raise UnusableReference("every test has weight 0: no score can be given")
        return sum(w * s for w, s in zip(weights, scores, strict=True)) / total, {}
    groups = groups_of(listed) if listed else []
    total = sum(g.weight for g in groups) if groups else 1.0
    if total <= 0:
        raise UnusableReference("every group has weight 0: no score can be given")
    if not groups:
        return min(scores), {}
    lows = [min(scores[i] for i in group.members) for group in groups]
    value = sum(group.weight * low for group, low in zip(groups, lows, strict=True)) / total
    earned = [
        {"group": g.name, "weight": g.weight, "score": low, "tests": len(g.members)}
        for g, low in zip(groups, lows, strict=True)
    ]
    return value, {"groups": earned}
