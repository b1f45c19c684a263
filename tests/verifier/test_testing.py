"""``verifier.testing``: a plugin scored exactly as the service scores it, without entry points."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager

import anyio
import pytest
from pydantic import BaseModel, ConfigDict

from tests.verifier import plugins_for_tests
from verifier import Health, PluginConfig, PluginError, Reward, RewardItem, Score, hookimpl
from verifier.testing import Outcome, PluginHarness, RequestError, Sample, Verdict


class Resource:
    """A reward whose lifespan is recorded, and which scores only while its lifespan is open."""

    def __init__(self, fail_to_start: bool = False) -> None:
        self.events: list[str] = []
        self.open = False
        self.fail_to_start = fail_to_start

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        if self.fail_to_start:
            raise OSError("no such pool")
        self.events.append("start")
        self.open = True
        try:
            yield
        finally:
            self.open = False
            self.events.append("stop")

    def __call__(self, items: Sequence[RewardItem]) -> list[Score]:
        return [Score(1.0 if self.open else None, error=None if self.open else "closed") for _ in items]


class ResourcePlugin:
    def __init__(self, *resources: Resource) -> None:
        self.resources = resources

    @hookimpl
    def register_rewards(self, config: PluginConfig) -> list[Reward]:
        return [
            Reward(name=f"resource_{i}", description="open while its lifespan is", score=r, lifespan=r.lifespan)
            for i, r in enumerate(self.resources)
        ]


class CountParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plus: float = 0.0


class Counting:
    """A deterministic reward that counts the items it was asked to score."""

    def __init__(self) -> None:
        self.scored = 0

    def __call__(self, items: Sequence[RewardItem[CountParams]]) -> list[float]:
        self.scored += len(items)
        return [len(item.completion_text) + item.params.plus for item in items]


class CountingPlugin:
    def __init__(self) -> None:
        self.scorer = Counting()

    @hookimpl
    def register_rewards(self, config: PluginConfig) -> list[Reward]:
        return [
            Reward(name="count", description="length", score=self.scorer, params=CountParams, deterministic=True)
        ]


@pytest.fixture
def echo() -> Iterator[PluginHarness]:
    with PluginHarness(plugins_for_tests, name="test") as harness:
        yield harness


def test_lifespans_are_open_inside_with_and_closed_after() -> None:
    first, second = Resource(), Resource()
    harness = PluginHarness(ResourcePlugin(first, second))
    assert first.events == []
    with harness:
        assert (first.events, second.events) == (["start"], ["start"])
        assert harness.score("resource_0", "x") == [Verdict(1.0)]
    assert (first.events, second.events) == (["start", "stop"], ["start", "stop"])


@pytest.mark.anyio
async def test_lifespans_are_open_inside_async_with_and_closed_after() -> None:
    resource = Resource()
    async with PluginHarness(ResourcePlugin(resource)) as harness:
        assert resource.events == ["start"]
        assert await harness.score_async("resource_0", "x", "y") == [Verdict(1.0), Verdict(1.0)]
    assert resource.events == ["start", "stop"]


def test_a_lifespan_that_fails_to_start_names_the_plugin_and_closes_those_started() -> None:
    started, broken = Resource(), Resource(fail_to_start=True)
    harness = PluginHarness(ResourcePlugin(started, broken), name="resources")
    with pytest.raises(PluginError, match=r"'resources'.*'resource_1' failed to start.*no such pool"), harness:
        pass
    assert started.events == ["start", "stop"]


def test_scoring_outside_the_matching_with_is_refused() -> None:
    harness = PluginHarness(plugins_for_tests, name="test")
    with pytest.raises(RuntimeError, match="inside `with"):
        harness.score("echo", "1")
    with harness, pytest.raises(RuntimeError, match="inside `async with"):
        anyio.run(harness.score_async, "echo", "1")


def test_params_merge_item_over_call_and_bad_params_are_a_request_error(echo: PluginHarness) -> None:
    verdicts = echo.score("echo", "2", Sample("2", params={"offset": 1.0}), params={"scale": 3.0})
    assert [v.value for v in verdicts] == [6.0, 7.0]
    with pytest.raises(RequestError) as refused:
        echo.score("echo", "2", Sample("2", params={"scale": "big"}))
    assert [e["loc"] for e in refused.value.details["errors"]] == [["items", 1, "params", "echo", "scale"]]


def test_an_unknown_reward_is_a_request_error(echo: PluginHarness) -> None:
    with pytest.raises(RequestError, match="unknown reward 'nope'"):
        echo.score("nope", "1")


def test_a_scorer_that_raises_or_returns_garbage_costs_its_items_null_and_an_error(echo: PluginHarness) -> None:
    [exploded] = echo.score("explode", "1")
    assert exploded.value is None and exploded.error is not None and "the pool is gone" in exploded.error
    [nan] = echo.score("not_finite", "1")
    assert nan.value is None and nan.error is not None and "non-finite" in nan.error
    assert [v.error is not None for v in echo.score("wrong_count", "1", "2")] == [True, True]
    assert echo.score("echo", "none", "boom") == [Verdict(None), Verdict(None, error="boom for this item")]


def test_verify_scores_a_request_body_and_reads_scores_run_after_the_others(echo: PluginHarness) -> None:
    [outcome] = echo.verify({"rewards": {"echo": 2.0, "seen_scores": 0.0}, "items": [{"completion": "0.25"}]})
    assert isinstance(outcome, Outcome)
    assert outcome.reward == 0.5
    assert outcome.verdict("seen_scores") == Verdict(1.0, {"scores": {"echo": 0.25}})
    assert outcome.versions.keys() == {"echo", "seen_scores"}


def test_verify_adds_group_advantages(echo: PluginHarness) -> None:
    outcomes = echo.verify({"rewards": ["echo"], "group_size": 2, "items": [{"completion": "1"}, {"completion": "3"}]})
    advantages = [o.advantage for o in outcomes]
    assert advantages[0] is not None and advantages[1] is not None
    assert advantages[0] < 0 < advantages[1] and math.isclose(advantages[0], -advantages[1])


def test_a_body_the_wire_format_refuses_is_a_request_error(echo: PluginHarness) -> None:
    with pytest.raises(RequestError) as refused:
        echo.verify({"rewards": ["echo"], "items": [{"completion": "1", "no_such_field": 1}]})
    assert refused.value.details["errors"][0]["loc"] == ["items", 0, "no_such_field"]


def test_health_and_the_registered_reward_are_what_the_plugin_gave(echo: PluginHarness) -> None:
    assert "echo" in echo.rewards and "lifecycle" in echo.rewards
    assert echo.reward("echo").params is plugins_for_tests.EchoParams
    assert echo.health("echo") is None
    health = echo.health("lifecycle")
    assert isinstance(health, Health) and health.status == plugins_for_tests.lifecycle.status


def test_the_verdict_cache_is_off_unless_asked_for() -> None:
    plugin = CountingPlugin()
    with PluginHarness(plugin, name="count") as harness:
        harness.score("count", "ab")
        assert harness.score("count", "ab") == [Verdict(2.0)]
    assert plugin.scorer.scored == 2
    cached = CountingPlugin()
    with PluginHarness(cached, name="count", verdict_cache_bytes=2**20) as harness:
        harness.score("count", "ab", params={"plus": 1.0})
        assert harness.score("count", "ab", params={"plus": 1.0}) == [Verdict(3.0)]
        assert cached.scorer.scored == 1
        harness.score("count", "ab", params={"plus": 1.0}, cache=False)
    assert cached.scorer.scored == 2
