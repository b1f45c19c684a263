"""Rewards the trainer tests serve from a real verifier (registered directly, without entry points)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from verifier import PluginConfig, Reward, RewardItem, Score, hookimpl

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def number(items: Sequence[RewardItem]) -> list[Score]:
    """The float written in the completion; ``none`` does not apply; ``boom`` is an error."""
    out = []
    for item in items:
        text = item.completion_text.strip()
        if text == "none":
            out.append(Score(None, {"reason": "not applicable"}))
        elif text == "boom":
            out.append(Score(None, error="boom for this item"))
        else:
            out.append(Score(float(text), {"seen": text}))
    return out


def digits(items: Sequence[RewardItem]) -> list[float]:
    """Fraction of the completion's characters that are digits: varies on any text, even a random model's."""
    return [sum(ch.isdigit() for ch in t) / max(len(t), 1) for t in (i.completion_text for i in items)]


def exact(items: Sequence[RewardItem]) -> list[Score]:
    """1.0 when the last ``\\boxed{}`` equals the reference string, 0.0 otherwise, None without a reference."""
    out = []
    for item in items:
        if item.reference is None:
            out.append(Score(None, error="no reference"))
            continue
        found = _BOXED.findall(item.completion_text)
        out.append(Score(1.0 if found and found[-1].strip() == str(item.reference) else 0.0))
    return out


class ProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: str | None = None


def probe(items: Sequence[RewardItem]) -> list[Score]:
    """Reports what the item carried, so tests can see how columns were mapped."""
    out = []
    for item in items:
        params = item.params
        assert isinstance(params, ProbeParams)
        details = {
            "language": params.language,
            "reference": item.reference,
            "tokens": item.completion_tokens,
            "prompt": item.prompt_text,
            "id": item.id,
        }
        out.append(Score(1.0, details))
    return out


@hookimpl
def register_rewards(config: PluginConfig) -> list[Reward]:
    return [
        Reward(name="number", description="the float in the completion", score=number),
        Reward(name="digits", description="fraction of digit characters", score=digits),
        Reward(name="exact", description="boxed answer equals the reference", score=exact),
        Reward(name="probe", description="echoes the item's fields", score=probe, params=ProbeParams),
    ]
