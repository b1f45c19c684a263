"""Every language of the table on the process backend, inside bubblewrap (read-only root, no network,
HOME=/tmp): a hello, a program reading stdin, one that does not compile, one that spins to its time limit.

A language whose toolchain is not installed here is skipped on a developer machine and fails under
``R1_REQUIRE_SYSTEM`` (CI), where scripts/system-setup.sh installed scripts/toolchains.txt."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from sandbox.errors import UnsupportedLanguage
from sandbox.languages import LANGUAGES, get_language
from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.types import COMPILE_LIMITS, ExecResult, ExecStatus, Limits, Program, RunSpec
from tests.sandbox.language_samples import SAMPLES
from tests.system import needs_bwrap

pytestmark = needs_bwrap

# Runtimes that start a JVM (or compile the script at run time) get longer before their spin is cut.
STARTUP_S = {"java": 8.0, "scala": 15.0, "kotlin": 10.0, "kotlin_script": 30.0, "junit": 15.0}
SLOW = {*STARTUP_S, "go", "rust", "csharp"}
COMPILE = COMPILE_LIMITS.model_copy(update={"wall_time_s": 120.0})


class Box:
    """A started process backend and the one event loop it lives on, shared by this module's tests."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.backend = ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=2))
        self.runner.run(self.backend.start())

    def run(self, language: str, source: str, *, stdin: str = "", wall_s: float = 30.0) -> ExecResult:
        async def go() -> ExecResult:
            async with self.backend.prepare(Program(language=language, source=source, compile_limits=COMPILE)) as p:
                if p.compile_result is not None and not p.compile_result.ok:
                    return p.compile_result
                return await p.run(RunSpec(stdin=stdin, limits=Limits(wall_time_s=wall_s, memory_mb=1024)))

        return self.runner.run(go())

    def close(self) -> None:
        self.runner.run(self.backend.aclose())
        self.runner.close()


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    box = Box()
    yield box
    box.close()


def require_language(box: Box, language: str) -> None:
    if language in box.backend.languages():
        return
    missing = [tool for tool in get_language(language).toolchain if tool not in box.backend._toolchain]
    message = f"{language}: toolchain not installed here ({', '.join(missing)}); run scripts/system-setup.sh"
    missing(message)


def by_language(names: list[str] | None = None) -> list[object]:
    return [
        pytest.param(name, id=name, marks=[pytest.mark.slow] if name in SLOW else [])
        for name in (names if names is not None else list(SAMPLES))
    ]


def test_every_language_of_the_table_has_samples() -> None:
    assert set(SAMPLES) == {language.name for language in LANGUAGES}
    assert len(LANGUAGES) >= 20


@pytest.mark.parametrize("language", by_language())
def test_hello(box: Box, language: str) -> None:
    require_language(box, language)
    result = box.run(language, SAMPLES[language].hello)
    assert result.status is ExecStatus.OK, (result.message, result.stderr[-2000:])
    assert SAMPLES[language].hello_output in result.stdout


@pytest.mark.parametrize("language", by_language([name for name, s in SAMPLES.items() if s.echo is not None]))
def test_reads_stdin(box: Box, language: str) -> None:
    require_language(box, language)
    echo = SAMPLES[language].echo
    assert echo is not None
    result = box.run(language, echo, stdin="bob\n")
    assert result.status is ExecStatus.OK, (result.message, result.stderr[-2000:])
    assert "hi bob" in result.stdout


@pytest.mark.parametrize("language", by_language())
def test_broken_program(box: Box, language: str) -> None:
    """A compiled (or type-checked) language reports compile_error with the compiler's words; an
    interpreted one fails at run time with a non-zero exit."""
    require_language(box, language)
    result = box.run(language, SAMPLES[language].broken)
    if get_language(language).compiled:
        assert result.status is ExecStatus.COMPILE_ERROR, (result.status, result.stderr[-2000:])
        assert result.exit_code not in (None, 0) and (result.stderr or result.stdout)
    else:
        assert result.status is ExecStatus.RUNTIME_ERROR, (result.status, result.stderr[-2000:])
        assert result.exit_code not in (None, 0)


@pytest.mark.parametrize("language", by_language())
def test_spin_is_stopped_at_the_time_limit(box: Box, language: str) -> None:
    require_language(box, language)
    samples = SAMPLES[language]
    result = box.run(language, samples.spin, wall_s=STARTUP_S.get(language, 3.0))
    assert result.status is ExecStatus.TIMEOUT, (result.status, result.stdout[-500:], result.stderr[-2000:])
    if samples.spin_output is not None:
        assert samples.spin_output in result.stdout  # it ran, then the limit stopped it


def test_a_language_without_its_toolchain_is_refused_naming_what_is_missing() -> None:
    async def go() -> str:
        backend = ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=1))
        await backend.start()
        try:
            backend._toolchain.pop("kotlinc", None)  # as on a host without Debian's kotlin package
            assert "kotlin" not in backend.languages() and "python" in backend.languages()
            with pytest.raises(UnsupportedLanguage) as caught:
                async with backend.prepare(Program(language="kotlin", source="fun main() {}")):
                    pass
            return str(caught.value)
        finally:
            await backend.aclose()

    assert asyncio.run(go()) == "kotlin: toolchain not available here: kotlinc"
