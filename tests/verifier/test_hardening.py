"""Auth, limits, backpressure, metrics, request ids and logs."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY, Counter

from tests.conftest import app_client
from tests.system import needs_bwrap
from tests.verifier import plugins_for_tests
from verifier.errors import ExposureError, ShuttingDownError
from verifier.http import create_app
from verifier.http.admission import Admission
from verifier.http.logs import JsonFormatter, request_id
from verifier.local import local_verifier
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

pytestmark = pytest.mark.anyio
ECHO = {"rewards": ["echo"], "items": [{"completion": "1"}]}


def _app(**settings: Any) -> FastAPI:
    pm = create_plugin_manager(allow=["format"], plugins={"tests": plugins_for_tests})
    return create_app(Settings(**settings), plugin_manager=pm)


async def test_without_keys_on_loopback_the_api_is_open() -> None:
    async with app_client(_app()) as client:
        assert (await client.post("/v1/verify", json=ECHO)).status_code == 200


async def test_with_keys_every_api_route_needs_a_bearer_token() -> None:
    hashed = "sha256:" + hashlib.sha256(b"second-key").hexdigest()
    async with app_client(_app(api_keys=["first-key", hashed])) as client:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic first-key"}):
            response = await client.post("/v1/verify", json=ECHO, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["type"] == "unauthorized"
            assert "first-key" not in response.text
            assert (await client.get("/v1/rewards", headers=headers)).status_code == 401
            assert (await client.get("/metrics", headers=headers)).status_code == 401
        for key in ("first-key", "second-key"):
            ok = await client.post("/v1/verify", json=ECHO, headers={"authorization": f"Bearer {key}"})
            assert ok.status_code == 200
        # probes stay open for orchestrators
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200


def test_refuses_a_network_address_without_keys_unless_told_to_run_open() -> None:
    with pytest.raises(ExposureError, match=r"0\.0\.0\.0"):
        _app(host="0.0.0.0")
    _app(host="0.0.0.0", api_keys=["k"])
    _app(host="0.0.0.0", allow_open=True)
    _app(host="::1")
    _app(host="localhost")


async def test_completion_over_the_length_limit_is_413_naming_the_limit() -> None:
    async with app_client(_app(max_completion_chars=10)) as client:
        response = await client.post(
            "/v1/verify", json={"rewards": ["echo"], "items": [{"completion": "1"}, {"completion": "1" * 11}]}
        )
    assert response.status_code == 413
    assert response.json()["error"]["details"] == {
        "limit": "completion characters",
        "value": 11,
        "maximum": 10,
    }


async def test_items_past_the_in_flight_bound_answer_429_with_retry_after_and_recover() -> None:
    slow = {"rewards": ["slow"], "items": [{"completion": "x"}]}
    async with app_client(_app(max_items_in_flight=2)) as client:
        responses: list[httpx.Response] = []

        async def send() -> None:
            responses.append(await client.post("/v1/verify", json=slow))

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(send)
        assert sorted(r.status_code for r in responses) == [200, 200, 429, 429]  # two items in flight, two refused
        refused = [r for r in responses if r.status_code == 429]
        assert all(r.headers.get("retry-after") == "1" for r in refused)
        assert refused[0].json()["error"]["type"] == "overloaded"
        assert refused[0].json()["error"]["details"] == {
            "limit": "items in flight", "value": 3, "maximum": 2, "retry_after": 1,
        }  # fmt: skip
        after = await client.post("/v1/verify", json=ECHO)
        assert after.status_code == 200


async def test_a_draining_server_refuses_new_batches_with_503() -> None:
    admission = Admission(max_items=1, max_bytes=1024)
    admission.draining = True
    with pytest.raises(ShuttingDownError), admission.admit(10):
        pass


async def test_a_draining_server_is_not_ready_and_refuses_batches_with_503() -> None:
    app = _app()
    async with app_client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        app.state.admission.draining = True
        ready = await client.get("/readyz")
        refused = await client.post("/v1/verify", json=ECHO)
        text = (await client.get("/metrics")).text
    assert ready.status_code == 503 and ready.json()["status"] == "down"
    assert refused.status_code == 503 and refused.json()["error"]["type"] == "shutting_down"
    assert "verifier_draining 1.0" in text


async def test_metrics_count_requests_and_reward_outcomes() -> None:
    async with app_client(_app()) as client:
        await client.post(
            "/v1/verify", json={"rewards": ["echo", "explode"], "items": [{"completion": "2"}] * 3}
        )
        text = (await client.get("/metrics")).text
    assert 'verifier_http_requests_total{method="POST",route="/v1/verify",status="200"} 1.0' in text
    assert 'verifier_reward_items_total{reward="echo"} 3.0' in text
    assert 'verifier_reward_errors_total{reward="explode"} 3.0' in text
    assert 'verifier_reward_seconds_count{reward="echo"} 1.0' in text
    assert "verifier_batches_active 0.0" in text and "verifier_batches_waiting 0.0" in text
    assert "verifier_items_in_flight 0.0" in text and "verifier_bytes_in_flight 0.0" in text
    assert "verifier_batch_requests_count 1.0" in text  # the one request, scored as one batch


async def test_metrics_show_limits_reward_health_process_and_plugin_metrics() -> None:
    # A plugin publishes its own metrics on prometheus_client's default registry; /metrics serves them too.
    plugin_counter = Counter("verifier_testplugin_sandbox_runs", "runs by status", ["status"])
    try:
        plugin_counter.labels("ok").inc(3)
        app = _app(max_concurrent_batches=3, max_items_in_flight=500, max_bytes_in_flight=2**20)
        async with app_client(app) as client:
            text = (await client.get("/metrics")).text
    finally:
        REGISTRY.unregister(plugin_counter)
    assert "verifier_batches_limit 3.0" in text
    assert 'verifier_in_flight_limit{kind="items"} 500.0' in text
    assert 'verifier_in_flight_limit{kind="bytes"} 1.048576e+06' in text
    assert "verifier_draining 0.0" in text
    assert 'verifier_reward_health{reward="lifecycle",state="ok"} 1.0' in text
    assert 'verifier_reward_health{reward="lifecycle",state="down"} 0.0' in text
    assert 'verifier_testplugin_sandbox_runs_total{status="ok"} 3.0' in text
    assert "process_resident_memory_bytes" in text


async def test_request_id_is_echoed_or_made_up() -> None:
    async with app_client(_app()) as client:
        given = await client.get("/healthz", headers={"x-request-id": "trainer-42.step-7"})
        made = await client.get("/healthz")
        hostile = await client.get("/healthz", headers={"x-request-id": "a b\nc" * 100})
    assert given.headers["x-request-id"] == "trainer-42.step-7"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "a b\nc" * 100


async def test_access_log_carries_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="verifier.access"):
        async with app_client(_app()) as client:
            await client.post("/v1/verify", json=ECHO, headers={"x-request-id": "rid-1"})
    record = next(r for r in caplog.records if r.name == "verifier.access")
    assert record.status == 200 and record.path == "/v1/verify"  # type: ignore[attr-defined]
    line = json.loads(JsonFormatter().format(record))
    assert line["status"] == 200 and line["method"] == "POST" and "duration_ms" in line


def test_json_log_lines_include_the_current_request_id() -> None:
    token = request_id.set("abc123")
    try:
        record = logging.LogRecord("verifier.x", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "hello world" and line["request_id"] == "abc123" and line["level"] == "warning"


ENV_SCANNER = """
import glob, os
needle = input().strip()
sources = [repr(dict(os.environ))]
for path in glob.glob("/proc/*/environ"):
    try:
        sources.append(open(path, "rb").read().decode("latin-1"))
    except OSError:
        pass
print("FOUND" if any(needle in s for s in sources) else "CLEAN", "/proc/1/environ" in glob.glob("/proc/*/environ"))
"""


@pytest.mark.slow
@needs_bwrap
def test_sandboxed_code_sees_no_service_environment() -> None:
    """A program run by the ``code`` reward (default isolation) finds neither the API key nor any other service
    variable in its own environment or in any /proc/*/environ it can read, including /proc/1/environ."""
    secret, marker = "key-" + "9f3a" * 8, "service-only-" + "c0de" * 4
    env = {"VERIFIER_API_KEYS": json.dumps([secret]), "VERIFIER_PLUGINS_ALLOW": '["code"]', "R1_MARKER": marker}
    # The last needle is in the sandbox's own environment: it shows the scan does find what is there.
    needles = {secret: "CLEAN", marker: "CLEAN", "R1_MARKER": "CLEAN", "PATH=": "FOUND"}
    items = [
        {"id": n, "completion": ENV_SCANNER, "reference": {"tests": [{"input": n + "\n", "output": f"{v} True\n"}]}}
        for n, v in needles.items()
    ]
    with local_verifier(env=env) as verifier:
        response = httpx.post(
            f"{verifier.url}/v1/verify",
            json={"rewards": ["code"], "items": items},
            headers={"authorization": f"Bearer {secret}"},
            timeout=120,
        )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == list(needles)
    assert [r["scores"]["code"] for r in results] == [1.0] * len(needles), [r["details"] for r in results]
