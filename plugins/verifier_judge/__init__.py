"""Built-in LLM-judge reward: ask an OpenAI-compatible chat endpoint (vLLM, ...) to grade the final answer."""

from __future__ import annotations

from verifier_judge.plugin import register_rewards

__all__ = ["register_rewards"]
