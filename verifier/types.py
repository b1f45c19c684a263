"""The data a reward plugin sees and returns: the public plugin types."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar, overload

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar as DefaultTypeVar  # typing.TypeVar takes no default before 3.13

from verifier.errors import PluginError
from verifier.messages import Message

Text: TypeAlias = str | Sequence[Message]
M = TypeVar("M", bound=BaseModel)

P_co = DefaultTypeVar("P_co", bound=BaseModel, covariant=True, default=BaseModel)
"""The parameter model of the reward an item is scored by. Covariant: an item is read, never written, so a
``RewardItem[KeywordParams]`` is a ``RewardItem`` (of some model) to a helper that never reads ``params``."""

P = TypeVar("P", bound=BaseModel)
"""The parameter model of one reward, which its scorer reads."""


def message_text(message: Message) -> str:
    """The text of one chat message; content may be a string or a list of OpenAI-style parts."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type", "text") == "text"]
    return "".join(str(p) for p in parts)


class NoParams(BaseModel):
    """Parameter model of a reward that takes none."""

    model_config = ConfigDict(extra="forbid")


def _no_params() -> Any:  # Any: the default of an item whose model is not known here (P_co is free)
    return NoParams()


@dataclass(slots=True)  # not frozen: a frozen init costs ~3x, and batches hold thousands (treat as read-only)
class RewardItem(Generic[P_co]):
    """One completion to score, as one reward sees it.

    ``params`` is already validated against the reward's parameter model: a scorer typed over
    ``Sequence[RewardItem[KeywordParams]]`` reads ``item.params.case_sensitive`` with no cast. ``scores`` holds
    the other rewards' verdicts for this item and is filled only for rewards registered with
    ``reads_scores=True``.
    """

    index: int
    completion: Text
    params: P_co = field(default_factory=_no_params)
    prompt: Text | None = None
    reference: Any = None
    id: str | int | None = None
    completion_tokens: int | None = None
    scores: Mapping[str, float | None] = field(default_factory=dict)

    @property
    def completion_text(self) -> str:
        """The completion as plain text: the assistant messages' text joined by newlines for chat input."""
        if isinstance(self.completion, str):
            return self.completion
        return "\n".join(
            message_text(m) for m in self.completion if m.get("role", "assistant") == "assistant"
        )

    @property
    def prompt_text(self) -> str:
        """The prompt as plain text: the last user message for chat input, ``""`` when there is no prompt."""
        if self.prompt is None:
            return ""
        if isinstance(self.prompt, str):
            return self.prompt
        users = [m for m in self.prompt if m.get("role") == "user"]
        return message_text(users[-1]) if users else ""


@dataclass(frozen=True, slots=True)
class Score:
    """One item's verdict. ``value`` is ``None`` when the reward does not apply (or could not be computed:
    then ``error`` says why). ``details`` is free-form JSON for logs and completion tables.

    ``cacheable=False`` keeps this one verdict out of the verdict cache of a ``deterministic`` reward: for a
    verdict that hung on the machine's state rather than on the item (a program or a grader that ran out of
    time under load). A verdict with an ``error`` is never cached, whatever this says."""

    value: float | None
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    cacheable: bool = True


ScoreLike: TypeAlias = Score | float | int | None
ScoreFn: TypeAlias = Callable[
    [Sequence[RewardItem[P]]], Sequence[ScoreLike] | Awaitable[Sequence[ScoreLike]]
]
"""What a reward's ``score`` is: one batch of items in, one result per item out, sync or async."""


HealthStatus: TypeAlias = Literal["ok", "degraded", "down"]
"""A health state: ``ok``, ``degraded`` (still serves, says why) or ``down`` (does not serve)."""


@dataclass(frozen=True, slots=True)
class Health:
    """What ``/readyz`` reports for one reward. ``degraded`` still serves (say why); ``down`` does not."""

    status: HealthStatus = "ok"
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class Reward:
    """A reward a plugin registers.

    ``Reward(name=..., params=KeywordParams, score=scorer)`` type-checks only when ``scorer`` takes
    ``Sequence[RewardItem[KeywordParams]]`` (or items of a base of that model); without ``params`` its items
    carry ``NoParams``. Checking happens at the call (the constructor is generic, the class is not), so that a
    plugin's ``list[Reward]`` holds rewards of different models and each of them is still checked.

    ``score`` receives every item of a batch that asked for this reward, in batch order, and returns one
    result per item (sync or async). A batch may hold several concurrent requests' items (coalesced), each
    with its own params: score each item on its own. ``lifespan``, if given, is entered when the host starts
    and exited when it stops: the place for process pools, clients and warm-up. ``health`` feeds ``/readyz``.

    ``deterministic=True`` lets the host reuse a verdict (the verdict cache, docs/plugins.md): declare it only
    when a successful verdict is a function of the item (completion, prompt, reference, completion tokens,
    the other rewards' scores it reads), its validated params, the plugin's options and the plugin's version,
    and nothing else (no clock, no randomness, no remote model, no state kept between calls).
    """

    name: str
    description: str
    score: ScoreFn[Any]
    params: type[BaseModel] = NoParams
    reads_scores: bool = False
    deterministic: bool = False
    lifespan: Callable[[], AbstractAsyncContextManager[object]] | None = None
    health: Callable[[], Health] | None = None

    if TYPE_CHECKING:  # the dataclass's own __init__ at run time; for type checkers, these two signatures

        @overload
        def __init__(
            self,
            *,
            name: str,
            description: str,
            score: ScoreFn[NoParams],
            reads_scores: bool = ...,
            deterministic: bool = ...,
            lifespan: Callable[[], AbstractAsyncContextManager[object]] | None = ...,
            health: Callable[[], Health] | None = ...,
        ) -> None: ...

        @overload
        def __init__(
            self,
            *,
            name: str,
            description: str,
            score: ScoreFn[P],
            params: type[P],
            reads_scores: bool = ...,
            deterministic: bool = ...,
            lifespan: Callable[[], AbstractAsyncContextManager[object]] | None = ...,
            health: Callable[[], Health] | None = ...,
        ) -> None: ...

        def __init__(self, **fields: Any) -> None: ...


@dataclass(frozen=True)
class PluginConfig:
    """The host's configuration for one plugin (from settings ``plugin_options.<name>``)."""

    plugin: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def parse(self, model: type[M]) -> M:
        """Validate the options into the plugin's own settings model; a bad option fails startup."""
        try:
            return model.model_validate(dict(self.options))
        except ValueError as exc:
            raise PluginError(self.plugin, f"invalid options: {exc}") from exc


def to_score(result: ScoreLike) -> Score:
    """Normalise what a scorer returned into a ``Score``; a non-finite or non-numeric value is an error."""
    if isinstance(result, Score):
        value = result.value
        if value is None:
            return result
        checked = _finite(value)
        if checked is None:
            return Score(
                None, result.details, f"reward returned a non-finite or non-numeric score: {value!r}"
            )
        return (
            result
            if checked == value and type(value) is float
            else Score(checked, result.details, result.error, result.cacheable)
        )
    if result is None:
        return Score(None)
    checked = _finite(result)
    if checked is None:
        return Score(None, {}, f"reward returned a non-finite or non-numeric score: {result!r}")
    return Score(checked)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
