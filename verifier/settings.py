"""Service settings: one pydantic-settings class, from ``VERIFIER_*`` variables and a TOML file."""

from __future__ import annotations

import json
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from verifier.profiles import ProfileSpec

CONFIG_FILE_ENV = "VERIFIER_CONFIG_FILE"

_config_file: ContextVar[Path | None] = ContextVar("verifier_settings_file", default=None)
"""The TOML file ``load_settings`` was given, for ``Settings.settings_customise_sources`` to read while that
one ``Settings`` is built (pydantic-settings has no per-call argument for it; the environment is not ours)."""


class Settings(BaseSettings):
    """Everything the service can be told. Precedence: explicit arguments, then ``VERIFIER_*`` environment
    variables, then the TOML file named by ``VERIFIER_CONFIG_FILE`` (or ``--config``), then these defaults."""

    model_config = SettingsConfigDict(env_prefix="VERIFIER_", env_nested_delimiter="__", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    plugins_allow: list[str] | None = Field(
        default=None, description="load only these plugins (entry-point names); all when unset"
    )
    plugins_deny: list[str] = Field(default_factory=list, description="never load these plugins")
    plugin_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="options handed to each plugin, keyed by plugin name"
    )

    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="bearer tokens accepted on /v1 and /metrics; an entry 'sha256:<hex>' is a key's hash",
    )
    allow_open: bool = Field(
        default=False, description="serve without API keys on a non-loopback address (refused otherwise)"
    )
    log_format: Literal["json", "text"] = Field(default="json", description="log lines as JSON or as text")

    profiles: dict[str, ProfileSpec] = Field(
        default_factory=dict,
        description="named presets of rewards, weights and params ([profiles.NAME]); they join (or replace) "
        "the built-in r1, r1-distill and r1-zero",
    )
    openrlhf_rewards: dict[str, float] = Field(
        default_factory=lambda: {"math": 1.0},
        description="rewards (name -> weight) of the OpenRLHF route when its URL names none",
    )
    openrlhf_on_unscored: Literal["error", "zero"] = Field(
        default="error",
        description="OpenRLHF route: a query no reward could score fails the batch (502), or scores 0.0",
    )

    max_batch_items: int = Field(default=8192, ge=1, description="most items in one /v1/verify request")
    max_request_bytes: int = Field(default=64 * 2**20, ge=1024, description="largest request body accepted")
    max_completion_chars: int = Field(default=4 * 2**20, ge=1, description="longest completion accepted")
    max_items_in_flight: int = Field(
        default=65536,
        ge=1,
        description="items admitted and not yet answered, over all requests; beyond this, 429 with Retry-After",
    )
    max_bytes_in_flight: int = Field(
        default=256 * 2**20,
        ge=1024,
        description="request bytes admitted and not yet answered, over all requests; beyond this, 429",
    )
    max_concurrent_batches: int = Field(
        default=8, ge=1, description="(coalesced) batches scored at the same time; the others keep filling"
    )
    coalesce_window_ms: float = Field(
        default=5.0, ge=0, le=1000, description="how long a new batch waits for more requests to join it"
    )
    coalesce_max_items: int = Field(
        default=1024, ge=1, description="a batch takes no more requests once it holds this many items"
    )
    graceful_shutdown_s: float = Field(
        default=30.0, ge=0, description="on SIGTERM, how long in-flight batches may finish (new ones get 503)"
    )
    verdict_cache_bytes: int = Field(
        default=256 * 2**20,
        ge=0,
        description="memory for the verdict cache of deterministic rewards, shared by the process; 0 turns it off",
    )
    reward_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="a reward that takes longer for one batch gives its items null + error",
    )

    @field_validator("plugin_options", mode="before")
    @classmethod
    def _json_leaves(cls, value: Any) -> Any:
        """Nested variables (``VERIFIER_PLUGIN_OPTIONS__CODE__URLS='["http://sandbox:8090"]'``) arrive as
        strings: a leaf that parses as JSON is taken as that JSON value, any other string stays a string."""
        if not isinstance(value, dict):
            return value
        return {
            plugin: {key: _json_or_text(v) for key, v in options.items()} if isinstance(options, dict) else options
            for plugin, options in value.items()
        }

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        config_file = _config_file.get() or os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)),)
        return sources


def _json_or_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings, reading ``config_file`` (TOML) below the environment and ``overrides`` above it."""
    if config_file is None:
        return Settings(**overrides)
    if not Path(config_file).is_file():
        raise FileNotFoundError(f"settings file not found: {config_file}")
    token = _config_file.set(Path(config_file))
    try:
        return Settings(**overrides)
    finally:
        _config_file.reset(token)
