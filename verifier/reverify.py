"""Re-verification: score stored results again and report which verdicts changed, and between which versions.

A stored result is one JSON line holding an item (completion, reference, prompt, ...) and the result it got
(``scores``, ``versions``, ...), as ``verifier score --with-items`` writes them; a trainer's rollout log with
those fields reads the same. After a verifier fix, ``verifier score --compare OLD.jsonl`` re-scores every item
with the rewards it was scored with, bypassing the verdict cache, and reports the verdicts that moved.

A verdict that changed is a score that differs (``null`` included: "does not apply" is a verdict). A new
``null`` with an error is not a changed verdict but a failure to re-verify (a sandbox down), counted apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from verifier.schemas import Item, ItemResult

RESULT_FIELDS = frozenset({"line", "reward", "scores", "details", "errors", "advantage", "versions", "error"})
"""The fields of a stored line that belong to its old result, not to the item."""


@dataclass(frozen=True)
class Stored:
    """One stored line: the item, the scores it got and the versions that gave them (empty when not recorded)."""

    line: int
    item: Item
    scores: dict[str, float | None]
    versions: dict[str, str]


def read_stored(raw: bytes, line: int) -> Stored:
    """Parse one stored line; ``ValueError`` with a one-line reason when it cannot be re-scored."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("a stored result is a JSON object")
    if "error" in data:
        raise ValueError(f"the stored line was rejected before: {data['error']}")
    scores = data.get("scores")
    if not isinstance(scores, dict) or not scores:
        raise ValueError("no 'scores' to compare with")
    versions = data.get("versions") or {}
    try:
        item = Item.model_validate({k: v for k, v in data.items() if k not in RESULT_FIELDS})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    if item.rewards is None:  # re-score with the rewards it was scored with
        item = item.model_copy(update={"rewards": list(scores)})
    return Stored(line, item, {str(k): v for k, v in scores.items()}, {str(k): str(v) for k, v in versions.items()})


@dataclass(frozen=True)
class Change:
    line: int
    id: str | int | None
    reward: str
    old: float | None
    new: float | None
    old_version: str | None
    new_version: str | None


@dataclass
class RewardTally:
    compared: int = 0
    changed: int = 0
    failed: int = 0
    old_versions: Counter[str] = field(default_factory=Counter)
    new_versions: Counter[str] = field(default_factory=Counter)


@dataclass
class Comparison:
    """Everything ``--compare`` found, per reward and per item."""

    rewards: dict[str, RewardTally] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def add(self, stored: Stored, result: ItemResult) -> None:
        for reward, old in stored.scores.items():
            tally = self.rewards.setdefault(reward, RewardTally())
            tally.compared += 1
            old_version = stored.versions.get(reward)
            new_version = result.versions.get(reward)
            tally.old_versions[old_version or "unrecorded"] += 1
            tally.new_versions[new_version or "unrecorded"] += 1
            new = result.scores.get(reward)
            error = result.errors.get(reward)
            if new is None and error is not None:
                tally.failed += 1
                self.failures.append({"line": stored.line, "id": stored.item.id, "reward": reward, "error": error})
            elif new != old:
                tally.changed += 1
                self.changes.append(Change(stored.line, stored.item.id, reward, old, new, old_version, new_version))

    def reject(self, line: int, message: str) -> None:
        self.rejected.append({"line": line, "error": message})

    @property
    def changed(self) -> int:
        return len(self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "rewards": {
                name: {
                    "compared": t.compared,
                    "changed": t.changed,
                    "failed": t.failed,
                    "old_versions": dict(t.old_versions),
                    "new_versions": dict(t.new_versions),
                }
                for name, t in sorted(self.rewards.items())
            },
            "changes": [change.__dict__ for change in self.changes],
            "failures": self.failures,
            "rejected": self.rejected,
        }


def summary_rows(comparison: Comparison) -> list[Sequence[str]]:
    """One row per reward: compared, changed, failed, old and new versions."""
    return [
        (
            name,
            str(t.compared),
            str(t.changed),
            str(t.failed),
            ", ".join(sorted(t.old_versions)),
            ", ".join(sorted(t.new_versions)),
        )
        for name, t in sorted(comparison.rewards.items())
    ]


def change_rows(comparison: Comparison, limit: int) -> list[Sequence[str]]:
    return [
        (str(c.line), str(c.id), c.reward, _value(c.old), _value(c.new), c.old_version or "-", c.new_version or "-")
        for c in comparison.changes[:limit]
    ]


def _value(value: float | None) -> str:
    return "null" if value is None else f"{value:g}"
