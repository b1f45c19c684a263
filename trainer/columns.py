"""Which dataset columns become which fields of a verifier item.

TRL hands a reward function every dataset column as a keyword argument (one value per completion). A
``ColumnMap`` says where each column goes in the item, by a target path:

- ``"reference"``: the item's whole reference (``solution`` → the gold answer);
- ``"reference.<key>"``: one key of a dict reference (``tests`` → ``reference.tests``);
- ``"params.<reward>.<field>"``: one parameter of one reward for this item;
- ``"params.*.<field>"``: that parameter for every requested reward whose params schema declares it
  (``language`` → the ``language`` param of whichever reward takes one);
- ``"id"``: the item id, echoed back.

A column that is not mapped is not sent; a ``None`` value leaves the field unset for that item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_COLUMNS: Mapping[str, str] = {
    "solution": "reference",
    "tests": "reference.tests",
    "language": "params.*.language",
}


@dataclass(frozen=True)
class Target:
    kind: str  # "reference", "reference_key", "param", "id"
    key: str = ""
    reward: str = ""

    @classmethod
    def parse(cls, path: str) -> Target:
        parts = path.split(".")
        if parts == ["reference"]:
            return cls("reference")
        if parts == ["id"]:
            return cls("id")
        if len(parts) == 2 and parts[0] == "reference" and parts[1]:
            return cls("reference_key", key=parts[1])
        if len(parts) == 3 and parts[0] == "params" and parts[1] and parts[2]:
            return cls("param", key=parts[2], reward=parts[1])
        raise ValueError(
            f"unknown column target {path!r}: use 'reference', 'reference.<key>', "
            "'params.<reward>.<field>', 'params.*.<field>' or 'id'"
        )


@dataclass(frozen=True)
class ColumnMap:
    """Column name → target path (see the module docstring). Plain data, so it pickles."""

    columns: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COLUMNS))

    def __post_init__(self) -> None:
        for path in self.columns.values():
            Target.parse(path)  # fail at construction, not in the middle of training

    def apply(
        self,
        items: list[dict[str, Any]],
        columns: Mapping[str, Sequence[Any]],
        requested: Sequence[str],
        declares: Callable[[str, str], bool],
    ) -> None:
        """Write the mapped ``columns`` into ``items`` in place.

        ``requested`` are the reward names of the request; ``declares(reward, field)`` says whether a reward's
        params model has that field (used to expand ``params.*``).
        """
        mapped = [(name, Target.parse(self.columns[name])) for name in self.columns if name in columns]
        # Whole references first, so a ``reference.<key>`` column can add to a dict reference.
        mapped.sort(key=lambda pair: pair[1].kind != "reference")
        for name, target in mapped:
            values = columns[name]
            if len(values) != len(items):
                raise ValueError(f"column {name!r} has {len(values)} values for {len(items)} completions")
            rewards = (
                [r for r in requested if declares(r, target.key)] if target.reward == "*" else [target.reward]
            )
            for item, value in zip(items, values, strict=True):
                if value is not None:
                    _set(item, target, value, rewards, name)


def _set(item: dict[str, Any], target: Target, value: Any, rewards: list[str], column: str) -> None:
    if target.kind == "reference":
        item["reference"] = value
    elif target.kind == "id":
        item["id"] = value
    elif target.kind == "reference_key":
        reference = item.setdefault("reference", {})
        if not isinstance(reference, dict):
            raise ValueError(
                f"column {column!r} goes to reference.{target.key}, but another column set the reference "
                f"to a {type(reference).__name__}; map one of them elsewhere (RemoteReward(columns=...))"
            )
        reference[target.key] = value
    else:
        params = item.setdefault("params", {})
        for reward in rewards:
            params.setdefault(reward, {})[target.key] = value
