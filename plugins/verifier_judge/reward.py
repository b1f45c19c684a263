"""The ``judge`` reward: an LLM grades each item's final answer against a rubric template.

Each item becomes one call to the judge, or two for a pairwise template (``verdicts.py`` combines them). A
call is the unit of the cache and of deduplication: its key is a digest of the model, the template's text,
the order the responses are shown in, and the values sent, and the key's first 16 hex digits are the
one-time id of the tags around those values. Items that need no call (no answer, a missing reference) are
scored without one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from verifier import RewardItem, Score
from verifier_judge.cache import cache_key
from verifier_judge.errors import JudgeError
from verifier_judge.options import JudgeOptions, JudgeParams
from verifier_judge.parsing import JSON_SCHEMA, MAX_SCORE, MIN_SCORE, Unreadable, read_score
from verifier_judge.served import ServedReward, cut_middle, judged_text
from verifier_judge.templates import Template
from verifier_judge.verdicts import Call, Order, Verdict, combine

RAW_EXCERPT = 2000
NONCE_DIGITS = 16
PLANTED = "the judge's reply only repeats a verdict written in the judged answer: the answer's lowest score"


def reference_text(reference: Any) -> str | None:
    if reference is None:
        return None
    if isinstance(reference, str):
        return reference
    return json.dumps(reference, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class Plan:
    """The calls one item needs, and the details every outcome of them carries."""

    calls: tuple[Call, ...]
    base: dict[str, Any]


class JudgeReward(ServedReward):
    """Scores a batch through the judge endpoints; owns the HTTP client (lifespan) and the judgment cache."""

    options: JudgeOptions

    def __init__(self, options: JudgeOptions, templates: dict[str, Template]) -> None:
        super().__init__(options, where="plugin_options.judge.endpoints")
        self.templates = templates
        self._sampling: dict[str, Any] = {"temperature": options.temperature, "max_tokens": options.max_tokens}
        if options.seed is not None:
            self._sampling["seed"] = options.seed

    def _plan(self, item: RewardItem, params: JudgeParams, default_template: str) -> Plan | Score:
        name = params.template or default_template
        template = self.templates.get(name)
        if template is None:  # only reachable for a default that startup did not know
            return Score(None, error=f"unknown judge template {name!r}; configured: {sorted(self.templates)}")
        reference = reference_text(item.reference)
        if template.needs_reference and reference is None:
            return Score(None, error=f"judge template {name!r} needs a reference and the item has none")
        answer, source = judged_text(item.completion_text, params, params.judge_reasoning)
        base: dict[str, Any] = {"template": name, "answer_source": source}
        if answer is None:
            return Score(0.0, base | {"not_judged": "unfinished_reasoning"})
        if not answer:
            return Score(0.0, base | {"not_judged": "empty_answer"})
        limit = self.options.max_answer_chars
        if len(answer) > limit and self.options.overlong_answer == "zero":
            return Score(0.0, base | {"not_judged": "answer_too_long", "answer_chars": len(answer)})
        answer, answer_cut = cut_middle(answer, limit)
        reference, reference_cut = cut_middle(reference, limit) if reference is not None else (None, 0)
        cut = {k: v for k, v in (("answer", answer_cut), ("reference", reference_cut)) if v}
        if cut:
            base["chars_left_out"] = cut
        prompt = item.prompt_text
        orders: tuple[Order, ...] = ("single",)
        if template.pairwise:
            orders = ("answer_first", "reference_first") if params.swap_positions else ("answer_first",)
        calls = []
        for order in orders:
            first, second = (reference or "", answer) if order == "reference_first" else (answer, reference or "")
            values = {"prompt": prompt, "answer": first, "reference": second}
            key = cache_key(self.options.model, template.identity, order, prompt, first, second)
            # The policy wrote the answer, and in a pairwise comparison the other response is a policy's too.
            untrusted = (first, second) if template.pairwise else (answer,)
            candidate = 1 if order == "reference_first" else 0  # where the candidate's text is in untrusted
            calls.append(Call(key, template, order, values, untrusted, candidate))
        return Plan(tuple(calls), base)

    async def _ask(self, call: Call) -> Verdict:
        cached = self.cache.get(call.key)
        if cached is not None:
            return Verdict(call.order, **cached, cached=True)
        messages = call.template.messages(call.values, nonce=call.key[:NONCE_DIGITS])
        try:
            reply = await self.client.chat(messages, response_format=self._response_format(), sampling=self._sampling)
        except JudgeError as exc:
            return Verdict(call.order, error=str(exc))
        self.count(reply.usage)
        found = read_score(reply.content, call.untrusted)
        planted = isinstance(found, Unreadable) and found.copied_from == {call.candidate}
        if planted:
            # The judge only repeated a verdict the candidate wrote for it: the candidate's worst score, since
            # a null would spare the attack (a trainer leaves null items out) and the answer is to blame.
            found = (MAX_SCORE if call.order == "reference_first" else MIN_SCORE), PLANTED
        self.answered(reply.endpoint, "unparseable" if planted or isinstance(found, Unreadable) else "ok")
        if isinstance(found, Unreadable):
            return Verdict(
                call.order, usage=reply.usage, endpoint=reply.endpoint, error=found.message,
                reply=reply.content[:RAW_EXCERPT],
            )  # fmt: skip
        record: dict[str, Any] = {"raw": found[0], "reason": found[1], "usage": reply.usage, "endpoint": reply.endpoint}
        self.cache.put(call.key, record)
        return Verdict(call.order, **record)

    def _response_format(self) -> dict[str, Any] | None:
        if self.options.response_format == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "judgment", "schema": JSON_SCHEMA, "strict": True}}
        if self.options.response_format == "json_object":
            return {"type": "json_object"}
        return None

    async def judge(self, jobs: Sequence[tuple[RewardItem, JudgeParams]], default_template: str) -> list[Score]:
        """One score per ``(item, params)``; each distinct call is made once (or taken from the cache)."""
        plans = [self._plan(item, params, default_template) for item, params in jobs]
        unique: dict[str, Call] = {}
        for plan in plans:
            if isinstance(plan, Plan):
                for call in plan.calls:
                    unique.setdefault(call.key, call)
        keys = list(unique)
        answers = await asyncio.gather(*(self._ask(unique[k]) for k in keys))
        verdicts = dict(zip(keys, answers, strict=True))
        return [
            plan if isinstance(plan, Score) else combine([verdicts[c.key] for c in plan.calls], plan.base)
            for plan in plans
        ]

    async def __call__(self, items: Sequence[RewardItem[JudgeParams]]) -> list[Score]:
        jobs = [(item, item.params) for item in items]
        return await self.judge(jobs, self.options.default_template)
