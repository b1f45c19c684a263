"""Bad requests are 4xx with the one error body, on both backends: ``/v1/execute``, SandboxFusion's
``/run_code``, and the ``code`` reward (null + error for that item, the rest of the batch scored)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from verifier_code.reward import CodeParams, CodeReward

from sandbox.docker_backend import DockerBackend
from sandbox.docker_pool import DockerOptions
from sandbox.factory import SandboxOptions, make_executor
from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.service import create_app
from sandbox.types import Backend, MiB
from tests.conftest import serve_in_thread
from tests.system import require_bwrap, require_docker
from verifier import RewardItem


def _process() -> Backend:
    require_bwrap()
    return ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=2))


def _docker() -> Backend:
    require_docker()
    return DockerBackend(DockerOptions(warm_containers=1, max_containers=2))


BACKENDS: dict[str, Callable[[], Backend]] = {"process": _process, "docker": _docker}


@pytest.fixture(scope="module", params=sorted(BACKENDS), ids=str)
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def url(backend_name: str) -> Iterator[str]:
    """One real server per backend for the whole module (starting a pool per request case is slow)."""
    make = BACKENDS[backend_name]
    make_backend = make()  # skips here when the backend cannot run on this machine
    with serve_in_thread(create_app(lambda: make_backend)) as served:
        yield served


def post(url: str, payload: dict[str, Any]) -> httpx.Response:
    """JSON as a client in any language may send it: lone surrogates travel as ``\\ud800`` escapes."""
    body = json.dumps(payload)  # ensure_ascii: httpx's own json= cannot carry a lone surrogate
    return httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=60)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def execute(program: dict[str, Any], runs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"program": {"language": "python", "source": "print(1)", **program}, "runs": runs or [{}]}


BAD_EXECUTE: dict[str, dict[str, Any]] = {
    "traversal": execute({"files": {"../escape.py": "x"}}),
    "deep traversal": execute({"files": {"a/../../escape.py": "x"}}),
    "absolute path": execute({"files": {"/etc/evil": "x"}}),
    "NUL in a name": execute({"files": {"a\u0000b": "x"}}),
    "control character in a name": execute({"files": {"a\nb": "x"}}),
    "empty name": execute({"files": {"": "x"}}),
    "dot name": execute({"files": {"./x": "x"}}),
    "file and directory": execute({"files": {"a": "x", "a/b": "y"}}),
    "replaces main.py": execute({"files": {"main.py": "print('forged')"}}),
    "replaces the C++ binary": execute({"language": "cpp", "source": "int main(){}", "files": {"main": "x"}}),
    "name too long": execute({"files": {"x" * 300: "x"}}),
    "too many files": execute({"files": {f"f{i}": "" for i in range(300)}}),
    "oversize source": execute({"source": "#" * (17 * MiB)}),
    "oversize files together": execute({"files": {f"f{i}": "#" * (3 * MiB) for i in range(6)}}),
    "lone surrogate in the source": execute({"source": "print('\ud800')"}),
    "lone surrogate in stdin": execute({}, [{"stdin": "\ud800"}]),
    "NUL in an argument": execute({}, [{"argv": ["a\u0000b"]}]),
    "negative wall time": execute({}, [{"limits": {"wall_time_s": -1}}]),
    "zero wall time": execute({}, [{"limits": {"wall_time_s": 0}}]),
    "huge wall time": execute({}, [{"limits": {"wall_time_s": 1e9}}]),
    "zero memory": execute({}, [{"limits": {"memory_mb": 0}}]),
    "negative memory": execute({}, [{"limits": {"memory_mb": -5}}]),
    "huge memory": execute({}, [{"limits": {"memory_mb": 10**9}}]),
    "zero output": execute({}, [{"limits": {"output_bytes": 0}}]),
    "zero processes": execute({}, [{"limits": {"max_processes": 0}}]),
    "bad compile limits": execute({"compile_limits": {"wall_time_s": -3}}),
    "no runs": execute({}, []) | {"runs": []},
    "unknown limit": execute({}, [{"limits": {"gpu": 1}}]),
    "unknown language": execute({"language": "cobol"}),
}

BAD_RUN_CODE: dict[str, dict[str, Any]] = {
    "traversal": {"code": "print(1)", "files": {"../escape.py": _b64("x")}},
    "absolute path": {"code": "print(1)", "files": {"/tmp/evil": _b64("x")}},
    "NUL in a name": {"code": "print(1)", "files": {"a\u0000": _b64("x")}},
    "file and directory": {"code": "print(1)", "files": {"a": _b64("x"), "a/b": _b64("y")}},
    "replaces main.py": {"code": "print(1)", "files": {"main.py": _b64("print('forged')")}},
    "not base64": {"code": "print(1)", "files": {"data.txt": "***"}},
    "negative run timeout": {"code": "print(1)", "run_timeout": -1},
    "zero run timeout": {"code": "print(1)", "run_timeout": 0},
    "huge run timeout": {"code": "print(1)", "run_timeout": 1e9},
    "negative compile timeout": {"code": "int main(){}", "language": "cpp", "compile_timeout": -1},
    "huge memory": {"code": "print(1)", "memory_limit_MB": 10**9},
    "negative memory": {"code": "print(1)", "memory_limit_MB": -7},
    "unknown language": {"code": "print(1)", "language": "cobol"},
    "lone surrogate in stdin": {"code": "print(1)", "stdin": "\ud800"},
}


def assert_one_error_body(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "details"}, body
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize("case", sorted(BAD_EXECUTE), ids=str)
def test_a_bad_execute_request_is_422_with_the_error_body(url: str, case: str) -> None:
    response = post(f"{url}/v1/execute", BAD_EXECUTE[case])
    error = assert_one_error_body(response)
    expected = "unsupported_language" if case == "unknown language" else "invalid_request"
    assert error["type"] == expected


@pytest.mark.parametrize("case", sorted(BAD_RUN_CODE), ids=str)
def test_a_bad_run_code_request_is_422_with_the_error_body(url: str, case: str) -> None:
    response = post(f"{url}/run_code", BAD_RUN_CODE[case])
    assert_one_error_body(response)


def test_unknown_routes_and_methods_use_the_error_body_and_good_requests_still_run(url: str) -> None:
    assert_one_error_body(httpx.get(f"{url}/nowhere", timeout=10), 404)
    assert_one_error_body(httpx.get(f"{url}/v1/execute", timeout=10), 405)
    body = httpx.post(f"{url}/run_code", json={"code": "print(input()[::-1])", "stdin": "abc"}, timeout=60).json()
    assert (body["status"], body["run_result"]["stdout"]) == ("Success", "cba\n")


def test_the_code_reward_scores_a_batch_with_bad_items_null_and_the_rest_right(backend_name: str) -> None:
    if backend_name == "docker":
        require_docker()
        options = SandboxOptions(backend="docker", docker=DockerOptions(warm_containers=1, max_containers=2))
    else:
        require_bwrap()
        options = SandboxOptions(backend="process", isolation="bwrap")
    reward = CodeReward(make_executor(options))
    good = {"tests": [{"input": "2 3", "output": "5"}]}
    references: list[Any] = [
        good,
        {"tests": [{"input": "\ud800", "output": "5"}]},  # stdin the sandbox cannot write
        {"tests": [{"input": "1 1", "output": "2"}] * 10_001},  # more runs than one request may hold
        {"tests": [{"input": "x" * (65 * MiB), "output": ""}]},  # stdin over the limit
        good,
    ]

    async def go() -> list[tuple[float | None, str | None]]:
        async with reward.lifespan():
            items = [
                RewardItem(index=i, completion="```python\nprint(sum(map(int, input().split())))\n```",
                           reference=reference, params=CodeParams())
                for i, reference in enumerate(references)
            ]  # fmt: skip
            return [(s.value, s.error) for s in await reward(items)]

    scores = anyio.run(go)
    assert [value for value, _ in scores] == [1.0, None, None, None, 1.0]
    assert all(error for _, error in scores[1:4]), scores  # refused by the reference reader or the sandbox
