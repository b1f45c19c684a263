"""A live verifier (real uvicorn) whose ``code`` reward uses the docker backend: ``/readyz`` says when the
image is missing and items get null + error; with the image it scores and leaves no container behind."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI

from tests.conftest import serve_in_thread
from tests.sandbox.docker_support import containers_of
from tests.system import require_docker
from verifier.client import VerifierClient
from verifier.http.app import create_app
from verifier.settings import Settings

pytestmark = pytest.mark.docker

ADD_STDIO = {"tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "10 -4\n", "output": "6"}]}
DOCKER = {"warm_containers": 1, "max_containers": 3}


def fenced(code: str) -> str:
    return f"```python\n{code}\n```\n"


def test_readyz_of_a_live_verifier_reports_a_missing_image(live_server: Callable[[FastAPI], str]) -> None:
    require_docker()
    settings = Settings(
        plugins_allow=["code"],
        plugin_options={"code": {"backend": "docker", "docker": {"image": "r1-verifier/no-such-image:never"}}},
    )
    client = VerifierClient(live_server(create_app(settings)), timeout=60)
    try:
        ready = client.ready()
        assert ready.status == "down" and ready.rewards["code"]["status"] == "down"
        assert "is missing" in ready.rewards["code"]["message"]
        [result] = client.verify([{"completion": fenced("print(3)"), "reference": ADD_STDIO}], rewards=["code"]).results
        assert result.scores["code"] is None and "is missing" in result.errors["code"]
    finally:
        client.close()


def test_readyz_of_a_live_verifier_with_docker_is_ok_and_scores() -> None:
    require_docker()
    settings = Settings(plugins_allow=["code"], plugin_options={"code": {"backend": "docker", "docker": DOCKER}})
    before = {c.id for c in containers_of()}
    with serve_in_thread(create_app(settings)) as url:
        client = VerifierClient(url, timeout=60)
        try:
            assert client.ready().rewards["code"]["status"] == "ok"
            assert {c.id for c in containers_of()} - before, "no warm container while serving"
            items = [
                {"completion": fenced("print(sum(map(int, input().split())))"), "reference": ADD_STDIO},
                {"completion": fenced("print(3)"), "reference": ADD_STDIO},
            ]
            assert [r.scores["code"] for r in client.verify(items, rewards=["code"]).results] == [1.0, 0.5]
        finally:
            client.close()
    assert {c.id for c in containers_of()} - before == set(), "the stopped verifier left sandbox containers"
