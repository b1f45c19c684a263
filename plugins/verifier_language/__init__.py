"""Built-in language rewards: R1's language-consistency reward and the readability filter."""

from __future__ import annotations

from verifier_language.plugin import register_rewards

__all__ = ["register_rewards"]
