"""Which rewards a request asks for, with what weights and params: shared by the core and the wire format."""

from __future__ import annotations

from typing import Any, TypeAlias

Weights: TypeAlias = list[str] | dict[str, float]
"""Rewards to compute: a list of names (weight 1 each) or a mapping of name to weight."""

Params: TypeAlias = dict[str, dict[str, Any]]
"""Reward parameters keyed by reward name."""


def parse_weights(text: str) -> dict[str, float]:
    """``"math:1,format:0.5"`` (a missing weight is 1.0) as a mapping; ``ValueError`` when malformed."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition(":")
        try:
            weights[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"weight of {name.strip()!r} is not a number: {weight!r}") from None
    if not weights:
        raise ValueError(f"no reward named in {text!r}")
    return weights
