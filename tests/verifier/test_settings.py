from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from verifier.settings import Settings, load_settings


def test_defaults_bind_to_loopback() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1" and settings.port == 8000


def test_environment_variables_use_the_verifier_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIFIER_PORT", "9001")
    monkeypatch.setenv("VERIFIER_PLUGINS_DENY", '["format"]')
    monkeypatch.setenv("VERIFIER_PLUGIN_OPTIONS", '{"math": {"workers": 3}}')
    settings = Settings()
    assert settings.port == 9001
    assert settings.plugins_deny == ["format"]
    assert settings.plugin_options == {"math": {"workers": 3}}


def test_toml_file_sits_below_the_environment_and_explicit_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "verifier.toml"
    config.write_text(
        "port = 7000\nworkers = 3\nmax_batch_items = 10\n\n[plugin_options.math]\nworkers = 4\n"
    )
    monkeypatch.setenv("VERIFIER_WORKERS", "2")
    settings = load_settings(config, max_batch_items=20)
    assert settings.port == 7000  # from the file
    assert settings.workers == 2  # the environment beats the file
    assert settings.max_batch_items == 20  # explicit beats both
    assert settings.plugin_options == {"math": {"workers": 4}}


class _WatchedEnvironment(dict[str, str]):
    """``os.environ`` stand-in that records every write (a write undone before returning is still one)."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.writes: list[str] = []

    def __setitem__(self, key: str, value: str) -> None:
        self.writes.append(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.writes.append(key)
        super().__delitem__(key)


def test_loading_a_settings_file_leaves_the_environment_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "verifier.toml"
    config.write_text("port = 7000\n")
    environment = _WatchedEnvironment(dict(os.environ))
    monkeypatch.setattr(os, "environ", environment)
    assert load_settings(config).port == 7000
    assert environment.writes == []
    assert Settings().port == 8000  # the file was for that one call


def test_a_file_given_to_load_settings_beats_the_one_the_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "env.toml").write_text("port = 7001\n")
    (tmp_path / "given.toml").write_text("port = 7002\n")
    monkeypatch.setenv("VERIFIER_CONFIG_FILE", str(tmp_path / "env.toml"))
    assert Settings().port == 7001
    assert load_settings(tmp_path / "given.toml").port == 7002


def test_a_missing_settings_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.toml"):
        load_settings(tmp_path / "nope.toml")


def test_unknown_settings_are_rejected(tmp_path: Path) -> None:
    config = tmp_path / "verifier.toml"
    config.write_text("prot = 7000\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(config)
