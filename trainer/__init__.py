"""The trainer side: TRL rewards backed by the verifier over HTTP, and the R1 training stages.

Only ``RemoteReward`` and its transport are imported here; the stages (``trainer.grpo``, ``trainer.sft``)
and the mini R1 run import torch and TRL, which the ``[trainer]`` extra installs.
"""

from __future__ import annotations

from trainer.columns import DEFAULT_COLUMNS, ColumnMap
from trainer.errors import RecipeError, RemoteRewardError, TrainerError, VerifierUnreachableError
from trainer.reward import RemoteReward
from trainer.transport import VerifierPool

__all__ = [
    "DEFAULT_COLUMNS",
    "ColumnMap",
    "RecipeError",
    "RemoteReward",
    "RemoteRewardError",
    "TrainerError",
    "VerifierPool",
    "VerifierUnreachableError",
]
