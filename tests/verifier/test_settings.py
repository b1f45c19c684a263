from __future__ import annotations

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


def test_a_missing_settings_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.toml"):
        load_settings(tmp_path / "nope.toml")


def test_unknown_settings_are_rejected(tmp_path: Path) -> None:
    config = tmp_path / "verifier.toml"
    config.write_text("prot = 7000\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(config)
