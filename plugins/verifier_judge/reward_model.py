"""The ``reward_model`` reward: an outcome reward model (a sequence classifier) scores prompt + final answer.

It is served by vLLM's pooling API (``vllm serve <reward model>``; ``POST /pooling`` with chat ``messages``),
or on CPU by ``trainer.serving`` for a small model. The pooled output is a number, a list (a classifier's
logits or probabilities, or one value per token) or a list of lists (per token): the reward is the last
token's row, and in it the number at ``label_index`` (-1 by default: the positive class, or the only one).
``activation`` maps it to [0, 1]: ``sigmoid`` for a reward head's logit, ``none`` for a probability.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from pydantic import ConfigDict, Field

from verifier import ReasoningTags, RewardItem, Score
from verifier_judge.cache import cache_key
from verifier_judge.errors import JudgeError
from verifier_judge.options import RewardModelOptions
from verifier_judge.served import ServedReward, judged_text


class RewardModelParams(ReasoningTags):
    """Per-request parameters of the ``reward_model`` reward (``think_tag``, ``think_in_prompt``: where the
    reasoning ends, as for every reward)."""

    model_config = ConfigDict(extra="forbid")

    judge_reasoning: bool = Field(False, description="Score the whole completion, chain of thought included.")


def pooled_value(body: Any, label_index: int) -> tuple[float, dict[str, int]]:
    """The raw reward and the usage of a ``/pooling`` answer for one input; ValueError when it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list) or not body["data"]:
        raise ValueError("no data in the pooling response")
    entry = body["data"][0]
    value = entry.get("data") if isinstance(entry, dict) else None
    while isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        value = value[-1]  # one row per token: the last token's
    if isinstance(value, list):
        if not value or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise ValueError("pooled data is not a list of numbers")
        try:
            value = value[label_index]
        except IndexError:
            raise ValueError(f"label_index {label_index} is outside the {len(value)} pooled values") from None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"pooled data is not a finite number: {value!r}")
    usage_raw = body.get("usage")
    if not isinstance(usage_raw, dict):
        usage_raw = {}
    usage = {k: int(v) for k, v in usage_raw.items() if k in ("prompt_tokens", "total_tokens") and isinstance(v, int)}
    return float(value), usage


class RewardModelReward(ServedReward):
    """Scores a batch through the reward model's endpoints; one ``/pooling`` request per distinct item."""

    options: RewardModelOptions
    name = "reward_model"

    def __init__(self, options: RewardModelOptions) -> None:
        super().__init__(options, where="plugin_options.judge.reward_model.endpoints")

    def _messages(self, item: RewardItem, answer: str) -> list[dict[str, Any]]:
        if isinstance(item.prompt, list):
            prompt = [{"role": m.get("role", "user"), "content": m.get("content", "")} for m in item.prompt]
        else:
            prompt = [{"role": "user", "content": item.prompt}] if item.prompt else []
        return [*prompt, {"role": "assistant", "content": answer}]

    async def _score(self, messages: list[dict[str, Any]], key: str, source: str) -> Score:
        base = {"answer_source": source}
        cached = self.cache.get(key)
        if cached is not None:
            return Score(cached["value"], base | cached["details"] | {"cached": True})
        label = self.options.label_index
        try:
            raw, usage, endpoint = await self.client.request(
                "/pooling",
                lambda _: {"model": self.options.model, "messages": messages},
                lambda body, url: (*pooled_value(body, label), url),
            )
        except JudgeError as exc:
            return Score(None, base, error=str(exc))
        self.count(usage)
        value = 1.0 / (1.0 + math.exp(-raw)) if self.options.activation == "sigmoid" else raw
        if not 0.0 <= value <= 1.0:
            self.answered(endpoint, "unparseable")
            return Score(None, base | {"raw": raw}, error=f"reward {value!r} is outside [0, 1] (activation 'none')")
        self.answered(endpoint, "ok")
        details = {"raw": raw, "usage": usage}
        self.cache.put(key, {"value": value, "details": details})
        return Score(value, base | details | {"cached": False})

    async def __call__(self, items: Sequence[RewardItem[RewardModelParams]]) -> list[Score]:
        jobs: dict[str, tuple[list[dict[str, Any]], str]] = {}
        keys: list[str | Score] = []
        for item in items:
            params = item.params
            answer, source = judged_text(item.completion_text, params, params.judge_reasoning)
            if answer is None:  # the reasoning never ended: no answer to score, nothing sent
                keys.append(Score(0.0, {"answer_source": source, "not_judged": "unfinished_reasoning"}))
                continue
            messages = self._messages(item, answer)
            key = cache_key(self.options.model, "reward_model", "single", repr(messages[:-1]), answer, None)
            jobs.setdefault(key, (messages, source))
            keys.append(key)
        unique = list(jobs)
        verdicts = await asyncio.gather(*(self._score(*jobs[k], k) for k in unique))
        by_key = dict(zip(unique, verdicts, strict=True))
        return [k if isinstance(k, Score) else by_key[k] for k in keys]
