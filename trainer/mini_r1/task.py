"""The synthetic verifiable task: sums of small numbers, reasoned step by step, answered in ``\\boxed{}``.

Every problem has one exact answer, so the verifier's ``math`` reward can check it against the reference,
and the chain of thought has a fixed shape, so a tiny model can learn it from a few hundred examples.

With a ``step_word`` each step line opens with a word, and with a ``mixed_word`` too the chain of thought mixes
two languages as R1-Zero's did: ``add 4+3=7`` / ``加 7+9=16``, the Chinese word on the steps whose added term is
``mixed_from`` or more. The rule is a function of the problem, so a model that learns it still mixes when it
answers greedily (a coin flip per line would be averaged away: greedy decoding picks the likelier word).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """``terms[0] + terms[1] + ...``; the answer is their sum."""

    terms: tuple[int, ...]
    step_word: str | None = None  # opens each step line; None: bare ``4+3=7`` lines
    mixed_word: str | None = None  # the other language's word, on the steps that add mixed_from or more
    mixed_from: int = 6

    @property
    def prompt(self) -> str:
        """``4+3+9=?``; with step words ``Add 4+3+9.``, so that the prompt has a language the reasoning can match."""
        total = "+".join(str(t) for t in self.terms)
        return f"Add {total}.\n" if self.step_word is not None else total + "=?\n"

    @property
    def answer(self) -> int:
        return sum(self.terms)

    def reasoning(self) -> str:
        """Running sums, one line per addition: ``3+5=8`` then ``8+9=17`` (``add 3+5=8`` with a step word)."""
        lines = []
        total = self.terms[0]
        for term in self.terms[1:]:
            lines.append(f"{self._word(term)}{total}+{term}={total + term}")
            total += term
        return "\n".join(lines)

    def _word(self, term: int) -> str:
        if self.step_word is None:
            return ""
        mixed = self.mixed_word is not None and term >= self.mixed_from
        return f"{self.mixed_word if mixed else self.step_word} "

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
        return [Problem(terms) for terms in self._terms()]

    def _terms(self) -> list[tuple[int, ...]]:
        return list(itertools.product(range(self.low, self.high + 1), repeat=self.n_terms))


@dataclass(frozen=True)
class WordedTaskSpec(TaskSpec):
    """The same problems, with a worded prompt and step words as in ``Problem``: the mini R1 run's task."""

    step_word: str = "add"
    mixed_word: str | None = "加"  # None: every step in English
    mixed_from: int = 6  # digits 0-9: 6 or more is 40% of the steps

    def all_problems(self) -> list[Problem]:
        return [Problem(terms, self.step_word, self.mixed_word, self.mixed_from) for terms in self._terms()]


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
