"""Held-out evaluation: greedy answers of a model directory, scored by the verifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.errors import TrainerError
from trainer.mini_r1.task import Problem
from trainer.transport import VerifierPool


@dataclass(frozen=True)
class Evaluation:
    accuracy: float  # share of held-out prompts whose boxed answer the math reward scores 1.0
    format_rate: float  # share whose layout the format reward scores 1.0
    n: int
    samples: tuple[str, ...]  # the first few completions, for the log
    # mean ``language`` score of the reasoning (share of its words in the prompt's language); None: not asked
    language: float | None = None


def generate(model_dir: str, prompts: list[list[dict[str, str]]], max_new_tokens: int, batch: int = 64) -> list[str]:
    """Greedy completions (the assistant's text) for conversational prompts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()  # type: ignore[no-untyped-call]
    out: list[str] = []
    for start in range(0, len(prompts), batch):
        texts = [
            tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in prompts[start : start + batch]
        ]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            generated = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False)
        new = generated[:, encoded["input_ids"].shape[1] :]
        out.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    return out


def evaluate(
    model_dir: str,
    problems: list[Problem],
    pool: VerifierPool,
    params: dict[str, Any],
    max_new_tokens: int,
    language: bool = False,
) -> Evaluation:
    """With ``language``, the verifier's ``language`` reward also reads each answer, with its prompt."""
    prompts = [chat_prompt(p) for p in problems]
    completions = generate(model_dir, prompts, max_new_tokens)
    items: list[dict[str, Any]] = [
        {"completion": c, "reference": str(p.answer)} for c, p in zip(completions, problems, strict=True)
    ]
    if language:
        for item, prompt in zip(items, prompts, strict=True):
            item["prompt"] = prompt
    rewards = ["math", "format", "language"] if language else ["math", "format"]
    results = pool.verify(items, rewards=rewards, params=params).results
    n = len(problems)
    return Evaluation(
        accuracy=sum(r.scores.get("math") == 1.0 for r in results) / n,
        format_rate=sum(r.scores.get("format") == 1.0 for r in results) / n,
        n=n,
        samples=tuple(completions[:3]),
        language=_mean([r.scores.get("language") for r in results]) if language else None,
    )


def _mean(scores: list[float | None]) -> float:
    """Fails closed: a held-out answer the reward could not score makes the mean meaningless."""
    if any(s is None for s in scores):
        raise TrainerError("the language reward gave no score for some held-out answers")
    return sum(s for s in scores if s is not None) / len(scores)


def chat_prompt(problem: Problem) -> list[dict[str, str]]:
    return [{"role": "user", "content": problem.prompt}]
