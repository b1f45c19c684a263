"""The synthetic verifiable task: sums of small numbers, reasoned step by step, answered in ``\\boxed{}``.

Every problem has one exact answer, so the verifier's ``math`` reward can check it against the reference,
and the chain of thought has a fixed shape, so a tiny model can learn it from a few hundred examples.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """``terms[0] + terms[1] + ...``; the answer is their sum."""

    terms: tuple[int, ...]

    @property
    def prompt(self) -> str:
        return "+".join(str(t) for t in self.terms) + "=?\n"

    @property
    def answer(self) -> int:
        return sum(self.terms)

    def reasoning(self) -> str:
        """Running sums, one line per addition: ``3+5=8`` then ``8+9=17``."""
        lines = []
        total = self.terms[0]
        for term in self.terms[1:]:
            lines.append(f"{total}+{term}={total + term}")
            total += term
        return "\n".join(lines)

    def completion(self) -> str:
        """The R1 layout the ``format`` reward checks: reasoning in ``<think>`` tags, then the boxed answer."""
        return f"<think>\n{self.reasoning()}\n</think>\n\\boxed{{{self.answer}}}"


@dataclass(frozen=True)
class TaskSpec:
    """The problem space: ``n_terms`` terms, each in ``[low, high]``."""

    n_terms: int = 3
    low: int = 0
    high: int = 9

    def all_problems(self) -> list[Problem]:
        values = range(self.low, self.high + 1)
        return [Problem(terms) for terms in itertools.product(values, repeat=self.n_terms)]


@dataclass(frozen=True)
class Splits:
    """Disjoint problem sets: SFT examples, GRPO prompts, held-out evaluation prompts."""

    sft: list[Problem]
    grpo: list[Problem]
    held_out: list[Problem]


def make_splits(spec: TaskSpec, *, n_sft: int, n_held_out: int, seed: int) -> Splits:
    """Shuffle the whole space with ``seed``; held-out problems are never trained on, in either stage."""
    problems = spec.all_problems()
    random.Random(seed).shuffle(problems)
    if n_sft + n_held_out >= len(problems):
        raise ValueError(
            f"the task has {len(problems)} problems; n_sft + n_held_out must leave some for GRPO"
        )
    held_out = problems[:n_held_out]
    sft = problems[n_held_out : n_held_out + n_sft]
    grpo = problems[n_held_out + n_sft :]
    return Splits(sft=sft, grpo=grpo, held_out=held_out)


def corpus(problems: list[Problem]) -> list[str]:
    """Every text the tokenizer must cover."""
    return [p.prompt + p.completion() for p in problems]
