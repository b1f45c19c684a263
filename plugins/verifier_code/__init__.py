"""Built-in code rewards: run the model's program in the sandbox against the reference's tests."""

from __future__ import annotations

from verifier_code.plugin import register_rewards

__all__ = ["register_rewards"]
