"""r1-verifier: a reward and verification service for R1-style RL training.

This package's top level is the public plugin API: what a reward plugin imports. The HTTP layer
(``verifier.http``) and the client (``verifier.client``) are imported explicitly by those who need them.
"""

from __future__ import annotations

from verifier.errors import PluginError, RewardFailure, VerifierError
from verifier.hookspecs import hookimpl
from verifier.messages import Message
from verifier.metrics import plugin_metric
from verifier.reasoning import ReasoningSplit, ReasoningTags, split_reasoning
from verifier.types import (
    Health,
    HealthStatus,
    NoParams,
    PluginConfig,
    Reward,
    RewardItem,
    Score,
    ScoreFn,
    ScoreLike,
    message_text,
)

__version__ = "0.1.0"

__all__ = [
    "Health",
    "HealthStatus",
    "Message",
    "NoParams",
    "PluginConfig",
    "PluginError",
    "ReasoningSplit",
    "ReasoningTags",
    "Reward",
    "RewardFailure",
    "RewardItem",
    "Score",
    "ScoreFn",
    "ScoreLike",
    "VerifierError",
    "__version__",
    "hookimpl",
    "message_text",
    "plugin_metric",
    "split_reasoning",
]
