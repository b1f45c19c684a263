"""The ``judge`` reward: an LLM grades each item's final answer against a rubric template."""

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
from verifier_judge.parsing import JSON_SCHEMA, normalise, parse_score
from verifier_judge.served import ServedReward, final_answer
from verifier_judge.templates import Template

RAW_EXCERPT = 2000


def reference_text(reference: Any) -> str | None:
    if reference is None:
        return None
    if isinstance(reference, str):
        return reference
    return json.dumps(reference, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class Request:
    key: str
    template: Template
    values: dict[str, str]


class JudgeReward(ServedReward):
    """Scores a batch through the judge endpoints; owns the HTTP client (lifespan) and the judgment cache."""

    options: JudgeOptions

    def __init__(self, options: JudgeOptions, templates: dict[str, Template]) -> None:
        super().__init__(options, where="plugin_options.judge.endpoints")
        self.templates = templates
        self._sampling: dict[str, Any] = {"temperature": options.temperature, "max_tokens": options.max_tokens}
        if options.seed is not None:
            self._sampling["seed"] = options.seed

    # ------------------------------------------------------------------ scoring

    def _request(self, item: RewardItem) -> Request | Score:
        params = item.params if isinstance(item.params, JudgeParams) else JudgeParams()
        name = params.template or self.options.default_template
        template = self.templates.get(name)
        if template is None:  # only reachable for a default_template that startup did not know
            return Score(None, error=f"unknown judge template {name!r}; configured: {sorted(self.templates)}")
        reference = reference_text(item.reference)
        if template.needs_reference and reference is None:
            return Score(None, error=f"judge template {name!r} needs a reference and the item has none")
        text = item.completion_text
        answer, source = (text, "whole_completion") if params.judge_reasoning else final_answer(
            text, params.reasoning_end_tag
        )
        values = {"prompt": item.prompt_text, "answer": answer, "reference": reference or ""}
        key = cache_key(self.options.model, template.identity, values["prompt"], answer, reference)
        return Request(key, template, values | {"_source": source})

    async def _judge(self, request: Request) -> Score:
        base = {"template": request.template.name, "answer_source": request.values["_source"]}
        cached = self.cache.get(request.key)
        if cached is not None:
            return Score(cached["value"], base | cached["details"] | {"cached": True})
        messages = request.template.messages(request.values)
        try:
            reply = await self.client.chat(messages, response_format=self._response_format(), sampling=self._sampling)
        except JudgeError as exc:
            return Score(None, base, error=str(exc))
        self.count(reply.usage)
        details: dict[str, Any] = {"usage": reply.usage, "endpoint": reply.endpoint}
        parsed = parse_score(reply.content)
        if parsed is None:
            details["raw"] = reply.content[:RAW_EXCERPT]
            error = "the judge's reply holds no score from 1 to 10"
            self.answered(reply.endpoint, "unparseable")
            return Score(None, base | details | {"cached": False}, error=error)
        self.answered(reply.endpoint, "ok")
        raw, reason = parsed
        details |= {"raw_score": raw, "reason": reason}
        value = normalise(raw)
        self.cache.put(request.key, {"value": value, "details": details})
        return Score(value, base | details | {"cached": False})

    def _response_format(self) -> dict[str, Any] | None:
        if self.options.response_format == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "judgment", "schema": JSON_SCHEMA, "strict": True}}
        if self.options.response_format == "json_object":
            return {"type": "json_object"}
        return None

    async def __call__(self, items: Sequence[RewardItem]) -> list[Score]:
        requests = [self._request(item) for item in items]
        unique: dict[str, Request] = {}
        for request in requests:
            if isinstance(request, Request):
                unique.setdefault(request.key, request)
        keys = list(unique)
        verdicts = await asyncio.gather(*(self._judge(unique[k]) for k in keys))
        by_key = dict(zip(keys, verdicts, strict=True))
        return [r if isinstance(r, Score) else by_key[r.key] for r in requests]
