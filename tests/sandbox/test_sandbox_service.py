"""``sandbox serve`` on a real uvicorn server: our endpoint, SandboxFusion's shape, and the code reward
talking to it over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from verifier_code.reward import CodeParams, CodeReward

from sandbox.factory import SandboxOptions, make_executor
from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.service import create_app
from sandbox.types import ExecRequest, ExecResponse, ExecStatus, Program, RunSpec
from tests.system import needs_bwrap
from verifier import RewardItem

pytestmark = needs_bwrap


@pytest.fixture
def sandbox_url(live_server: Callable[[FastAPI], str]) -> str:
    return live_server(
        create_app(lambda: ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=2)))
    )


def test_execute_compiles_once_and_runs_each_input(sandbox_url: str) -> None:
    source = "#include <iostream>\nint main(){ long a; std::cin >> a; std::cout << a * a << std::endl; }"
    request = ExecRequest(
        program=Program(language="cpp", source=source), runs=[RunSpec(stdin="3"), RunSpec(stdin="-4")]
    )
    response = httpx.post(f"{sandbox_url}/v1/execute", json=request.model_dump(mode="json"), timeout=60)
    body = ExecResponse.model_validate_json(response.content)
    assert body.compile is not None and body.compile.status is ExecStatus.OK
    assert [r.stdout for r in body.runs] == ["9\n", "16\n"]
    health = httpx.get(f"{sandbox_url}/v1/health").json()
    assert health["status"] == "ok" and health["isolated"] is True and "cpp" in health["languages"]


@pytest.mark.parametrize(
    ("payload", "status", "run_status", "stdout"),
    [
        (
            {"code": "print(input()[::-1])", "language": "python", "stdin": "abc"},
            "Success",
            "Finished",
            "cba\n",
        ),
        ({"code": "import sys; sys.exit(3)", "language": "python"}, "Failed", "Finished", ""),
        (
            {"code": "while True: pass", "language": "python", "run_timeout": 0.5},
            "Failed",
            "TimeLimitExceeded",
            "",
        ),
        ({"code": "console.log(6 * 7)", "language": "nodejs"}, "Success", "Finished", "42\n"),
    ],
)
def test_sandboxfusion_run_code_shape(
    sandbox_url: str, payload: dict[str, Any], status: str, run_status: str, stdout: str
) -> None:
    body = httpx.post(f"{sandbox_url}/run_code", json=payload, timeout=60).json()
    assert body["status"] == status
    assert body["run_result"]["status"] == run_status
    assert body["run_result"]["stdout"] == stdout
    if status == "Failed" and run_status == "Finished":
        assert body["run_result"]["return_code"] == 3


def test_sandboxfusion_compile_error(sandbox_url: str) -> None:
    body = httpx.post(
        f"{sandbox_url}/run_code", json={"code": "int main( {", "language": "cpp"}, timeout=60
    ).json()
    assert body["status"] == "Failed" and body["run_result"] is None
    assert body["compile_result"]["return_code"] != 0 and "error" in body["compile_result"]["stderr"]


def test_code_reward_over_http_with_failover(sandbox_url: str) -> None:
    executor = make_executor(SandboxOptions(backend="remote", urls=["http://127.0.0.1:9", sandbox_url]))
    reward = CodeReward(executor)
    reference = {"tests": [{"input": "2 3", "output": "5"}, {"input": "7 8", "output": "15"}]}

    async def go() -> list[float | None]:
        async with reward.lifespan():
            items = [
                RewardItem(
                    index=i, completion=f"```python\n{code}\n```", reference=reference, params=CodeParams()
                )
                for i, code in enumerate(["print(sum(map(int, input().split())))", "print(5)"])
            ]
            return [s.value for s in await reward(items)]

    assert anyio.run(go) == [1.0, 0.5]
    assert reward.health().status == "degraded"  # one of the two servers is down
