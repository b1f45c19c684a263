"""The HTTP API in-process (ASGI transport, lifespan entered): shapes, statuses, limits."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import app_client
from tests.verifier import plugins_for_tests
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

pytestmark = pytest.mark.anyio


def _app(**settings: Any) -> FastAPI:
    pm = create_plugin_manager(allow=["format"], plugins={"tests": plugins_for_tests})
    return create_app(Settings(**settings), plugin_manager=pm)


def _assert_error_shape(body: dict[str, Any], type_: str) -> dict[str, Any]:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "details"}
    assert body["error"]["type"] == type_
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


async def test_verify_scores_a_batch_in_order() -> None:
    async with app_client(_app()) as client:
        response = await client.post(
            "/v1/verify",
            json={
                "rewards": ["echo", "format"],
                "items": [
                    {"id": 1, "completion": "<think>x</think>2", "rewards": ["format"]},
                    {"id": "b", "completion": [{"role": "assistant", "content": "3"}]},
                ],
            },
        )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == [1, "b"]
    assert results[0]["scores"] == {"format": 1.0}
    assert results[1]["scores"] == {"echo": 3.0, "format": 0.0}
    assert results[1]["details"]["format"] == {"reason": "missing_reasoning_open_tag"}


async def test_a_plugin_failure_is_null_plus_error_not_a_failed_batch() -> None:
    async with app_client(_app()) as client:
        response = await client.post(
            "/v1/verify",
            json={"rewards": ["explode", "echo"], "items": [{"completion": "1"}, {"completion": "2"}]},
        )
    assert response.status_code == 200
    for result in response.json()["results"]:
        assert result["scores"]["explode"] is None
        assert "the pool is gone" in result["errors"]["explode"]
        assert result["scores"]["echo"] is not None


async def test_unknown_reward_is_400_listing_the_available_ones() -> None:
    async with app_client(_app()) as client:
        response = await client.post("/v1/verify", json={"rewards": ["nope"], "items": [{"completion": "1"}]})
    assert response.status_code == 400
    error = _assert_error_shape(response.json(), "unknown_reward")
    assert "echo" in error["details"]["available"] and "format" in error["details"]["available"]
    assert "nope" in error["message"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"rewards": ["echo"], "items": [{"completion": "1"}, {"prompt": "p"}]}, ["items", 1, "completion"]),
        ({"rewards": ["echo"], "items": [{"completion": 5}]}, ["items", 0, "completion", "str"]),
        ({"rewards": ["echo"], "items": "nope"}, ["items"]),
        ({"rewards": {"echo": "heavy"}, "items": [{"completion": "1"}]}, ["rewards", "list[str]"]),
        ({"rewards": ["echo"], "items": [{"completion": "1", "extra": 1}]}, ["items", 0, "extra"]),
        (
            {"rewards": ["echo"], "params": {"echo": {"scale": "x"}}, "items": [{"completion": "1"}]},
            ["params", "echo", "scale"],
        ),
        ({"rewards": ["echo"], "group_size": 0, "items": [{"completion": "1"}]}, ["group_size"]),
    ],
)
async def test_malformed_body_is_422_with_the_field_path(body: dict[str, Any], loc: list[Any]) -> None:
    async with app_client(_app()) as client:
        response = await client.post("/v1/verify", json=body)
    assert response.status_code == 422
    error = _assert_error_shape(response.json(), "invalid_request")
    assert loc in [e["loc"] for e in error["details"]["errors"]]


async def test_invalid_json_is_422() -> None:
    async with app_client(_app()) as client:
        response = await client.post(
            "/v1/verify", content=b'{"items": [', headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert (
        _assert_error_shape(response.json(), "invalid_request")["details"]["errors"][0]["type"]
        == "json_invalid"
    )


async def test_batch_over_the_item_limit_is_413_naming_the_limit() -> None:
    async with app_client(_app(max_batch_items=2)) as client:
        response = await client.post(
            "/v1/verify", json={"rewards": ["echo"], "items": [{"completion": "1"}] * 3}
        )
    assert response.status_code == 413
    error = _assert_error_shape(response.json(), "limit_exceeded")
    assert error["details"] == {"limit": "items per batch", "value": 3, "maximum": 2}


async def test_body_over_the_byte_limit_is_413_naming_the_limit() -> None:
    async with app_client(_app(max_request_bytes=2048)) as client:
        response = await client.post(
            "/v1/verify", json={"rewards": ["echo"], "items": [{"completion": "1" * 4096}]}
        )
    assert response.status_code == 413
    error = _assert_error_shape(response.json(), "limit_exceeded")
    assert error["details"]["limit"] == "request bytes" and error["details"]["maximum"] == 2048


async def test_unknown_route_and_wrong_method_use_the_same_error_shape() -> None:
    async with app_client(_app()) as client:
        missing = await client.get("/v2/verify")
        wrong = await client.get("/v1/verify")
    assert missing.status_code == 404
    _assert_error_shape(missing.json(), "not_found")
    assert wrong.status_code == 405
    _assert_error_shape(wrong.json(), "method_not_allowed")


async def test_rewards_lists_plugin_version_description_and_params_schema() -> None:
    async with app_client(_app()) as client:
        response = await client.get("/v1/rewards")
    assert response.status_code == 200
    rewards = {r["name"]: r for r in response.json()["rewards"]}
    assert rewards["echo"]["plugin"] == "tests"
    assert rewards["echo"]["description"] == "the number in the completion"
    assert rewards["echo"]["params_schema"]["properties"]["scale"]["default"] == 1.0
    assert rewards["format"]["plugin"] == "format" and rewards["format"]["version"] == "0.1.0"


async def test_readyz_reports_reward_health_and_is_503_while_one_is_down() -> None:
    plugins_for_tests.lifecycle.status = "ok"
    try:
        async with app_client(_app()) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok", "rewards": {}}
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["rewards"]["lifecycle"] == {"status": "ok", "message": "status is ok"}
            plugins_for_tests.lifecycle.status = "degraded"
            degraded = await client.get("/readyz")
            assert degraded.status_code == 200 and degraded.json()["status"] == "degraded"
            plugins_for_tests.lifecycle.status = "down"
            down = await client.get("/readyz")
            assert down.status_code == 503 and down.json()["status"] == "down"
    finally:
        plugins_for_tests.lifecycle.status = "ok"


async def test_reward_lifespans_are_entered_at_startup_and_exited_at_shutdown() -> None:
    events = plugins_for_tests.lifecycle.events
    events.clear()
    app = _app()
    async with app_client(app):
        assert events == ["start"]
    assert events == ["start", "stop"]


async def test_before_startup_the_api_answers_503_not_ready() -> None:
    app = _app()
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post("/v1/verify", json={"rewards": ["echo"], "items": [{"completion": "1"}]})
        ready = await client.get("/readyz")
    assert response.status_code == 503
    _assert_error_shape(response.json(), "not_ready")
    assert ready.status_code == 503


async def test_openapi_documents_the_verify_request_body() -> None:
    async with app_client(_app()) as client:
        schema = (await client.get("/openapi.json")).json()
    body = schema["paths"]["/v1/verify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/VerifyRequest"}
    components = schema["components"]["schemas"]
    assert {"VerifyRequest", "Item", "VerifyResponse", "ItemResult", "ErrorResponse"} <= set(components)
    assert "items" in components["VerifyRequest"]["required"]
