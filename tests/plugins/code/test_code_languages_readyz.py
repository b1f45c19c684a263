"""``/readyz`` of a live verifier says which languages the ``code`` reward can score (process backend)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import verifier_code
from fastapi import FastAPI

from tests.system import needs_bwrap
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings


@needs_bwrap
def test_readyz_lists_the_languages_the_code_reward_can_run(live_server: Callable[[FastAPI], str]) -> None:
    pm = create_plugin_manager(load_entrypoints=False, plugins={"code": verifier_code})
    settings = Settings(plugin_options={"code": {"isolation": "bwrap"}}, log_level="warning")
    url = live_server(create_app(settings, plugin_manager=pm))
    code = httpx.get(f"{url}/readyz", timeout=60).json()["rewards"]["code"]
    assert code["status"] in ("ok", "degraded"), code
    listed = code["message"].split("; languages: ")[1].split(", ")
    assert listed[:3] == ["python", "cpp", "c"]  # the table's order, from the backend's health
