"""Plugin discovery and the reward registry, built once at startup.

Plugins are Python modules published under the ``verifier`` entry-point group. The built-in ones are
registered through that same group by this distribution's own metadata.
"""

from __future__ import annotations

import importlib.metadata
import keyword
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pluggy
from pydantic import BaseModel

from verifier import hookspecs
from verifier.errors import DuplicateRewardError, PluginError, UnknownRewardError
from verifier.types import PluginConfig, Reward

log = logging.getLogger(__name__)

REWARD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str


@dataclass(frozen=True)
class RegisteredReward:
    """A reward with the plugin that supplied it, and the options that plugin was configured with."""

    reward: Reward
    plugin: PluginInfo
    config: PluginConfig | None = None

    @property
    def name(self) -> str:
        return self.reward.name


def create_plugin_manager(
    *,
    load_entrypoints: bool = True,
    allow: Iterable[str] | None = None,
    deny: Iterable[str] = (),
    plugins: Mapping[str, object] | None = None,
) -> pluggy.PluginManager:
    """A plugin manager with the hook specifications, the selected entry-point plugins and ``plugins``.

    ``plugins`` maps names to plugin objects registered directly (tests build their own managers this way).
    An unknown hook name in any plugin fails here (``check_pending``) instead of being silently ignored.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    allowed = set(allow) if allow is not None else None
    denied = set(deny)
    if load_entrypoints:
        for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME):
            if ep.name in denied or (allowed is not None and ep.name not in allowed):
                log.info("plugin %s not loaded (settings allow/deny)", ep.name)
                continue
            if pm.get_plugin(ep.name) is not None:
                raise PluginError(ep.name, "two installed distributions publish a plugin under this name")
            try:
                module = ep.load()
            except Exception as exc:
                raise PluginError(ep.name, f"cannot import {ep.value}: {exc!r}") from exc
            pm.register(module, name=ep.name)
    for name, plugin in (plugins or {}).items():
        if denied and name in denied:
            continue
        pm.register(plugin, name=name)
    if allowed is not None:
        missing = allowed - {name for name, _ in pm.list_name_plugin()}
        if missing:
            raise PluginError(", ".join(sorted(missing)), "listed in plugins_allow but not installed")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(getattr(exc, "plugin_name", "?") or "?", str(exc)) from exc
    return pm


def _plugin_version(plugin: object, distributions: Mapping[str, list[str]]) -> str:
    """The version of the distribution that ships the plugin's top-level package, else ``__version__``."""
    top = (getattr(plugin, "__name__", None) or type(plugin).__module__).split(".")[0]
    for dist in distributions.get(top, []):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    version = getattr(plugin, "__version__", None)
    return str(version) if version else "unknown"


class RewardRegistry:
    """Every reward the loaded plugins registered, validated once."""

    def __init__(self, rewards: Iterable[RegisteredReward]) -> None:
        self._rewards: dict[str, RegisteredReward] = {}
        for entry in rewards:
            existing = self._rewards.get(entry.name)
            if existing is not None:
                raise DuplicateRewardError(
                    entry.plugin.name,
                    f"reward {entry.name!r} is already registered by plugin {existing.plugin.name!r}",
                )
            self._rewards[entry.name] = entry

    @classmethod
    def from_plugin_manager(
        cls, pm: pluggy.PluginManager, plugin_options: Mapping[str, Mapping[str, Any]] | None = None
    ) -> RewardRegistry:
        """Ask each plugin for its rewards, with its own options, and validate what it returns."""
        options = plugin_options or {}
        entries: list[RegisteredReward] = []
        distributions = importlib.metadata.packages_distributions()
        for impl in pm.hook.register_rewards.get_hookimpls():
            info = PluginInfo(impl.plugin_name, _plugin_version(impl.plugin, distributions))
            config = PluginConfig(impl.plugin_name, dict(options.get(impl.plugin_name, {})))
            available = {"config": config}
            try:
                result = impl.function(**{arg: available[arg] for arg in impl.argnames})
            except PluginError:
                raise
            except Exception as exc:  # a plugin's bug at startup: name the plugin
                raise PluginError(info.name, f"register_rewards raised {exc!r}") from exc
            for reward in _as_rewards(info.name, result):
                entries.append(RegisteredReward(reward, info, config))
        unknown_options = set(options) - {name for name, _ in pm.list_name_plugin()}
        if unknown_options:
            raise PluginError(
                ", ".join(sorted(unknown_options)), "plugin_options given for a plugin not loaded"
            )
        return cls(entries)

    def __contains__(self, name: object) -> bool:
        return name in self._rewards

    def __iter__(self) -> Iterator[RegisteredReward]:
        return iter(sorted(self._rewards.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._rewards)

    def names(self) -> list[str]:
        return sorted(self._rewards)

    def get(self, name: str) -> RegisteredReward:
        try:
            return self._rewards[name]
        except KeyError:
            raise UnknownRewardError([name], self.names()) from None

    def check_known(self, names: Iterable[str]) -> None:
        unknown = sorted({n for n in names if n not in self._rewards})
        if unknown:
            raise UnknownRewardError(unknown, self.names())

    @asynccontextmanager
    async def lifespans(self) -> AsyncIterator[None]:
        """Every reward's lifespan entered (pools, clients, warm-up), in name order; all exited on leaving. One
        that fails to start is a ``PluginError`` naming its plugin, once those already started are closed."""
        async with AsyncExitStack() as stack:
            for entry in self:
                if entry.reward.lifespan is not None:
                    try:
                        await stack.enter_async_context(entry.reward.lifespan())
                    except Exception as exc:
                        raise PluginError(
                            entry.plugin.name, f"reward {entry.name!r} failed to start: {exc!r}"
                        ) from exc
            yield


def _as_rewards(plugin: str, result: object) -> Iterator[Reward]:
    if result is None:
        return
    if isinstance(result, Reward) or not isinstance(result, Iterable):
        raise PluginError(plugin, f"register_rewards must return an iterable of Reward, got {result!r}")
    for reward in result:
        _validate(plugin, reward)
        yield reward


def _validate(plugin: str, reward: object) -> None:
    if not isinstance(reward, Reward):
        raise PluginError(plugin, f"register_rewards returned {reward!r}, which is not a verifier.Reward")
    if (
        not isinstance(reward.name, str)
        or not REWARD_NAME.match(reward.name)
        or keyword.iskeyword(reward.name)
    ):
        raise PluginError(
            plugin, f"invalid reward name {reward.name!r}: use 1-64 lower-case letters, digits and '_'"
        )
    if not isinstance(reward.description, str) or not reward.description.strip():
        raise PluginError(plugin, f"reward {reward.name!r} has no description")
    if "\n" in reward.description.strip():
        raise PluginError(plugin, f"reward {reward.name!r}: the description must be one line")
    if not callable(reward.score):
        raise PluginError(plugin, f"reward {reward.name!r}: score is not callable")
    if not (isinstance(reward.params, type) and issubclass(reward.params, BaseModel)):
        raise PluginError(plugin, f"reward {reward.name!r}: params must be a pydantic model class")
    try:
        reward.params.model_json_schema()
    except Exception as exc:
        raise PluginError(plugin, f"reward {reward.name!r}: params have no JSON schema: {exc!r}") from exc
