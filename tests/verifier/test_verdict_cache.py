"""The verdict cache: reuse of deterministic rewards' verdicts, its keys, its bound, its switches, its metrics."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict

from verifier import PluginConfig, Reward, RewardItem, Score, hookimpl
from verifier.client import VerifierClient
from verifier.http.app import create_app
from verifier.registry import RewardRegistry, create_plugin_manager
from verifier.schemas import VerifyRequest
from verifier.scoring import BatchScorer, ScoredBatch, ScoreRequest
from verifier.settings import Settings
from verifier.types import NoParams
from verifier.verdict_cache import VerdictCache, reward_identity, shared_cache, verdict_key
from verifier.wire import score_request

pytestmark = pytest.mark.anyio


class ScaleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = 1.0


class Recorder:
    """A reward that records every completion it was asked to score (so a test sees what the cache spared)."""

    def __init__(self, verdict: Callable[[RewardItem], Score]) -> None:
        self.verdict = verdict
        self.seen: list[str] = []

    def __call__(self, items: Sequence[RewardItem]) -> list[Score]:
        assert [item.index for item in items] == list(range(len(items)))  # renumbered for the reward
        self.seen += [item.completion_text for item in items]
        return [self.verdict(item) for item in items]


def _matches(item: RewardItem) -> Score:
    scale = item.params.scale if isinstance(item.params, ScaleParams) else 1.0
    return Score(scale * float(item.completion_text == item.reference), {"said": item.completion_text})


class Flaky:
    """Deterministic when it works; while ``down`` it answers as a reward whose sandbox is unreachable."""

    def __init__(self) -> None:
        self.down = True
        self.seen = 0

    def __call__(self, items: Sequence[RewardItem]) -> list[Score]:
        self.seen += len(items)
        if self.down:
            return [Score(None, {}, "sandbox unavailable: connection refused") for _ in items]
        return [Score(1.0) for _ in items]


class Plugin:
    """One plugin object per test: fresh recorders, and a version the test chooses."""

    def __init__(self, version: str = "1.0") -> None:
        self.__name__ = f"cache_test_plugin_{version.replace('.', '_')}"  # not an installed distribution
        self.__version__ = version
        self.matches = Recorder(_matches)
        self.undeclared = Recorder(_matches)
        self.flaky = Flaky()
        self.raising = Recorder(_matches)
        self.timed_out = Recorder(lambda item: Score(0.0, {"reason": "timeout"}, cacheable=False))
        self.numbers = Recorder(lambda item: Score(float(item.reference) * 100 + (item.completion_tokens or 0)))

    @hookimpl
    def register_rewards(self, config: PluginConfig) -> list[Reward]:
        def explode(items: Sequence[RewardItem]) -> list[Score]:
            self.raising(items)
            raise RuntimeError("the pool is gone")

        return [
            Reward(name="matches", description="d", score=self.matches, params=ScaleParams, deterministic=True),
            Reward(name="undeclared", description="d", score=self.undeclared, params=ScaleParams),
            Reward(name="flaky", description="d", score=self.flaky, deterministic=True),
            Reward(name="raising", description="d", score=explode, deterministic=True),
            Reward(name="timed_out", description="d", score=self.timed_out, deterministic=True),
            Reward(name="numbers", description="d", score=self.numbers, deterministic=True),
        ]


def _registry(plugin: Plugin, options: dict[str, Any] | None = None) -> RewardRegistry:
    pm = create_plugin_manager(load_entrypoints=False, plugins={"cachetest": plugin})
    return RewardRegistry.from_plugin_manager(pm, {"cachetest": options} if options is not None else None)


def _request(items: list[dict[str, Any]], rewards: list[str] | None = None, **fields: Any) -> ScoreRequest:
    return score_request(VerifyRequest.model_validate({"rewards": rewards or ["matches"], "items": items, **fields}))


def _dump(response: ScoredBatch) -> list[dict[str, Any]]:
    return [dataclasses.asdict(result) for result in response.results]


GROUP = [{"completion": c, "reference": "42"} for c in ["42", "41", "42", "42", "7", "41", "42", "7"]]


async def test_a_repeated_batch_is_served_from_the_cache_with_identical_results() -> None:
    plugin = Plugin()
    cache = VerdictCache(2**20)
    scorer = BatchScorer(_registry(plugin), cache=cache)
    first = await scorer.score(_request(GROUP))
    assert sorted(plugin.matches.seen) == ["41", "42", "7"]  # the group's duplicates were scored once
    second = await scorer.score(_request(GROUP))
    assert sorted(plugin.matches.seen) == ["41", "42", "7"]  # nothing new reached the reward
    uncached = await BatchScorer(_registry(Plugin())).score(_request(GROUP))
    assert _dump(first) == _dump(second) == _dump(uncached)
    assert [r.scores["matches"] for r in second.results] == [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    stats = cache.stats()
    assert stats.lookups == {"matches": [5 + 8, 3]}  # 5 duplicates in the first batch, all 8 in the second
    assert stats.entries == 3 and stats.bytes > 0


async def test_the_request_switch_scores_every_item_afresh_and_stores_nothing() -> None:
    plugin = Plugin()
    cache = VerdictCache(2**20)
    scorer = BatchScorer(_registry(plugin), cache=cache)
    await scorer.score(_request(GROUP, cache=False))
    assert len(plugin.matches.seen) == len(GROUP) and len(cache) == 0
    await scorer.score(_request(GROUP))
    await scorer.score(_request(GROUP, cache=False))  # a stored verdict is not read either
    assert len(plugin.matches.seen) == 2 * len(GROUP) + 3


async def test_a_reward_that_does_not_declare_itself_deterministic_is_never_cached() -> None:
    plugin = Plugin()
    cache = VerdictCache(2**20)
    scorer = BatchScorer(_registry(plugin), cache=cache)
    for _ in range(2):
        await scorer.score(_request(GROUP, rewards=["undeclared"]))
    assert len(plugin.undeclared.seen) == 2 * len(GROUP) and len(cache) == 0 and cache.stats().lookups == {}


async def test_infrastructure_failures_and_uncacheable_verdicts_are_scored_again() -> None:
    plugin = Plugin()
    cache = VerdictCache(2**20)
    scorer = BatchScorer(_registry(plugin), cache=cache)
    items = [{"completion": "42", "reference": "42"}]
    down = await scorer.score(_request(items, rewards=["flaky", "raising", "timed_out"]))
    assert down.results[0].scores == {"flaky": None, "raising": None, "timed_out": 0.0}
    assert set(down.results[0].errors) == {"flaky", "raising"}
    plugin.flaky.down = False  # the sandbox is back: the item must be scored, not answered with the old null
    up = await scorer.score(_request(items, rewards=["flaky", "raising", "timed_out"]))
    assert up.results[0].scores["flaky"] == 1.0
    assert (plugin.flaky.seen, len(plugin.raising.seen), len(plugin.timed_out.seen)) == (2, 2, 2)
    assert len(cache) == 1  # flaky's success only
    await scorer.score(_request(items, rewards=["flaky"]))
    assert plugin.flaky.seen == 2


async def test_a_cached_verdict_is_never_served_to_a_crafted_item_that_collides_on_a_naive_key() -> None:
    plugin = Plugin()
    scorer = BatchScorer(_registry(plugin), cache=VerdictCache(2**20))
    await scorer.score(_request([{"completion": "42", "reference": "42"}]))
    # completion + reference concatenate to the same "4242" (and "42|42" with a separator inside a field).
    crafted = [
        {"completion": "424", "reference": "2"},
        {"completion": "4", "reference": "242"},
        {"completion": "42|", "reference": "42"},
        {"completion": [{"role": "assistant", "content": "42"}], "reference": "42"},  # chat, not text
    ]
    response = await scorer.score(_request(crafted))
    assert [r.scores["matches"] for r in response.results] == [0.0, 0.0, 0.0, 1.0]
    assert plugin.matches.seen == ["42", "424", "4", "42|", "42"]  # every crafted item reached the reward
    # Neighbouring fields whose encodings run together: reference 1 then 23 tokens, reference 12 then 3.
    await scorer.score(_request([{"completion": "x", "reference": 1, "completion_tokens": 23}], ["numbers"]))
    crafted_numbers = [{"completion": "x", "reference": 12, "completion_tokens": 3}]
    response = await scorer.score(_request(crafted_numbers, ["numbers"]))
    assert response.results[0].scores["numbers"] == 1203.0 and len(plugin.numbers.seen) == 2


def test_the_key_changes_with_every_field_that_can_change_a_verdict() -> None:
    identity = reward_identity("matches", "cachetest", "1.0", {})
    assert identity is not None
    base = RewardItem(index=0, completion="42", params=ScaleParams(), reference="42", prompt="p")
    variants = [
        base,
        RewardItem(index=0, completion="42", params=ScaleParams(scale=2.0), reference="42", prompt="p"),
        RewardItem(index=0, completion="42", params=ScaleParams(), reference="43", prompt="p"),
        RewardItem(index=0, completion="42", params=ScaleParams(), reference=42, prompt="p"),
        RewardItem(index=0, completion="42", params=ScaleParams(), reference=["42"], prompt="p"),
        RewardItem(index=0, completion="43", params=ScaleParams(), reference="42", prompt="p"),
        RewardItem(
            index=0,
            completion=[{"role": "assistant", "content": "42"}],
            params=ScaleParams(),
            reference="42",
            prompt="p",
        ),
        RewardItem(index=0, completion="42", params=ScaleParams(), reference="42", prompt="q"),
        RewardItem(index=0, completion="42", params=ScaleParams(), reference="42", prompt=None),
        RewardItem(index=0, completion="42", params=ScaleParams(), reference="42", prompt="p", completion_tokens=9),
        RewardItem(index=0, completion="42", params=NoParams(), reference="42", prompt="p"),
    ]
    keys = [verdict_key(identity, item, reads_scores=False) for item in variants]
    assert None not in keys and len(set(keys)) == len(keys)
    identities = {
        identity,
        reward_identity("matches", "cachetest", "1.1", {}),
        reward_identity("matches", "cachetest", "1.0", {"detector": "langdetect"}),
        reward_identity("matches", "other", "1.0", {}),
        reward_identity("matchez", "cachetest", "1.0", {}),
    }
    assert len(identities) == 5
    assert verdict_key(identity, base, False) == verdict_key(
        identity,
        RewardItem(index=7, id="other id", completion="42", params=ScaleParams(), reference="42", prompt="p"),
        False,
    )
    scored = RewardItem(index=0, completion="42", params=ScaleParams(), reference="42", prompt="p", scores={"m": 1.0})
    assert verdict_key(identity, scored, reads_scores=True) != verdict_key(identity, base, reads_scores=True)
    assert verdict_key(identity, scored, reads_scores=False) == verdict_key(identity, base, reads_scores=False)


async def test_a_new_plugin_version_or_other_options_do_not_reuse_the_old_verdicts() -> None:
    cache = VerdictCache(2**20)
    old, new = Plugin("1.0"), Plugin("1.1")
    await BatchScorer(_registry(old), cache=cache).score(_request(GROUP))
    response = await BatchScorer(_registry(new), cache=cache).score(_request(GROUP))
    assert sorted(new.matches.seen) == ["41", "42", "7"]
    assert {r.versions["matches"] for r in response.results} == {"1.1"}
    configured = Plugin("1.0")
    await BatchScorer(_registry(configured, {"strict": True}), cache=cache).score(_request(GROUP))
    assert sorted(configured.matches.seen) == ["41", "42", "7"]
    again = Plugin("1.0")
    await BatchScorer(_registry(again), cache=cache).score(_request(GROUP))
    assert again.matches.seen == []  # same name, version and options: the first plugin's verdicts


async def test_request_params_are_part_of_the_key() -> None:
    plugin = Plugin()
    scorer = BatchScorer(_registry(plugin), cache=VerdictCache(2**20))
    items = [{"completion": "42", "reference": "42"}]
    await scorer.score(_request(items))
    doubled = await scorer.score(_request(items, params={"matches": {"scale": 2.0}}))
    assert doubled.results[0].scores["matches"] == 2.0 and plugin.matches.seen == ["42", "42"]


def test_the_byte_bound_evicts_the_least_recently_used() -> None:
    one = VerdictCache(10**6)
    one.put(b"k" * 32, Score(1.0, {"said": "x" * 100}))
    entry = one.stats().bytes
    cache = VerdictCache(3 * entry)
    for n in range(3):
        assert cache.put(bytes([n]) * 32, Score(1.0, {"said": "x" * 100}))
    assert cache.get("r", bytes([0]) * 32) is not None  # 0 is now the most recently used
    cache.put(bytes([3]) * 32, Score(1.0, {"said": "x" * 100}))
    stats = cache.stats()
    assert stats.bytes <= 3 * entry and stats.entries == 3 and stats.evictions == 1
    assert cache.get("r", bytes([1]) * 32) is None  # the least recently used went first
    assert all(cache.get("r", bytes([n]) * 32) is not None for n in (0, 2, 3))
    assert not cache.put(b"big" * 11, Score(1.0, {"said": "x" * 10_000}))  # larger than the whole bound
    assert cache.stats().bytes <= 3 * entry


def test_a_hit_returns_the_stored_verdict_and_not_an_alias_of_it() -> None:
    cache = VerdictCache(2**20)
    details = {"tests": [{"status": "passed"}], "n": 3}
    cache.put(b"k" * 32, Score(0.5, details))
    details["n"] = 4  # the caller's dict changing later does not change what was stored
    hit = cache.get("r", b"k" * 32)
    assert hit == Score(0.5, {"tests": [{"status": "passed"}], "n": 3})


def test_the_process_shares_one_cache_and_zero_bytes_turns_it_off() -> None:
    assert shared_cache(0) is None
    first = shared_cache(2**20)
    assert first is not None and shared_cache(2**20) is first


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_metrics_show_hits_misses_bytes_and_the_bound(live_server: Callable[[FastAPI], str]) -> None:
    plugin = Plugin()
    pm = create_plugin_manager(load_entrypoints=False, plugins={"cachetest": plugin})
    url = live_server(create_app(Settings(verdict_cache_bytes=2**22, log_level="warning"), plugin_manager=pm))
    cache = shared_cache(2**22)
    assert cache is not None
    cache.clear()
    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    before = {
        r: _sample(metrics, "verifier_verdict_cache_lookups_total", reward="matches", result=r) for r in ("hit", "miss")
    }
    body = {"rewards": ["matches"], "items": GROUP}
    for _ in range(2):
        response = httpx.post(f"{url}/v1/verify", json=body, timeout=30)
        assert response.status_code == 200
        assert [r["versions"] for r in response.json()["results"]] == [{"matches": "1.0"}] * len(GROUP)
    off = httpx.post(f"{url}/v1/verify", json={**body, "cache": False}, timeout=30)
    assert off.status_code == 200 and json.loads(off.text)["results"] == response.json()["results"]
    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    hits = _sample(metrics, "verifier_verdict_cache_lookups_total", reward="matches", result="hit") - before["hit"]
    misses = _sample(metrics, "verifier_verdict_cache_lookups_total", reward="matches", result="miss") - before["miss"]
    assert (hits, misses) == (5 + 8, 3)
    assert _sample(metrics, "verifier_verdict_cache_entries") == 3
    assert _sample(metrics, "verifier_verdict_cache_bytes") == cache.stats().bytes > 0
    assert _sample(metrics, "verifier_verdict_cache_max_bytes") == 2**22
    assert "verifier_verdict_cache_evictions_total" in metrics
    assert len(plugin.matches.seen) == 3 + len(GROUP)  # the cache=false request scored everything
    with VerifierClient(url) as client:
        before_client = len(plugin.matches.seen)
        client.verify(GROUP, rewards=["matches"], cache=False)
        client.verify(GROUP, rewards=["matches"])
        assert len(plugin.matches.seen) - before_client == len(GROUP)  # the first scored all, the second none
    listed = {r["name"]: r["deterministic"] for r in httpx.get(f"{url}/v1/rewards", timeout=30).json()["rewards"]}
    assert listed["matches"] is True and listed["undeclared"] is False


def test_the_builtin_rule_rewards_declare_themselves_deterministic_and_the_judge_does_not() -> None:
    pm = create_plugin_manager(allow=["format", "math", "code", "language", "judge"])
    registry = RewardRegistry.from_plugin_manager(pm)
    deterministic = {entry.name for entry in registry if entry.reward.deterministic}
    assert deterministic == {
        "format",
        "tag_count",
        "soft_overlong",
        "cosine_length",
        "math",
        "code",
        "language",
        "readability",
    }
    assert all(not entry.reward.deterministic for entry in registry if entry.plugin.name == "judge")
