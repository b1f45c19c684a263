"""Every language of the table in the sandbox image (docker backend): hello and stdin; and a run's
writable /work, its ``fetch_files``, and /work put back for the next run.

The image is ``SANDBOX_IMAGE`` when set (the variable scripts/docker-setup.sh builds it under), else the
backend's default; scripts/docker-setup.sh installs scripts/toolchains.txt into it."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest

from sandbox.docker_pool import DockerOptions
from sandbox.types import COMPILE_LIMITS, ExecStatus, Limits, Program, RunSpec
from tests.sandbox.docker_support import LoopBackend, started_backend
from tests.sandbox.language_samples import SAMPLES
from tests.system import missing

pytestmark = pytest.mark.docker

IMAGE = os.environ.get("SANDBOX_IMAGE") or DockerOptions().image
COMPILE = COMPILE_LIMITS.model_copy(update={"wall_time_s": 120.0})
RUN = Limits(wall_time_s=60.0, memory_mb=1024)


@pytest.fixture(scope="module")
def box() -> Iterator[LoopBackend]:
    with started_backend(DockerOptions(image=IMAGE, warm_containers=1, max_containers=2)) as box:
        yield box


@pytest.mark.parametrize("language", list(SAMPLES))
def test_hello_and_stdin_in_the_image(box: LoopBackend, language: str) -> None:
    if language not in box.backend.languages():
        message = f"{language}: no toolchain in {IMAGE} (scripts/docker-setup.sh installs scripts/toolchains.txt)"
        missing(message)
    samples = SAMPLES[language]
    hello = box.execute(Program(language=language, source=samples.hello, compile_limits=COMPILE), RunSpec(limits=RUN))
    assert hello.runs[0].status is ExecStatus.OK, (hello.runs[0].message, hello.runs[0].stderr[-2000:])
    assert samples.hello_output in hello.runs[0].stdout
    if samples.echo is not None:
        program = Program(language=language, source=samples.echo, compile_limits=COMPILE)
        echo = box.execute(program, RunSpec(stdin="bob\n", limits=RUN))
        assert echo.runs[0].status is ExecStatus.OK, (echo.runs[0].message, echo.runs[0].stderr[-2000:])
        assert "hi bob" in echo.runs[0].stdout


def test_a_run_writes_work_fetches_files_and_the_next_run_starts_from_the_program(box: LoopBackend) -> None:
    source = (
        "import os\n"
        "print(sorted(os.listdir('.')))\n"
        "open('out.txt', 'w').write('written\\n')\n"
        "os.symlink('/etc/hostname', 'leak')\n"
        "os.mkfifo('pipe')\n"
    )
    fetch = ["out.txt", "leak", "pipe", "missing.txt", "main.py"]
    response = box.execute(
        Program(language="python", source=source),
        RunSpec(writable=True, fetch_files=fetch),
        RunSpec(writable=True, fetch_files=["out.txt"]),
    )
    first, second = response.runs
    assert first.status is ExecStatus.OK, first.stderr
    assert set(first.files) == {"out.txt", "main.py"}  # no link out of /work, no FIFO, nothing missing
    assert base64.b64decode(first.files["out.txt"]) == b"written\n"
    assert first.stdout == "['main.py']\n"
    # Put back after the first run: no out.txt, link or FIFO (else os.symlink and mkfifo would fail).
    assert (second.status, second.stdout, set(second.files)) == (ExecStatus.OK, "['main.py']\n", {"out.txt"})
