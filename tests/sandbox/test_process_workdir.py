"""A run's working directory on the process backend: read-only unless the run asks (``RunSpec.writable``),
a fresh copy of the prepared program per run, and ``fetch_files`` handed back base64-encoded."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from sandbox.process import ProcessBackend
from sandbox.types import MAX_FETCH_BYTES, ExecResult, ExecStatus, Limits, MiB, Program, RunSpec
from tests.sandbox.process_support import with_backend
from tests.system import needs_bwrap

pytestmark = needs_bwrap

WRITER = (
    "import os\n"
    "print(sorted(os.listdir('.')))\n"
    "open('out.txt', 'w').write('written\\n')\n"
    "os.makedirs('sub', exist_ok=True)\n"
    "open('sub/data.bin', 'wb').write(bytes(range(256)))\n"
    "os.symlink('/etc/hostname', 'leak')\n"
    "os.mkfifo('pipe')\n"
)


def runs(language: str, source: str, *specs: RunSpec) -> list[ExecResult]:
    async def scenario(backend: ProcessBackend) -> list[ExecResult]:
        async with backend.prepare(Program(language=language, source=source)) as prepared:
            assert prepared.compile_result is None or prepared.compile_result.ok
            return [await prepared.run(spec) for spec in specs]

    return with_backend(scenario)


def test_a_writable_run_writes_and_the_next_run_starts_from_the_program_again() -> None:
    fetch = ["out.txt", "sub/data.bin", "leak", "pipe", "missing.txt"]
    first, second = runs("python", WRITER, RunSpec(writable=True, fetch_files=fetch), RunSpec(writable=True))
    assert first.status is ExecStatus.OK, first.stderr
    assert first.stdout == "['main.py']\n"
    assert set(first.files) == {"out.txt", "sub/data.bin"}  # no link out of /work, no FIFO, nothing missing
    assert base64.b64decode(first.files["out.txt"]) == b"written\n"
    assert base64.b64decode(first.files["sub/data.bin"]) == bytes(range(256))
    assert (second.status, second.stdout, second.files) == (ExecStatus.OK, "['main.py']\n", {})


def test_a_compiled_programs_writable_run_sees_its_binary_and_writes_beside_it() -> None:
    source = (
        "#include <cstdio>\n"
        "int main() { FILE* f = std::fopen(\"out.txt\", \"w\"); if (!f) return 3; std::fputs(\"c++\\n\", f);"
        " std::fclose(f); std::puts(\"done\"); }"
    )
    (result,) = runs("cpp", source, RunSpec(writable=True, fetch_files=["out.txt", "main"]))
    assert (result.status, result.stdout) == (ExecStatus.OK, "done\n")
    assert base64.b64decode(result.files["out.txt"]) == b"c++\n"
    assert base64.b64decode(result.files["main"])[:4] == b"\x7fELF"


def test_a_run_is_read_only_unless_it_asks_and_can_still_fetch() -> None:
    source = "try:\n    open('out.txt', 'w')\nexcept OSError as exc:\n    print(exc.strerror)\n"
    (result,) = runs("python", source, RunSpec(fetch_files=["main.py", "out.txt"]))
    assert result.stdout == "Read-only file system\n"
    assert set(result.files) == {"main.py"} and base64.b64decode(result.files["main.py"]).decode() == source


def test_fetched_files_stop_at_the_size_bound() -> None:
    big = MAX_FETCH_BYTES // MiB + 1
    source = f"open('big', 'wb').write(b'x' * ({big} << 20))\nopen('small', 'wb').write(b'y')\n"
    limits = Limits(file_size_mb=big + 8, memory_mb=1024)
    (result,) = runs("python", source, RunSpec(writable=True, limits=limits, fetch_files=["big", "small"]))
    assert result.status is ExecStatus.OK, result.stderr
    assert set(result.files) == {"small"}


@pytest.mark.parametrize("name", ["/etc/passwd", "../escape", "a/../../b", "", "nul\u0000"])
def test_fetch_names_are_plain_relative_paths(name: str) -> None:
    with pytest.raises(ValidationError):
        RunSpec(fetch_files=[name])
