"""``sandbox serve`` as SandboxFusion's own SDK sees it: the real ``sandbox_fusion`` client (PyPI) against a
real uvicorn server on the process backend, for every outcome its ``summary_run_code_result`` tells apart,
plus ``fetch_files``, ``GET /v1/ping`` and the language names SandboxFusion clients send."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
import sandbox_fusion
from sandbox_fusion import RunCodeRequest, RunCodeResponse, SummaryMapping, summary_run_code_result

from sandbox.fusion import NOT_PROVIDED
from sandbox.languages import LANGUAGES, get_language
from sandbox.process import ProcessBackend, ProcessOptions
from sandbox.service import create_app
from tests.conftest import serve_in_thread
from tests.system import missing, needs_bwrap

pytestmark = needs_bwrap

OUTCOMES = SummaryMapping(
    CompileFailed="compile failed", CompileTimeout="compile timeout", RunFailed="run failed", RunTimeout="run timeout"
)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_in_thread(
        create_app(lambda: ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=2)))
    ) as base:
        yield base


def run(url: str, **fields: object) -> RunCodeResponse:
    response: RunCodeResponse = sandbox_fusion.run_code(RunCodeRequest(**fields), endpoint=url, max_attempts=1)
    return response


def require(url: str, name: str) -> None:
    language = get_language(name).name
    available = {lang["name"] for lang in httpx.get(f"{url}/v1/languages").json()["languages"] if lang["available"]}
    if language not in available:
        message = f"{language}: toolchain not installed here (scripts/system-setup.sh installs it)"
        missing(message)


def test_ping_answers_pong(url: str) -> None:
    response = httpx.get(f"{url}/v1/ping")
    assert (response.status_code, response.json()) == (200, "pong")


def test_success(url: str) -> None:
    result = run(url, code="print(input()[::-1])", language="python", stdin="abc")
    assert summary_run_code_result(result, OUTCOMES) == "Success"
    assert (result.message, result.compile_result, result.files) == ("", None, {})
    assert result.run_result is not None
    assert (result.run_result.status, result.run_result.return_code) == ("Finished", 0)
    assert result.run_result.stdout == "cba\n" and result.run_result.execution_time is not None


def test_runtime_error(url: str) -> None:
    result = run(url, code="raise ValueError('boom')", language="python")
    assert summary_run_code_result(result, OUTCOMES) == "run failed"
    assert result.run_result is not None and result.run_result.return_code == 1
    assert "ValueError: boom" in (result.run_result.stderr or "")


def test_run_timeout(url: str) -> None:
    result = run(url, code="while True: pass", language="python", run_timeout=0.5)
    assert summary_run_code_result(result, OUTCOMES) == "run timeout"
    assert result.status == "Failed" and result.run_result is not None
    assert (result.run_result.status, result.run_result.return_code) == ("TimeLimitExceeded", None)


def test_killed_for_memory_is_a_failed_run_with_a_return_code(url: str) -> None:
    body = httpx.post(
        f"{url}/run_code",
        json={"code": "x = bytearray(1 << 31)", "language": "python", "memory_limit_MB": 256},
        timeout=60,
    ).json()
    result = RunCodeResponse(**body)
    assert summary_run_code_result(result, OUTCOMES) == "run failed"  # raises if return_code were None


def test_compile_error(url: str) -> None:
    result = run(url, code="int main( {", language="cpp")
    assert summary_run_code_result(result, OUTCOMES) == "compile failed"
    assert result.run_result is None and result.compile_result is not None
    assert result.compile_result.status == "Finished" and "error" in (result.compile_result.stderr or "")


def test_compile_timeout(url: str) -> None:
    require(url, "scala")  # scalac starts a JVM: far longer than the 0.2 s allowed
    result = run(url, code="object A { def main(a: Array[String]): Unit = () }", language="scala", compile_timeout=0.2)
    assert summary_run_code_result(result, OUTCOMES) == "compile timeout"
    assert result.run_result is None and result.compile_result is not None
    assert (result.compile_result.status, result.compile_result.return_code) == ("TimeLimitExceeded", None)


def test_the_program_writes_its_working_directory_and_fetch_files_come_back_base64(url: str) -> None:
    code = (
        "import os\n"
        "print(sorted(os.listdir('.')))\n"
        "open('out.txt', 'w').write('written\\n')\n"
        "os.makedirs('sub', exist_ok=True)\n"
        "open('sub/data.bin', 'wb').write(bytes(range(256)))\n"
    )
    fetch = ["out.txt", "sub/data.bin", "missing.txt"]
    files = {"given.txt": base64.b64encode(b"given").decode()}
    first = run(url, code=code, language="python", files=files, fetch_files=fetch)
    assert summary_run_code_result(first, OUTCOMES) == "Success", first
    assert set(first.files) == {"out.txt", "sub/data.bin"}  # a missing file is left out, as SandboxFusion does
    assert base64.b64decode(first.files["out.txt"]) == b"written\n"
    assert base64.b64decode(first.files["sub/data.bin"]) == bytes(range(256))
    assert first.run_result is not None and first.run_result.stdout == "['given.txt', 'main.py']\n"
    again = run(url, code=code, language="python", fetch_files=["out.txt"])
    assert again.run_result is not None and again.run_result.stdout == "['main.py']\n"  # nothing survived


def test_a_fetch_path_outside_the_working_directory_is_422(url: str) -> None:
    response = httpx.post(
        f"{url}/run_code", json={"code": "print(1)", "language": "python", "fetch_files": ["/etc/passwd"]}, timeout=30
    )
    assert response.status_code == 422 and response.json()["error"]["type"] == "invalid_request"


@pytest.mark.parametrize(
    ("language", "code", "stdout"),
    [
        ("nodejs", "console.log(6 * 7)", "42\n"),
        ("bash", "echo $((6 * 7))", "42\n"),
        ("php", "echo 6 * 7, PHP_EOL;", "42\n"),  # no <?php tag: SandboxFusion adds it, so do we
        ("R", "cat(6 * 7, '\\n', sep = '')", "42\n"),
        ("typescript", "const n: number = 6 * 7;\nconsole.log(n);", "42\n"),
        ("D_ut", "import std.stdio;\nunittest { assert(6 * 7 == 42); }\nvoid main() { writeln(6 * 7); }", "42\n"),
    ],
)
def test_sandboxfusion_language_names(url: str, language: str, code: str, stdout: str) -> None:
    require(url, language)
    result = run(url, code=code, language=language)
    assert summary_run_code_result(result, OUTCOMES) == "Success", result
    assert result.run_result is not None and result.run_result.stdout == stdout


@pytest.mark.parametrize(
    ("language", "code", "outcome"),
    [
        ("pytest", "def test_ok():\n    assert 6 * 7 == 42\n", "Success"),
        ("pytest", "def test_wrong():\n    assert 6 * 7 == 41\n", "run failed"),
        (
            "junit",
            "import org.junit.jupiter.api.Test;\nimport static org.junit.jupiter.api.Assertions.*;\n"
            "public class AnswerTest { @Test void answer() { assertEquals(42, 6 * 7); } }",
            "Success",
        ),
        (
            "junit",
            "import org.junit.jupiter.api.Test;\nimport static org.junit.jupiter.api.Assertions.*;\n"
            "public class AnswerTest { @Test void answer() { assertEquals(41, 6 * 7); } }",
            "run failed",
        ),
    ],
    ids=["pytest-pass", "pytest-fail", "junit-pass", "junit-fail"],
)
def test_test_runners(url: str, language: str, code: str, outcome: str) -> None:
    require(url, language)
    result = run(url, code=code, language=language, run_timeout=60, compile_timeout=60)
    assert summary_run_code_result(result, OUTCOMES) == outcome, result


def test_sandboxfusion_languages_we_do_not_provide_are_refused_saying_why(url: str) -> None:
    response = httpx.post(f"{url}/run_code", json={"code": "print(1)", "language": "swift"}, timeout=30)
    error = response.json()["error"]
    assert (response.status_code, error["type"]) == (422, "unsupported_language")
    assert error["message"] == f"swift: {NOT_PROVIDED['swift']}"


def test_languages_lists_the_table_and_what_this_backend_runs(url: str) -> None:
    body = httpx.get(f"{url}/v1/languages").json()
    assert body["backend"] == "process"
    assert [lang["name"] for lang in body["languages"]] == [lang.name for lang in LANGUAGES]
    python = next(lang for lang in body["languages"] if lang["name"] == "python")
    assert python["available"] is True and python["compiled"] is False and "py" in python["aliases"]
    health = httpx.get(f"{url}/v1/health").json()
    assert {lang["name"] for lang in body["languages"] if lang["available"]} == set(health["languages"])
