"""The plugin contract: every hook a verifier plugin may implement.

Hooks are called with keyword arguments only; an implementation may accept fewer arguments than its
specification names. Specifications only grow: an argument, once added, is never removed or renamed.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from verifier.types import PluginConfig, Reward

PROJECT_NAME = "verifier"
"""The pluggy project name, and the entry-point group plugins are published under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_rewards(config: PluginConfig) -> Iterable[Reward]:  # type: ignore[empty-body]
    """Supply the rewards this plugin provides.

    Called once per plugin at startup, before the service accepts requests, with the host's configuration
    for that plugin. Results are collected from every plugin; reward names must be unique across all of
    them, and a duplicate or invalid registration fails startup with an error naming the plugin.
    """
