"""Concurrent requests coalesced into shared batches, and admission by items and bytes in flight."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from bench import openrlhf_client
from tests.conftest import app_client
from tests.verifier import plugins_for_tests
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

pytestmark = pytest.mark.anyio

PROFILES = {"tenfold": {"rewards": {"echo": 2.0}, "params": {"echo": {"scale": 10.0}}}}


def _app(**settings: Any) -> FastAPI:
    pm = create_plugin_manager(allow=["format"], plugins={"tests": plugins_for_tests})
    return create_app(Settings(profiles=PROFILES, **settings), plugin_manager=pm)


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


# Requests that differ in everything a request can set: rewards, weights, params, profile, item overrides, groups.
MIXED: list[dict[str, Any]] = [
    {"rewards": ["echo"], "items": [{"id": "a0", "completion": "1"}, {"id": "a1", "completion": "2"}]},
    {"rewards": {"echo": 3.0}, "params": {"echo": {"offset": 0.5}}, "items": [{"id": "b0", "completion": "1"}]},
    {"profile": "tenfold", "items": [{"id": "c0", "completion": "1"}, {"id": "c1", "completion": "none"}]},
    {"profile": "tenfold", "params": {"echo": {"scale": 1.0}}, "items": [{"id": "d0", "completion": "4"}]},
    {
        "rewards": ["echo", "async_length"],
        "items": [
            {"id": "e0", "completion": "12"},
            {"id": "e1", "completion": "3", "params": {"echo": {"scale": -1.0}}, "rewards": ["echo"]},
        ],
    },
    {"rewards": ["echo"], "group_size": 2, "items": [{"id": f"f{i}", "completion": str(i)} for i in range(4)]},
    {"rewards": ["echo"], "items": [{"id": "g0", "completion": "boom"}, {"id": "g1", "completion": "7"}]},
]
MIXED_ITEMS = sum(len(r["items"]) for r in MIXED)


async def _answers(client: httpx.AsyncClient, requests: list[dict[str, Any]]) -> list[httpx.Response]:
    answers: dict[int, httpx.Response] = {}

    async def send(i: int) -> None:
        answers[i] = await client.post("/v1/verify", json=requests[i])

    async with anyio.create_task_group() as tg:
        for i in range(len(requests)):
            tg.start_soon(send, i)
    return [answers[i] for i in range(len(requests))]


async def test_concurrent_requests_share_one_batch_and_each_gets_exactly_its_own_results() -> None:
    async with app_client(_app()) as client:
        alone = [(await client.post("/v1/verify", json=r)).json() for r in MIXED]
    # A long window and a batch that closes when every item is in: all of them are scored as one batch.
    app = _app(coalesce_window_ms=1000, coalesce_max_items=MIXED_ITEMS)
    async with app_client(app) as client:
        together = await _answers(client, MIXED)
        metrics = (await client.get("/metrics")).text
    assert [r.status_code for r in together] == [200] * len(MIXED)
    assert [r.json() for r in together] == alone
    assert alone[1]["results"][0]["reward"] == 3.0 * 1.5  # weight 3 x (1 + offset 0.5)
    assert alone[2]["results"][0]["scores"] == {"echo": 10.0}  # the profile's params
    assert alone[3]["results"][0]["scores"] == {"echo": 4.0}  # the request's params over the profile's
    assert alone[4]["results"][1]["scores"] == {"echo": -3.0}  # the item's own rewards and params
    assert all(r["advantage"] is not None for r in alone[5]["results"])  # its own groups
    assert all(r["advantage"] is None for r in alone[0]["results"])
    assert _metric(metrics, "verifier_batch_requests_count") == 1.0
    assert _metric(metrics, "verifier_batch_requests_sum") == len(MIXED)
    assert _metric(metrics, 'verifier_reward_seconds_count{reward="echo"}') == 1.0  # echo ran once for all


async def test_a_reward_that_raises_for_one_request_leaves_the_others_of_its_batch_scored() -> None:
    # echo raises for the whole call on a completion that is not a number: only its own request may pay for it.
    good = [{"rewards": ["echo"], "items": [{"id": f"ok{i}", "completion": str(i)}]} for i in range(6)]
    bad = {"rewards": ["echo", "async_length"], "items": [{"id": "bad", "completion": "abc"}]}
    also_bad = {"rewards": ["echo"], "items": [{"id": "also_bad", "completion": "xyz"}]}
    requests = [good[0], also_bad, *good[1:3], bad, *good[3:]]
    invalid = {"rewards": ["no_such_reward"], "items": [{"completion": "1"}]}
    app = _app(coalesce_window_ms=1000, coalesce_max_items=len(requests))
    async with app_client(app) as client:
        answers = await _answers(client, [*requests, invalid])
        metrics = (await client.get("/metrics")).text
    assert answers[-1].status_code == 400  # refused alone, before it could join the batch
    assert answers[-1].json()["error"]["type"] == "unknown_reward"
    results = [a.json()["results"] for a in answers[:-1]]
    scored = [r[0] for r in results if r[0]["id"].startswith("ok")]
    assert [r["scores"]["echo"] for r in scored] == [float(i) for i in range(6)]
    assert all(not r["errors"] for r in scored)
    failed = {r[0]["id"]: r[0] for r in results if not r[0]["id"].startswith("ok")}
    assert failed["bad"]["scores"] == {"echo": None, "async_length": 3.0}  # its other reward still scored
    assert "ValueError" in failed["bad"]["errors"]["echo"] and failed["bad"]["reward"] == 3.0
    assert failed["also_bad"]["scores"] == {"echo": None} and failed["also_bad"]["reward"] is None
    assert _metric(metrics, "verifier_batch_requests_count") == 1.0


async def test_an_overloaded_request_gets_429_with_retry_after_naming_the_bound() -> None:
    slow = {"rewards": ["slow"], "items": [{"completion": "x"}] * 3}
    async with app_client(_app(max_items_in_flight=4)) as client:
        first, second = await _answers(client, [slow, slow])
        assert sorted([first.status_code, second.status_code]) == [200, 429]
        refused = first if first.status_code == 429 else second
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"] == {
            "type": "overloaded",
            "message": "3 items in flight are already being scored and this request brings 3 (at most 4); "
            "retry later",
            "details": {"limit": "items in flight", "value": 6, "maximum": 4, "retry_after": 1},
        }
        assert (await client.post("/v1/verify", json=slow)).status_code == 200  # the bound is released


async def test_bytes_in_flight_are_bounded_by_the_declared_length_before_the_body_is_read() -> None:
    padded = {"rewards": ["slow"], "items": [{"completion": "x" * 600}]}
    async with app_client(_app(max_bytes_in_flight=1024)) as client:
        first, second = await _answers(client, [padded, padded])
        refused = first if first.status_code == 429 else second
        assert sorted([first.status_code, second.status_code]) == [200, 429]
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["details"]["limit"] == "bytes in flight"
        text = (await client.get("/metrics")).text
    assert _metric(text, "verifier_bytes_in_flight") == 0.0 and _metric(text, "verifier_items_in_flight") == 0.0


async def test_a_request_that_could_never_fit_gets_413_without_retry_after() -> None:
    many = {"rewards": ["echo"], "items": [{"completion": "1"}] * 5}
    large = {"rewards": ["echo"], "items": [{"completion": "1" * 2000}]}

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        body = httpx.Request("POST", "/", json=large).content
        for at in range(0, len(body), 256):
            yield body[at : at + 256]

    async with app_client(_app(max_items_in_flight=4, max_bytes_in_flight=1024)) as client:
        for response in (
            await client.post("/v1/verify", json=many),
            await client.post("/v1/verify", json=large),
            await client.post("/v1/verify", content=chunked(), headers={"content-type": "application/json"}),
            await client.post("/v1/openrlhf?rewards=echo", json={"query": ["1"] * 5}),
        ):
            assert response.status_code == 413
            assert "retry-after" not in response.headers
            error = response.json()["error"]
            assert error["type"] == "limit_exceeded"
            assert error["details"]["limit"] in {"items in flight", "bytes in flight"}
            assert error["details"]["value"] > error["details"]["maximum"]


@pytest.mark.slow
async def test_an_openrlhf_burst_of_single_sample_requests_through_uvicorn_loses_no_sample(
    live_server: Callable[[FastAPI], str],
) -> None:
    # Each reward call costs a second (the slow reward). Admitted by request count (8 scored + 32 queued, as
    # before) most of the burst was refused, and scored one request a call it needs 32 s, far past the 5 tries
    # 1 s apart that OpenRLHF's client makes. Admitted by items and coalesced, it is a few calls.
    url = live_server(_app(openrlhf_rewards={"slow": 1.0, "echo": 1.0}))
    tally = openrlhf_client.Tally()
    answers: dict[int, dict[str, Any] | None] = {}

    async def sample(i: int) -> None:
        answers[i] = await openrlhf_client.reward(f"{url}/v1/openrlhf", f"Q{i} {i}", f"Q{i} ", None, tally)

    async with anyio.create_task_group() as tg:
        for i in range(256):
            tg.start_soon(sample, i)
    assert tally.lost == 0 and tally.statuses == {200: 256}
    for i in range(256):
        answer = answers[i]
        assert answer is not None
        assert answer["rewards"] == [1.0 + i]  # each sample's own reward (slow 1.0 + echo i)
        assert answer["extra_logs"]["echo"] == [float(i)]
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{url}/metrics")).text
    assert _metric(metrics, "verifier_batch_requests_sum") == 256
    assert _metric(metrics, "verifier_batch_requests_count") < 256  # requests shared batches


async def test_every_request_counts_as_an_item_so_a_flood_of_empty_ones_is_bounded_too() -> None:
    app = _app(max_items_in_flight=1)
    empty = {"query": []}
    async with app_client(app) as client:
        assert (await client.post("/v1/openrlhf?rewards=echo", json=empty)).json()["rewards"] == []
        with app.state.admission.admit(None):  # another request's item in flight
            refused = await client.post("/v1/openrlhf?rewards=echo", json=empty)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["details"]["limit"] == "items in flight"
        assert (await client.post("/v1/openrlhf?rewards=echo", json=empty)).status_code == 200


async def test_openrlhf_query_parameters_are_validated_with_the_one_error_shape() -> None:
    async with app_client(_app()) as client:
        response = await client.post("/v1/openrlhf?rewards=echo&on_unscored=maybe", json={"query": ["1"]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and error["details"]["errors"][0]["loc"] == ["query", "on_unscored"]
