"""What the ``code`` reward runs: the tests read out of an item's ``reference``, as plain data.

``shapes.parse_reference`` builds these from the layouts datasets use; everything here is already checked
(types, keys, weights), so the reward never guesses. Weights and groups come from the reference only: the
completion cannot reach them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

CheckerConvention = Literal["testlib", "cms"]
CheckerLanguage = Literal["python", "cpp"]


class UnusableReference(ValueError):
    """The reference holds no tests this reward understands (the item gets no verdict, not a 0.0)."""


@dataclass(frozen=True)
class StdioCase:
    input: str
    output: str | None
    """None only for problems with a checker, which may omit the answer (the answer file is then empty)."""
    group: str | None = None
    weight: float | None = None


@dataclass(frozen=True)
class CallCase:
    args: list[Any]
    expected: Any
    group: str | None = None
    weight: float | None = None


@dataclass(frozen=True)
class Checker:
    """A special judge from the reference. testlib: ``checker input output answer``, verdict by exit code;
    CMS: ``checker input answer output``, score in [0, 1] on stdout. Message on stderr in both."""

    language: CheckerLanguage
    source: str
    convention: CheckerConvention

    @property
    def digest(self) -> str:
        """Content hash: one compile per distinct checker, one cache entry per distinct verdict."""
        text = f"{self.language}\0{self.convention}\0{self.source}"
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Interactor:
    """An interactive problem's judge, run as ``interactor input_file output_file answer_file`` (testlib's
    order) with its stdin and stdout wired to the program's stdout and stdin; testlib's exit codes."""

    language: CheckerLanguage
    source: str


@dataclass(frozen=True)
class StdioSuite:
    cases: list[StdioCase]
    shape: str = "tests"
    checker: Checker | None = None
    language: str | None = None
    """The language the reference asks for (open-r1's ``verification_info.language``), if it names one."""
    interactor: Interactor | None = None


@dataclass(frozen=True)
class CallSuite:
    fn_name: str
    cases: list[CallCase]
    shape: str = "fn_name"
    unwrap_singleton: bool = True
    """APPS/TACO wrap some expected values in a one-element list; LiveCodeBench does not."""
    prelude: str = ""
    """Put before the program (LiveCodeBench's grader gives LeetCode code ``typing`` and friends)."""


@dataclass(frozen=True)
class AssertSuite:
    test: str
    entry_point: str
    prompt: str = ""
    shape: str = "humaneval"


Suite = StdioSuite | CallSuite | AssertSuite
Case = StdioCase | CallCase


@dataclass(frozen=True)
class Group:
    name: str
    weight: float
    members: list[int] = field(default_factory=list)


def check_weight(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise UnusableReference(f"{where}: 'weight' must be a finite number >= 0, got {value!r}")
    return float(value)


def check_group(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UnusableReference(f"{where}: 'group' must be a string or an integer, got {value!r}")
    return str(value)


def groups_of(cases: Sequence[Case]) -> list[Group]:
    """The subtasks, in order of first appearance. A test without a group is a group of its own. A group's
    weight is the weight its tests carry (they must agree; none given: 1)."""
    groups: dict[str, Group] = {}
    declared: dict[str, float] = {}
    for index, case in enumerate(cases):
        name = case.group if case.group is not None else f"#{index}"
        group = groups.setdefault(name, Group(name, 1.0))
        group.members.append(index)
        if case.weight is not None:
            if name in declared and declared[name] != case.weight:
                raise UnusableReference(
                    f"group {name!r}: its tests give different weights ({declared[name]:g} and "
                    f"{case.weight:g}); give the group's weight on its tests, the same on each"
                )
            declared[name] = case.weight
    return [Group(g.name, declared.get(g.name, 1.0), g.members) for g in groups.values()]
