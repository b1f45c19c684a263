"""What travels between the service and a worker process: a ``Job`` in, a ``Verdict`` out (both pickled)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

READY = "ready"
"""The first message of a worker: ``(READY, pid)``."""
DETAIL_CHARS = 300
"""Strings echoed in a score's details are cut to this length: a 1 MB answer is not logged whole."""


class Phase(IntEnum):
    """What a worker is doing, published in shared memory so that the pool knows whom to blame for a kill."""

    IDLE = 0
    GOLD = 1
    PREDICTION = 2


@dataclass(frozen=True, slots=True)
class Job:
    """One item to grade. ``region`` is the part of the completion searched for the answer (think stripped,
    cut to its tail), ``methods`` the extraction methods in order."""

    gold: str
    region: str
    methods: tuple[str, ...]
    rel_tol: float
    strict_multipart: bool
    set_relation: bool
    strict_variables: bool
    timeout_s: float
    final_form: bool = True
    math_verify_targets: tuple[str, ...] = ("latex", "expr")


@dataclass(frozen=True, slots=True)
class Verdict:
    """A graded item. ``value`` is ``None`` (with ``error``) when the gold answer is unusable."""

    value: float | None
    reason: str
    extracted: str | None = None
    method: str | None = None
    gold: str | None = None
    pred: str | None = None
    note: str | None = None
    error: str | None = None

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        for key in ("extracted", "method", "gold", "pred", "note"):
            value = getattr(self, key)
            if value is not None:
                out[key] = clip(value)
        return out


def clip(text: str) -> str:
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def gold_failure(reason: str, message: str) -> Verdict:
    """The gold answer cannot be used: the item is skipped (``null``), never scored 0.0."""
    return Verdict(None, reason, error=message)
