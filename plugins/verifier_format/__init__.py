"""Built-in format rewards: the R1 ``<think>`` shape, tag counting, and length shaping (DAPO, cosine)."""

from __future__ import annotations

from verifier_format.plugin import register_rewards

__all__ = ["register_rewards"]
