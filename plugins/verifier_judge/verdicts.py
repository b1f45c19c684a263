"""From the judge's verdicts on one item to its score: one verdict, or a pairwise comparison asked both ways.

Judges favour the response they read first (or second): a pairwise template is asked with the candidate as
A (``answer_first``) and again with it as B (``reference_first``). The second verdict is mirrored to the
candidate's side (``11 - score``: its 1, "B much better", is the candidate's 10), and the score is the mean
of the two on the candidate's side. ``position_disagreement`` says the two verdicts fall in different bands of
the template's scale (1-4 the other response is better, 5-6 about equal, 7-10 the candidate is better), the
mark of a judge that followed the position rather than the content.

Fail closed: when either order's call fails or its reply holds no score, the item gets ``null`` and the
error; one order alone is exactly the biased verdict the swap is there to correct, so it is not used. The
order that succeeded is cached, so asking again costs one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from verifier import Score
from verifier_judge.parsing import MAX_SCORE, MIN_SCORE, normalise
from verifier_judge.templates import Template

Order = Literal["single", "answer_first", "reference_first"]
Preference = Literal["answer", "tie", "reference"]


@dataclass(frozen=True)
class Call:
    """One request to the judge: a template filled with ``values`` in one order."""

    key: str
    template: Template
    order: Order
    values: dict[str, str]
    untrusted: tuple[str, ...]  # what the policy wrote: a verdict copied from it is not the judge's
    candidate: int  # the index of the judged candidate's text in ``untrusted``


@dataclass(frozen=True)
class Verdict:
    """What one call gave: a raw 1-10 score (with its reason), or an error."""

    order: Order
    raw: float | None = None
    reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    endpoint: str | None = None
    cached: bool = False
    error: str | None = None
    reply: str | None = None  # an excerpt of a reply that held no score

    @property
    def candidate_raw(self) -> float | None:
        """The raw score on the candidate's side: mirrored when the candidate was shown second."""
        if self.raw is None:
            return None
        return MIN_SCORE + MAX_SCORE - self.raw if self.order == "reference_first" else self.raw

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"order": self.order}
        if self.error is None:
            out |= {"raw_score": self.raw, "candidate_score": self.candidate_raw, "reason": self.reason}
            out["preferred"] = preference(self.candidate_raw)
        else:
            out["error"] = self.error
            if self.reply is not None:
                out["raw"] = self.reply
        if self.endpoint is not None:
            out |= {"usage": self.usage, "endpoint": self.endpoint}
        out["cached"] = self.cached
        return out


def preference(candidate_raw: float | None) -> Preference | None:
    if candidate_raw is None:
        return None
    if candidate_raw < 5:
        return "reference"
    return "answer" if candidate_raw > 6 else "tie"


def total_usage(verdicts: Sequence[Verdict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for verdict in verdicts:
        for key, value in verdict.usage.items():
            out[key] = out.get(key, 0) + value
    return out


def combine(verdicts: Sequence[Verdict], base: dict[str, Any]) -> Score:
    """The item's score from its verdicts, in the order they were planned."""
    if len(verdicts) == 1:
        return _single(verdicts[0], base)
    details = base | {"verdicts": [v.details() for v in verdicts], "usage": total_usage(verdicts)}
    failed = next((v for v in verdicts if v.error is not None), None)
    if failed is not None:
        details["cached"] = False
        error = (
            f"the {failed.order} judgment failed: {failed.error}; a pairwise score needs both orders "
            "(one alone is the position-biased verdict), so none is given"
        )
        return Score(None, details, error=error)
    sides = [v.candidate_raw for v in verdicts]
    raw = sum(s for s in sides if s is not None) / len(sides)
    preferred = {preference(s) for s in sides}
    details |= {
        "raw_score": raw,
        "position_disagreement": len(preferred) > 1,
        "cached": all(v.cached for v in verdicts),
    }
    return Score(normalise(raw), details)


def _single(verdict: Verdict, base: dict[str, Any]) -> Score:
    details = dict(base)
    if verdict.endpoint is not None:
        details |= {"usage": verdict.usage, "endpoint": verdict.endpoint}
    if verdict.error is not None or verdict.raw is None:
        if verdict.reply is not None:
            details["raw"] = verdict.reply
        if verdict.endpoint is not None:
            details["cached"] = False
        return Score(None, details, error=verdict.error)
    details |= {"raw_score": verdict.raw, "reason": verdict.reason, "cached": verdict.cached}
    if verdict.order != "single":
        details["order"] = verdict.order
    return Score(normalise(verdict.raw), details)
