"""The ``code`` reward with ``backend = "docker"``: built from plugin options as the host builds it, scoring
through warm containers of a real Docker engine; a missing engine or image is null + error and ``down``.
(The same through a live verifier's ``/readyz`` and ``/v1/verify``: ``test_code_service_docker.py``.)"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import verifier_code

from tests.plugins.code.live import LiveReward, live_reward
from tests.system import require_docker
from verifier import Reward, RewardItem, Score
from verifier.types import PluginConfig

pytestmark = pytest.mark.docker

DOCKER = {"warm_containers": 1, "max_containers": 3}
ADD_STDIO = {"tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "10 -4\n", "output": "6"}]}
ADD_ASSERT = {
    "prompt": 'def add(a, b):\n    """Sum."""\n',
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}
ADD_CALLS = {"fn_name": "add", "inputs": [[1, 2], [2, 2]], "outputs": [3, 4]}


def fenced(code: str, tag: str = "python") -> str:
    return f"```{tag}\n{code}\n```\n"


def code_reward(options: dict[str, Any]) -> Reward:
    """The reward exactly as the host gets it from the plugin's hook."""
    [reward] = verifier_code.register_rewards(config=PluginConfig("code", options))
    return reward


def only_scores(results: Sequence[Score | float | None]) -> list[Score]:
    scores = [s for s in results if isinstance(s, Score)]
    assert len(scores) == len(results), "the code reward returns a Score for every item"
    return scores


@pytest.fixture(scope="module")
def live() -> Iterator[LiveReward]:
    require_docker()
    with live_reward({"backend": "docker", "docker": DOCKER}) as reward:
        assert reward.reward.health is not None
        yield reward


def test_health_names_the_docker_backend_and_is_isolated(live: LiveReward) -> None:
    assert live.reward.health is not None
    health = live.reward.health()
    assert health.status == "ok" and "NOT ISOLATED" not in health.message
    assert "r1-verifier/sandbox" in health.message


def test_stdio_cases_pass_fail_and_partial(live: LiveReward) -> None:
    right = fenced("a, b = map(int, input().split())\nprint(a + b)")
    half = fenced("a, b = map(int, input().split())\nprint(a + b if a < 5 else 0)")
    chatty = fenced("a, b = map(int, input().split())\nprint(a + b)\nprint('debug')")
    early_exit = fenced("import sys\nsys.exit(0)")
    scores = live.score_all(
        (right, ADD_STDIO, {}), (half, ADD_STDIO, {}), (chatty, ADD_STDIO, {}), (early_exit, ADD_STDIO, {})
    )
    assert [s.value for s in scores] == [1.0, 0.5, 0.0, 0.0]
    assert all(s.error is None for s in scores)
    assert scores[1].details["first_failure"]["input"] == "10 -4\n"


def test_cpp_compiles_in_the_container(live: LiveReward) -> None:
    good = "#include <iostream>\nint main(){ long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }"
    ok, bad = live.score_all(
        (fenced(good, "cpp"), ADD_STDIO, {"language": "cpp"}),
        (fenced("int main( {", "cpp"), ADD_STDIO, {"language": "cpp"}),
    )
    assert ok.value == 1.0
    assert bad.value == 0.0 and bad.details["reason"] == "compile_error"


def test_asserts_and_calls_pass_and_cheats_do_not(live: LiveReward) -> None:
    cheats = [
        "def add(a, b):\n    return 0\nimport sys\nsys.exit(0)",
        "def add(a, b):\n    return 0\nimport os\nos._exit(0)",
        "class Any:\n    def __eq__(self, other): return True\ndef add(a, b):\n    return Any()",
        "def add(a, b):\n    return 0\nprint('passed')",
    ]
    scores = live.score_all(
        ("    return a + b\n", ADD_ASSERT, {}),
        (fenced("def add(a, b):\n    return a + b"), ADD_CALLS, {}),
        *[(fenced(cheat), ADD_ASSERT, {}) for cheat in cheats],
        (fenced(cheats[2]), ADD_CALLS, {}),
    )
    assert [s.value for s in scores] == [1.0, 1.0] + [0.0] * (len(cheats) + 1)


def test_timeout_and_memory_bomb_are_failed_tests_not_errors(live: LiveReward) -> None:
    loop, bomb = live.score_all(
        (fenced("while True: pass"), ADD_STDIO, {"time_limit_s": 0.5, "stop_on_first_failure": True}),
        (fenced("x = []\nwhile True:\n    x.append(bytearray(1 << 24))"), ADD_STDIO, {"memory_mb": 64}),
    )
    assert loop.value == 0.0 and loop.error is None
    assert [t["status"] for t in loop.details["tests"]] == ["timeout", "not_run"]
    assert bomb.value == 0.0 and bomb.error is None
    assert {t["status"] for t in bomb.details["tests"]} == {"memory_limit"}


@pytest.mark.parametrize(
    ("docker_options", "why"),
    [
        ({"image": "r1-verifier/no-such-image:never"}, "is missing"),
        ({"base_url": "unix:///nonexistent/docker.sock", "api_timeout_s": 2}, "unreachable"),
    ],
    ids=["image_missing", "engine_unreachable"],
)
def test_missing_image_or_engine_is_null_with_error_and_down(docker_options: dict[str, Any], why: str) -> None:
    if "image" in docker_options:
        require_docker()
    reward = code_reward({"backend": "docker", "docker": {**DOCKER, **docker_options}})
    assert reward.lifespan is not None and reward.health is not None

    async def go() -> list[Score]:
        assert reward.lifespan is not None
        async with reward.lifespan():
            items = [
                RewardItem(index=i, completion=fenced("print(3)"), reference=ADD_STDIO, params=reward.params())
                for i in range(2)
            ]
            result = reward.score(items)
            return only_scores(await result if inspect.isawaitable(result) else result)

    scores = asyncio.run(go())
    assert [s.value for s in scores] == [None, None]
    assert all(s.error is not None and why in s.error for s in scores)
    health = reward.health()
    assert health.status == "down" and why in health.message
