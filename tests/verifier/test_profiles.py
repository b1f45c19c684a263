"""Reward profiles: configured and built-in presets, resolved the same way on every route, validated at startup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import app_client
from tests.verifier import plugins_for_tests
from verifier.errors import ProfileError
from verifier.http import create_app
from verifier.profiles import BUILTIN_PROFILES, Profiles, ProfileSpec
from verifier.registry import create_plugin_manager
from verifier.runtime import build_registry, running
from verifier.settings import Settings, load_settings

pytestmark = pytest.mark.anyio

DISTILL = {
    "description": "the template opened <think>",
    "rewards": {"format": 1.0, "tag_count": 0.5, "echo": 0.0},
    "params": {"echo": {"scale": 2.0}, "format": {"strict": False}},
    "think_in_prompt": True,
}
SCALED = {"rewards": {"echo": 1.0}, "params": {"echo": {"scale": 2.0}}}
# An R1-distill completion: the prompt ended in "<think>\n", so the completion opens no tag.
PREFILLED = "the reasoning\n</think>\n3"


def _pm() -> Any:
    return create_plugin_manager(allow=["format"], plugins={"tests": plugins_for_tests})


def _app(**profiles: dict[str, Any]) -> FastAPI:
    return create_app(Settings(profiles=profiles), plugin_manager=_pm())  # type: ignore[arg-type]


def _registry() -> Any:
    return build_registry(Settings(), _pm())


async def test_profiles_are_listed_with_the_reasoning_fields_given_to_the_rewards_that_take_them() -> None:
    async with app_client(_app(distill=DISTILL)) as client:
        body = (await client.get("/v1/profiles")).json()
    assert body == {
        "profiles": [
            {
                "name": "distill",
                "description": "the template opened <think>",
                "builtin": False,
                "rewards": {"format": 1.0, "tag_count": 0.5, "echo": 0.0},
                # format and tag_count read the reasoning (take think_in_prompt); echo does not: not given it
                "params": {
                    "echo": {"scale": 2.0},
                    "format": {"think_in_prompt": True, "strict": False},
                    "tag_count": {"think_in_prompt": True},
                },
                "response_start": [],
                "data_source": {},
            }
        ]
    }


async def test_verify_with_a_profile_scores_a_prefilled_think_completion() -> None:
    rewards = ["format", "tag_count"]
    async with app_client(_app(distill=DISTILL)) as client:
        with_profile = await client.post(
            "/v1/verify", json={"profile": "distill", "rewards": rewards, "items": [{"completion": PREFILLED}]}
        )
        without = await client.post("/v1/verify", json={"rewards": rewards, "items": [{"completion": PREFILLED}]})
    assert with_profile.status_code == 200, with_profile.text
    assert with_profile.json()["results"][0]["scores"] == {"format": 1.0, "tag_count": 1.0}
    # The same rewards without the profile read the completion as having no opening tag.
    assert without.json()["results"][0]["scores"] == {"format": 0.0, "tag_count": 0.5}


async def test_request_fields_override_the_profile() -> None:
    async with app_client(_app(distill=DISTILL, scaled=SCALED)) as client:
        params = await client.post(
            "/v1/verify",
            json={"profile": "distill", "rewards": ["format"], "params": {"format": {"think_in_prompt": False}},
                  "items": [{"completion": PREFILLED}]},
        )
        merged = await client.post(
            "/v1/verify",
            json={"profile": "scaled", "params": {"echo": {"offset": 1.0}}, "items": [{"completion": "3"}]},
        )
        item = await client.post(
            "/v1/verify",
            json={"profile": "scaled", "params": {"echo": {"offset": 1.0}},
                  "items": [{"completion": "3", "params": {"echo": {"scale": 1.0}}}]},
        )
    # a request param overrides the profile's (and the profile-level reasoning fields)
    assert params.json()["results"][0]["scores"] == {"format": 0.0}
    # request params merge field by field over the profile's: echo keeps scale 2 and gains offset 1
    assert merged.json()["results"][0]["scores"] == {"echo": 7.0}
    # item params override both
    assert item.json()["results"][0]["scores"] == {"echo": 4.0}


async def test_an_unknown_profile_is_400_naming_the_known_ones() -> None:
    async with app_client(_app(distill=DISTILL, plain={"rewards": {"echo": 1.0}})) as client:
        verify = await client.post("/v1/verify", json={"profile": "nope", "items": [{"completion": "1"}]})
        openrlhf = await client.post("/v1/openrlhf?profile=nope", json={"query": ["1"]})
    for response in (verify, openrlhf):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "unknown_profile"
        assert error["details"] == {"unknown": "nope", "available": ["distill", "plain"]}
        assert "distill, plain" in error["message"]


async def test_openrlhf_takes_the_profile_in_the_url() -> None:
    distill = {**DISTILL, "rewards": {"format": 1.0, "tag_count": 0.5}, "params": {}}
    async with app_client(_app(distill=distill)) as client:
        prompt = "<｜User｜>1+2?<｜Assistant｜><think>\n"
        response = await client.post(
            "/v1/openrlhf?profile=distill", json={"query": [prompt + PREFILLED], "prompts": [prompt]}
        )
        overridden = await client.post(
            "/v1/openrlhf?profile=distill&rewards=format", json={"query": [prompt + PREFILLED], "prompts": [prompt]}
        )
    body = response.json()
    assert body["rewards"] == [1.5] and body["scores"] == [1.0]
    assert body["extra_logs"] == {"format": [1.0], "tag_count": [1.0], "verifier/unscored": [0.0]}
    assert overridden.json()["extra_logs"] == {"format": [1.0], "verifier/unscored": [0.0]}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"rewards": {"nope": 1.0}}, "unknown reward nope"),
        ({"rewards": {"echo": 1.0}, "params": {"echo": {"think_in_prompt": True}}}, r"params\.echo\.think_in_prompt"),
        ({"rewards": {"format": 1.0}, "params": {"format": {"answer_tag": "1x"}}}, r"params\.format\.answer_tag"),
        ({"rewards": {"echo": 1.0}, "params": {"format": {}}}, "params for format, which the profile does not score"),
        ({"data_source": {"gsm8k": "missing"}}, "maps to unknown profile 'missing'"),
    ],
)
async def test_a_profile_the_rewards_cannot_take_fails_startup(spec: dict[str, Any], message: str) -> None:
    settings = Settings(profiles={"bad": spec})  # type: ignore[dict-item]
    with pytest.raises(ProfileError, match=message):
        async with running(settings, _pm()):
            pass


def test_a_profile_needs_something_to_score_and_a_clean_name() -> None:
    with pytest.raises(ValueError, match="needs rewards"):
        Settings(profiles={"empty": {}})  # type: ignore[dict-item]
    with pytest.raises(ProfileError, match="a profile name"):
        Profiles.build({"white space": ProfileSpec(rewards={"echo": 1.0})}, _registry())
    with pytest.raises(ProfileError, match="which has a map itself"):
        Profiles.build(
            {
                "outer": ProfileSpec(data_source={"a": "inner"}),
                "inner": ProfileSpec(data_source={"b": "leaf"}),
                "leaf": ProfileSpec(rewards={"echo": 1.0}),
            },
            _registry(),
        )


async def test_data_source_picks_the_profile_of_each_item() -> None:
    profiles = {
        "mixed": {"data_source": {"numbers": "numbers", "shape": "shape"}},
        "numbers": {"rewards": {"echo": 1.0}, "params": {"echo": {"offset": 10.0}}},
        "shape": {"rewards": {"format": 1.0}},
        "fallback": {"rewards": {"echo": 1.0}, "data_source": {"shape": "shape"}},
    }
    async with app_client(_app(**profiles)) as client:
        mixed = await client.post(
            "/v1/verify",
            json={"profile": "mixed", "params": {"echo": {"scale": 2.0}}, "items": [
                {"completion": "1", "data_source": "numbers"},
                {"completion": "<think>x</think> y", "data_source": "shape"},
                {"completion": "2", "data_source": "numbers", "rewards": ["echo"]},
            ]},
        )
        unmapped = await client.post(
            "/v1/verify", json={"profile": "mixed", "items": [{"completion": "1", "data_source": "other"}]}
        )
        fallback = await client.post(
            "/v1/verify",
            json={"profile": "fallback", "items": [
                {"completion": "4", "data_source": "other"},
                {"completion": "<think>x</think> y", "data_source": "shape"},
            ]},
        )
    results = mixed.json()["results"]
    # the target profile's params, then the request's on top (scale 2), then the item's own
    assert results[0]["scores"] == {"echo": 12.0} and results[1]["scores"] == {"format": 1.0}
    assert results[2]["scores"] == {"echo": 4.0}  # the item's own rewards are kept (no profile params)
    assert unmapped.status_code == 422
    error = unmapped.json()["error"]
    assert error["details"]["errors"][0]["loc"] == ["items", 0, "data_source"]
    assert "'other' is not in profile 'mixed'" in error["message"] and "numbers, shape" in error["message"]
    assert [r["scores"] for r in fallback.json()["results"]] == [{"echo": 4.0}, {"format": 1.0}]


def test_profiles_come_from_the_toml_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "verifier.toml"
    config.write_text(
        """
[profiles.r1-distill]
description = "ours"
rewards = { math = 1.0, format = 0.5 }
think_in_prompt = true
response_start = ["<|im_start|>assistant\\n<think>\\n"]

[profiles.r1-distill.params.format]
strict = true

[profiles.mixed.data_source]
"openai/gsm8k" = "r1-distill"
""",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.profiles["r1-distill"] == ProfileSpec(
        description="ours",
        rewards={"math": 1.0, "format": 0.5},
        params={"format": {"strict": True}},
        think_in_prompt=True,
        response_start=["<|im_start|>assistant\n<think>\n"],
    )
    assert settings.profiles["mixed"].data_source == {"openai/gsm8k": "r1-distill"}


def test_built_in_presets_validate_against_the_real_plugins_and_a_configured_one_replaces_a_preset() -> None:
    registry = build_registry(Settings(plugins_allow=["format", "math", "language"]))
    profiles = Profiles.build({}, registry)
    assert profiles.names() == ["r1", "r1-distill", "r1-zero"]
    distill = profiles.get("r1-distill")
    assert distill.rewards == {"math": 1.0, "format": 0.25, "language": 0.25}
    for reward in distill.rewards:
        # every reward of the preset that takes think_in_prompt gets it (those that do not yet, do not)
        takes = "think_in_prompt" in registry.get(reward).reward.params.model_fields
        assert distill.params.get(reward, {}).get("think_in_prompt") is (True if takes else None)
    assert profiles.get("r1-zero").params["format"] == {"answer_tag": "answer"}
    replaced = Profiles.build({"r1": ProfileSpec(rewards={"format": 1.0})}, registry)
    assert replaced.get("r1").rewards == {"format": 1.0} and not replaced.get("r1").builtin
    # Without the rewards a preset needs, it is not offered (and startup does not fail).
    assert Profiles.build({}, _registry()).names() == []
    assert set(BUILTIN_PROFILES) == {"r1", "r1-distill", "r1-zero"}
