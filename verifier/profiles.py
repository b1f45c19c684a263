"""Reward profiles: named, server-side presets of rewards, weights and params.

A trainer whose client cannot send params (OpenRLHF's ``--remote_rm_url``, verl's reward kwargs, a TRL run
configured in one place) names a profile instead, and every route resolves it the same way: the profile's
rewards and params, with the request's own fields on top (request-level ``rewards`` replace the profile's,
request-level ``params`` override it field by field, item-level fields override both).

- ``think_tag`` / ``think_in_prompt`` at profile level are given to every reward of the profile whose params
  declare them (the ``verifier.reasoning`` fields), so ``r1-distill`` tells format, math, judge, ... alike
  that the chat template opened ``<think>``. A reward that does not read the reasoning is left alone.
- ``data_source`` maps a dataset's ``data_source`` (verl dispatches rewards by it) to another profile, so one
  run can mix math and code datasets; an item whose data source is not in the map takes the profile's own
  rewards, or is refused (422) when the profile has none: never scored by a guess.
- ``response_start``: markers after which the response starts in a prompt + response string (the oldest
  OpenRLHF protocol sends only that), e.g. ``<|im_start|>assistant\\n``.

Everything is validated once at startup against the registry (an unknown reward, a param the reward does not
accept, a map to a missing profile fail startup with ``ProfileError``), never per request. The built-in
presets (``r1``, ``r1-distill``, ``r1-zero``) are offered only when their rewards are loaded; a configured
profile of the same name replaces a preset.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from verifier.errors import InvalidRequestError, ProfileError, UnknownProfileError
from verifier.reasoning import ReasoningTags
from verifier.registry import RewardRegistry
from verifier.schemas import Item, VerifyRequest

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REASONING_FIELDS = tuple(ReasoningTags.model_fields)


class ProfileSpec(BaseModel):
    """A profile as the settings hold it (``[profiles.NAME]`` in the TOML file)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    description: str = ""
    rewards: dict[str, float] = Field(default_factory=dict, description="reward name -> weight")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="params per reward")
    think_tag: str | None = Field(
        default=None, description="given to every reward of the profile that takes a think_tag"
    )
    think_in_prompt: bool | None = Field(
        default=None, description="given to every reward of the profile that takes think_in_prompt"
    )
    response_start: list[str] = Field(
        default_factory=list,
        description="markers after which the response starts in a prompt + response string (OpenRLHF "
        "queries without prompts); the first marker found, at its first occurrence",
    )
    data_source: dict[str, str] = Field(
        default_factory=dict, description="an item's data_source -> the profile that scores it (verl)"
    )

    @field_validator("response_start")
    @classmethod
    def _markers(cls, value: list[str]) -> list[str]:
        if any(not marker for marker in value):
            raise ValueError("a response_start marker must not be empty")
        return value

    @model_validator(mode="after")
    def _something_to_score(self) -> ProfileSpec:
        if not self.rewards and not self.data_source:
            raise ValueError("a profile needs rewards, or a data_source map to profiles that have them")
        return self


_R1_MARKERS = ["<｜Assistant｜>", "<|im_start|>assistant\n"]

BUILTIN_PROFILES: dict[str, ProfileSpec] = {
    # DeepSeek-R1's rule rewards: accuracy, format and (its second RL stage) language consistency. Accuracy
    # dominates: format + language together (0.5) stay below one correct answer, so neither can be farmed.
    "r1": ProfileSpec(
        description="DeepSeek-R1: math accuracy 1.0, format (<think>...</think> then the answer) 0.25, "
        "language consistency of the reasoning 0.25",
        rewards={"math": 1.0, "format": 0.25, "language": 0.25},
        response_start=_R1_MARKERS,
    ),
    "r1-distill": ProfileSpec(
        description="r1 for R1-distill chat templates, whose prompt already ends in <think>: every reward "
        "reads the completion as starting inside the reasoning",
        rewards={"math": 1.0, "format": 0.25, "language": 0.25},
        think_in_prompt=True,
        response_start=["<｜Assistant｜><think>\n", "<|im_start|>assistant\n<think>\n"],
    ),
    # R1-Zero's template: "... <think> reasoning process here </think> <answer> answer here </answer>.
    # User: prompt. Assistant:". Its paper names two rewards: accuracy and format.
    "r1-zero": ProfileSpec(
        description="DeepSeek-R1-Zero: math accuracy 1.0, format 0.25 with the answer inside <answer> tags "
        "(the R1-Zero template)",
        rewards={"math": 1.0, "format": 0.25},
        params={"format": {"answer_tag": "answer"}},
        response_start=["Assistant:"],
    ),
}


@dataclass(frozen=True)
class Profile:
    """A validated profile: ``params`` already carry the profile-level reasoning fields."""

    name: str
    description: str
    rewards: dict[str, float]
    params: dict[str, dict[str, Any]]
    response_start: tuple[str, ...]
    data_source: dict[str, str]
    builtin: bool

    def split_query(self, query: str, markers: tuple[str, ...] | None = None) -> tuple[str, str] | None:
        """``(prompt, response)`` cut after the first marker found (at its first occurrence: text the
        policy writes after it stays in the response, so writing a marker cannot hide anything), or ``None``
        when no marker occurs."""
        return split_query(query, markers if markers is not None else self.response_start)


def split_query(query: str, markers: tuple[str, ...]) -> tuple[str, str] | None:
    for marker in markers:
        at = query.find(marker)
        if at >= 0:
            return query[: at + len(marker)], query[at + len(marker) :]
    return None


class Profiles:
    """The profiles a running verifier offers, validated against its registry."""

    def __init__(self, profiles: Mapping[str, Profile]) -> None:
        self._profiles = dict(profiles)

    @classmethod
    def build(cls, configured: Mapping[str, ProfileSpec], registry: RewardRegistry) -> Profiles:
        """Validate the configured profiles (``ProfileError`` on the first problem) and add the presets
        whose rewards are loaded."""
        specs: dict[str, tuple[ProfileSpec, bool]] = {}
        for name, spec in BUILTIN_PROFILES.items():
            missing = sorted(_rewards_of(spec) - set(registry.names()))
            if name in configured:
                continue
            if missing:
                log.info("built-in profile %s not offered: rewards %s are not loaded", name, ", ".join(missing))
                continue
            specs[name] = (spec, True)
        for name, spec in configured.items():
            if not _NAME.match(name):
                raise ProfileError(name, "a profile name is letters, digits, '.', '_' or '-' (at most 64)")
            specs[name] = (spec, False)
        profiles = {name: _validate(name, spec, builtin, registry) for name, (spec, builtin) in specs.items()}
        for profile in profiles.values():
            for source, target in profile.data_source.items():
                if target not in profiles:
                    raise ProfileError(
                        profile.name, f"data_source {source!r} maps to unknown profile {target!r}"
                    )
                if profiles[target].data_source:
                    raise ProfileError(
                        profile.name, f"data_source {source!r} maps to {target!r}, which has a map itself"
                    )
        return cls(profiles)

    def __iter__(self) -> Iterator[Profile]:
        return iter(self._profiles[name] for name in sorted(self._profiles))

    def names(self) -> list[str]:
        return sorted(self._profiles)

    def get(self, name: str) -> Profile:
        try:
            return self._profiles[name]
        except KeyError:
            raise UnknownProfileError(name, self.names()) from None

    def resolve(self, request: VerifyRequest) -> VerifyRequest:
        """The request with its profile's rewards and params filled in (unchanged without a profile)."""
        if request.profile is None:
            return request
        profile = self.get(request.profile)
        shared = request.params or {}
        update: dict[str, Any] = {"profile": None, "params": _merged(profile.params, shared)}
        if request.rewards is None and profile.rewards:
            update["rewards"] = dict(profile.rewards)
        if profile.data_source and request.rewards is None:
            update["items"] = [self._dispatch(profile, item, i, shared) for i, item in enumerate(request.items)]
        return request.model_copy(update=update)

    def _dispatch(self, profile: Profile, item: Item, index: int, shared: Mapping[str, Any]) -> Item:
        if item.rewards is not None:
            return item
        target_name = profile.data_source.get(item.data_source) if item.data_source is not None else None
        if target_name is None:
            if profile.rewards:
                return item
            known = ", ".join(sorted(profile.data_source))
            raise InvalidRequestError(
                [
                    {
                        "loc": ["items", index, "data_source"],
                        "msg": f"data_source {item.data_source!r} is not in profile {profile.name!r}'s map "
                        f"({known}) and the profile has no rewards of its own",
                    }
                ]
            )
        target = self._profiles[target_name]
        params = _merged(_merged(target.params, shared), item.params or {})
        return item.model_copy(update={"rewards": dict(target.rewards), "params": params})


def _rewards_of(spec: ProfileSpec) -> set[str]:
    return set(spec.rewards) | set(spec.params)


def _merged(base: Mapping[str, Mapping[str, Any]], over: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: {**base.get(name, {}), **over.get(name, {})} for name in {*base, *over}}


def _validate(name: str, spec: ProfileSpec, builtin: bool, registry: RewardRegistry) -> Profile:
    unknown = sorted(_rewards_of(spec) - set(registry.names()))
    if unknown:
        raise ProfileError(
            name, f"unknown reward {', '.join(unknown)}; available: {', '.join(registry.names())}"
        )
    unused = sorted(set(spec.params) - set(spec.rewards))
    if unused:
        raise ProfileError(name, f"params for {', '.join(unused)}, which the profile does not score")
    reasoning = {f: getattr(spec, f) for f in _REASONING_FIELDS if getattr(spec, f) is not None}
    params: dict[str, dict[str, Any]] = {}
    for reward in spec.rewards:
        model = registry.get(reward).reward.params
        declared = {f: v for f, v in reasoning.items() if f in model.model_fields}
        own = {**declared, **spec.params.get(reward, {})}
        try:
            model.model_validate(own)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ProfileError(name, f"params.{reward}.{where}: {first['msg']}") from None
        if own:
            params[reward] = own
    return Profile(
        name=name,
        description=spec.description,
        rewards=dict(spec.rewards),
        params=params,
        response_start=tuple(spec.response_start),
        data_source=dict(spec.data_source),
        builtin=builtin,
    )
