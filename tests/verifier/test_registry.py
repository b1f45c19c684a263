from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

from tests.verifier import plugins_for_tests
from verifier import NoParams, PluginConfig, PluginError, Reward, hookimpl
from verifier.errors import DuplicateRewardError
from verifier.registry import RewardRegistry, create_plugin_manager


def _plugin(*rewards: Reward) -> SimpleNamespace:
    @hookimpl
    def register_rewards(config: PluginConfig) -> list[Reward]:
        return list(rewards)

    return SimpleNamespace(register_rewards=register_rewards)


def _reward(name: str = "ok", **overrides: Any) -> Reward:
    fields: dict[str, Any] = {
        "name": name,
        "description": "a test reward",
        "score": lambda items: [1.0] * len(items),
    }
    fields.update(overrides)
    return Reward(**fields)


def _registry(**plugins: object) -> RewardRegistry:
    return RewardRegistry.from_plugin_manager(create_plugin_manager(load_entrypoints=False, plugins=plugins))


def test_builtin_format_plugin_is_found_through_its_entry_point() -> None:
    registry = RewardRegistry.from_plugin_manager(create_plugin_manager())
    entry = registry.get("format")
    assert entry.plugin.name == "format"
    assert entry.plugin.version != "unknown"
    assert {"format", "tag_count", "soft_overlong", "cosine_length"} <= set(registry.names())


def test_duplicate_reward_name_fails_startup_naming_both_plugins() -> None:
    with pytest.raises(DuplicateRewardError) as info:
        _registry(first=_plugin(_reward("same")), second=_plugin(_reward("same")))
    message = str(info.value)
    assert "'same'" in message and "first" in message and "second" in message


def test_duplicate_reward_within_one_plugin_fails_startup() -> None:
    with pytest.raises(DuplicateRewardError, match="'twice'"):
        _registry(solo=_plugin(_reward("twice"), _reward("twice")))


@pytest.mark.parametrize(
    ("reward", "message"),
    [
        (_reward("Bad-Name"), "invalid reward name"),
        (_reward(""), "invalid reward name"),
        (_reward("class"), "invalid reward name"),
        (_reward(description=""), "no description"),
        (_reward(description="two\nlines"), "one line"),
        (_reward(score="not callable"), "not callable"),
        (_reward(params=dict), "pydantic model"),
    ],
)
def test_invalid_registration_fails_startup_naming_the_plugin(reward: Reward, message: str) -> None:
    with pytest.raises(PluginError, match=message) as info:
        _registry(culprit=_plugin(reward))
    assert info.value.plugin == "culprit"
    assert "culprit" in str(info.value)


def test_registering_something_that_is_not_a_reward_fails_startup() -> None:
    @hookimpl
    def register_rewards() -> list[object]:
        return [{"name": "dict"}]

    with pytest.raises(PluginError, match=r"not a verifier\.Reward"):
        _registry(dicty=SimpleNamespace(register_rewards=register_rewards))


def test_a_hook_that_raises_fails_startup_naming_the_plugin() -> None:
    @hookimpl
    def register_rewards() -> list[Reward]:
        raise RuntimeError("cannot find my model")

    with pytest.raises(PluginError, match="cannot find my model") as info:
        _registry(broken=SimpleNamespace(register_rewards=register_rewards))
    assert info.value.plugin == "broken"


def test_misspelt_hook_fails_startup() -> None:
    @hookimpl
    def register_reward() -> list[Reward]:  # missing the final "s"
        return []

    with pytest.raises(PluginError, match="register_reward"):
        create_plugin_manager(
            load_entrypoints=False, plugins={"typo": SimpleNamespace(register_reward=register_reward)}
        )


def test_hook_may_accept_fewer_arguments_than_the_spec() -> None:
    @hookimpl
    def register_rewards() -> list[Reward]:
        return [_reward("no_args")]

    assert _registry(minimal=SimpleNamespace(register_rewards=register_rewards)).names() == ["no_args"]


def test_deny_list_keeps_an_entry_point_plugin_out() -> None:
    registry = RewardRegistry.from_plugin_manager(create_plugin_manager(deny=["format"]))
    assert "format" not in registry


def test_allow_list_loads_only_the_named_plugins() -> None:
    pm = create_plugin_manager(allow=["format"], plugins={"tests": plugins_for_tests})
    assert {name for name, _ in pm.list_name_plugin()} == {"format", "tests"}
    pm = create_plugin_manager(allow=[], plugins={})
    assert pm.list_name_plugin() == []


def test_allowing_a_plugin_that_is_not_installed_fails_startup() -> None:
    with pytest.raises(PluginError, match="not installed"):
        create_plugin_manager(allow=["format", "no_such_plugin"])


class _Options(BaseModel):
    greeting: str
    times: int = 1


def test_plugin_options_reach_the_plugin_and_are_validated() -> None:
    seen: list[_Options] = []

    @hookimpl
    def register_rewards(config: PluginConfig) -> list[Reward]:
        seen.append(config.parse(_Options))
        return [_reward("configured")]

    plugin = SimpleNamespace(register_rewards=register_rewards)
    pm = create_plugin_manager(load_entrypoints=False, plugins={"conf": plugin})
    RewardRegistry.from_plugin_manager(pm, {"conf": {"greeting": "hi", "times": 2}})
    assert seen == [_Options(greeting="hi", times=2)]
    with pytest.raises(PluginError, match="invalid options") as info:
        RewardRegistry.from_plugin_manager(pm, {"conf": {"times": "many"}})
    assert info.value.plugin == "conf"


def test_options_for_a_plugin_that_is_not_loaded_fail_startup() -> None:
    pm = create_plugin_manager(load_entrypoints=False, plugins={"conf": _plugin(_reward())})
    with pytest.raises(PluginError, match="not loaded"):
        RewardRegistry.from_plugin_manager(pm, {"cnof": {}})


def test_registry_lists_rewards_sorted_with_their_plugin() -> None:
    registry = _registry(b=_plugin(_reward("zeta")), a=_plugin(_reward("alpha", params=NoParams)))
    assert [(e.name, e.plugin.name) for e in registry] == [("alpha", "a"), ("zeta", "b")]
