"""The hook implementation: which rewards this plugin registers."""

from __future__ import annotations

from verifier import PluginConfig, Reward, hookimpl
from verifier_format.length import CosineLength, CosineParams, OverlongParams, SoftOverlong
from verifier_format.tags import FormatParams, FormatReward, TagCount, TagCountParams


@hookimpl
def register_rewards(config: PluginConfig) -> list[Reward]:
    return [
        Reward(
            name="format",
            description="1.0 for visible reasoning inside <think> tags followed by a visible answer, else 0.0",
            score=FormatReward(),
            params=FormatParams,
            deterministic=True,
        ),
        Reward(
            name="tag_count",
            description="Partial credit for each reasoning/answer tag present exactly once, outside code, and in order",
            score=TagCount(),
            params=TagCountParams,
            deterministic=True,
        ),
        Reward(
            name="soft_overlong",
            description="DAPO soft overlong punishment: 0, then linearly down to -1 at max_length",
            score=SoftOverlong(),
            params=OverlongParams,
            deterministic=True,
        ),
        Reward(
            name="cosine_length",
            description="Cosine-scaled length: short scores most if correct, long is penalised less if wrong",
            score=CosineLength(),
            params=CosineParams,
            deterministic=True,  # the scores it reads are part of the key
            reads_scores=True,
        ),
    ]
