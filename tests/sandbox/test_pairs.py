"""Paired runs: two programs, each in its own sandbox, the program's stdout piped to the peer's stdin and the
peer's stdout to the program's stdin. On the process backend, the docker backend and through ``sandbox serve``
with the remote client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from sandbox.client import SandboxClient
from sandbox.docker_backend import DockerBackend, DockerOptions
from sandbox.errors import SandboxUnavailable
from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.service import create_app
from sandbox.types import (
    Backend,
    ExecStatus,
    Limits,
    PairRequest,
    PairResponse,
    PairSpec,
    Program,
    RunSpec,
    execute_pair,
)
from tests.system import needs_bwrap, require_docker

pytestmark = needs_bwrap

# The program asks three questions; the peer answers each with the number plus one, reading its secret
# from a file only it has, and says on stderr what it saw.
ASKER = (
    "import os, sys\n"
    "for i in range(3):\n"
    "    print(i * 10, flush=True)\n"
    "    print('got', sys.stdin.readline().strip(), file=sys.stderr)\n"
    "print('secret visible' if os.path.exists('secret.txt') else 'no secret here', file=sys.stderr)\n"
)
ANSWERER = (
    "import sys\n"
    "secret = open('secret.txt').read()\n"
    "for _ in range(3):\n"
    "    print(int(sys.stdin.readline()) + 1, flush=True)\n"
    "print('peer saw', secret, file=sys.stderr)\n"
)
CPP_ASKER = (
    "#include <cstdio>\nint main() { printf(\"41\\n\"); fflush(stdout); int x = 0;\n"
    "  if (scanf(\"%d\", &x) != 1) return 2; fprintf(stderr, \"answer %d\\n\", x); return 0; }\n"
)
QUICK = Limits(wall_time_s=1.5)


def conversation(runs: int = 1) -> PairRequest:
    spec = PairSpec(peer_files={"secret.txt": "swordfish"})
    return PairRequest(
        program=Program(language="python", source=ASKER),
        peer=Program(language="python", source=ANSWERER),
        runs=[spec] * runs,
    )


@asynccontextmanager
async def started(backend: Backend) -> AsyncIterator[Backend]:
    await backend.start()
    try:
        yield backend
    finally:
        await backend.aclose()


def backends() -> list[Any]:
    return [
        pytest.param(lambda: ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=2)), id="process"),
        pytest.param(
            lambda: DockerBackend(DockerOptions(warm_containers=2, max_containers=4)),
            id="docker",
            marks=pytest.mark.docker,
        ),
    ]


def run(make: Callable[[], Backend], scenario: Callable[[Backend], Any]) -> Any:
    backend = make()
    if isinstance(backend, DockerBackend):
        require_docker()

    async def go() -> Any:
        async with started(backend):
            return await scenario(backend)

    return asyncio.run(go())


@pytest.mark.parametrize("make", backends())
def test_two_programs_talk_and_only_the_peer_has_its_files(make: Callable[[], Backend]) -> None:
    response: PairResponse = run(make, lambda b: execute_pair(b, conversation(runs=2)))
    assert len(response.runs) == 2
    for result in response.runs:
        assert result.program.status is ExecStatus.OK and result.peer.status is ExecStatus.OK
        assert result.program.stderr == "got 1\ngot 11\ngot 21\nno secret here\n"
        assert result.peer.stderr == "peer saw swordfish\n"
        assert result.program.stdout == "" and result.peer.stdout == ""


@pytest.mark.parametrize("make", backends())
def test_a_compiled_program_pairs_with_an_interpreted_peer(make: Callable[[], Backend]) -> None:
    request = PairRequest(
        program=Program(language="cpp", source=CPP_ASKER),
        peer=Program(language="python", source="print(int(input()) + 1)"),
    )
    response: PairResponse = run(make, lambda b: execute_pair(b, request))
    assert response.compile is not None and response.compile.status is ExecStatus.OK
    assert response.runs[0].program.stderr == "answer 42\n"


@pytest.mark.parametrize("make", backends())
def test_nothing_hangs_when_both_sides_wait_or_one_side_leaves(make: Callable[[], Backend]) -> None:
    both_wait = PairRequest(
        program=Program(language="python", source="input()"),
        peer=Program(language="python", source="input()"),
        runs=[PairSpec(program=RunSpec(limits=QUICK), peer=RunSpec(limits=Limits(wall_time_s=3.0)))],
    )
    leaves = PairRequest(
        program=Program(language="python", source="print('bye')"),
        peer=Program(language="python", source="import sys\nprint(sys.stdin.read() == 'bye\\n', file=sys.stderr)"),
    )

    async def scenario(backend: Backend) -> tuple[PairResponse, PairResponse]:
        # A hang would fail here rather than stall the suite (a guard, not a timing threshold).
        waited = await asyncio.wait_for(execute_pair(backend, both_wait), timeout=120)
        return waited, await asyncio.wait_for(execute_pair(backend, leaves), timeout=120)

    waited, left = run(make, scenario)
    # The program times out at its limit; then its peer sees the end of its input and stops too.
    assert waited.runs[0].program.status is ExecStatus.TIMEOUT
    assert waited.runs[0].peer.status is ExecStatus.RUNTIME_ERROR and "EOFError" in waited.runs[0].peer.stderr
    assert left.runs[0].program.status is ExecStatus.OK and left.runs[0].peer.stderr == "True\n"


@pytest.mark.parametrize("make", backends())
def test_concurrent_pairs_never_wait_on_each_other(make: Callable[[], Backend]) -> None:
    # Two cells (process) or four containers (docker) and eight pairs at once: each pair takes its two
    # sandboxes together, so none can hold one and wait for a second held by another.
    async def scenario(backend: Backend) -> list[PairResponse]:
        return await asyncio.wait_for(
            asyncio.gather(*(execute_pair(backend, conversation()) for _ in range(8))), timeout=120
        )

    responses = run(make, scenario)
    assert all(r.runs[0].program.stderr.startswith("got 1\n") for r in responses)


def test_a_peer_that_does_not_compile_is_reported_and_nothing_runs() -> None:
    request = PairRequest(program=Program(language="python", source=ASKER), peer=Program(language="cpp", source="x"))
    response = run(lambda: ProcessBackend(ProcessOptions(isolation="bwrap")), lambda b: execute_pair(b, request))
    assert response.peer_compile is not None and response.peer_compile.status is ExecStatus.COMPILE_ERROR
    assert response.runs[0].program.status is ExecStatus.SANDBOX_ERROR  # not run: the other side did not compile
    assert response.runs[0].peer.status is ExecStatus.COMPILE_ERROR


@pytest.mark.docker
def test_docker_refuses_pairs_with_a_single_container() -> None:
    require_docker()

    async def scenario(backend: Backend) -> None:
        with pytest.raises(SandboxUnavailable, match="max_containers"):
            await execute_pair(backend, conversation())

    run(lambda: DockerBackend(DockerOptions(warm_containers=1, max_containers=1)), scenario)


@pytest.mark.docker
def test_docker_relay_counts_a_flood_against_the_output_limit() -> None:
    require_docker()
    request = PairRequest(
        program=Program(language="python", source="import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"),
        peer=Program(language="python", source="import sys\nwhile sys.stdin.buffer.read(65536):\n    pass\n"),
        runs=[PairSpec(program=RunSpec(limits=Limits(wall_time_s=5.0, output_bytes=1 << 20)))],
    )
    response = run(lambda: DockerBackend(DockerOptions(warm_containers=2, max_containers=2)),
                   lambda b: execute_pair(b, request))  # fmt: skip
    assert response.runs[0].program.status is ExecStatus.OUTPUT_LIMIT
    assert response.runs[0].peer.status is ExecStatus.OK


def test_bad_pair_requests_are_refused_before_anything_runs() -> None:
    program = Program(language="python", source="pass")
    with pytest.raises(ValidationError, match="stdin must be empty"):
        PairRequest(program=program, peer=program, runs=[PairSpec(program=RunSpec(stdin="x"))])
    for name in ("../escape", "/abs", "a\0b", ""):
        with pytest.raises(ValidationError):
            PairSpec(peer_files={name: "x"})


def test_sandbox_serve_pairs_over_http_with_the_remote_client(live_server: Callable[[FastAPI], str]) -> None:
    url = live_server(create_app(lambda: ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=2))))

    async def go() -> PairResponse:
        client = SandboxClient([url])
        try:
            return await client.execute_pair(conversation())
        finally:
            await client.aclose()

    response = asyncio.run(go())
    assert response.runs[0].peer.stderr == "peer saw swordfish\n"
    bad = conversation().model_dump(mode="json")
    bad["runs"][0]["peer_files"] = {"../x": "y"}
    answer = httpx.post(f"{url}/v1/pair", json=bad, timeout=30)
    assert answer.status_code == 422 and answer.json()["error"]["type"] == "invalid_request"
