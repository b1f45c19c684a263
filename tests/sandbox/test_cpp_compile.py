"""C++ compiles: precompiled headers (used when they fit, the same program when they do not) and the process
backend's cache of successful compiles."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import pch
from sandbox.compile_cache import CompileCache, compile_key
from sandbox.languages import PCH_DIR, get_language
from sandbox.process import ProcessBackend, ProcessOptions, ProcessPrepared
from sandbox.types import COMPILE_LIMITS, ExecResult, ExecStatus, Limits, Program, RunSpec
from tests.system import needs_bwrap, require_tool

CPP = get_language("cpp")
DOCKERFILE = Path(__file__).parents[2] / "sandbox" / "Dockerfile"
RUN = Limits(wall_time_s=20.0, memory_mb=512)
COMPILE = COMPILE_LIMITS.model_copy(update={"wall_time_s": 120.0})  # a loaded CI machine compiles slowly
# A compile run as a bash program in the sandbox, to see what g++ itself says about the PCH (-H marks a
# precompiled header it used with "!").
BASH_LIMITS = Limits(wall_time_s=60.0, memory_mb=2048, max_processes=64, file_size_mb=256)
STDCXX = (
    '#include <bits/stdc++.h>\nusing namespace std;\nint main() { int a, b; cin >> a >> b; cout << a + b << "\\n"; }\n'
)
needs_gxx = pytest.mark.usefixtures("gxx")


@pytest.fixture
def gxx() -> None:
    require_tool("g++", "scripts/system-setup.sh installs it")


# Programs that must compile to the same binary with and without the precompiled headers.
SAME_PROGRAM = {
    "stdcxx": STDCXX,
    "iostream_then_vector": (
        "#include <iostream>\n#include <vector>\n"
        "int main() { std::vector<int> v{1, 2, 3}; std::cout << v[0] + v[2] << '\\n'; }\n"
    ),
    # Changes the library's behaviour: the PCH (built without it) must not be used.
    "debug_mode": (
        "#define _GLIBCXX_DEBUG\n#include <bits/stdc++.h>\nint main() { std::vector<int> v(1); return v[0]; }\n"
    ),
    "target_pragma": (
        '#pragma GCC optimize("O3,unroll-loops")\n#pragma GCC target("avx2,popcnt")\n#include <bits/stdc++.h>\n'
        "int main() { std::vector<int> v(64); std::iota(v.begin(), v.end(), 0);"
        " std::cout << std::accumulate(v.begin(), v.end(), 0) + __builtin_popcount(v[7]) << '\\n'; }\n"
    ),
    "code_before_include": "int first = 1;\n#include <bits/stdc++.h>\nint main() { std::cout << first << '\\n'; }\n",
    # A header with a PCH included again (directly, or by another header): g++ then reads the header itself.
    "stdcxx_twice": "#include <bits/stdc++.h>\n#include <bits/stdc++.h>\nint main() { std::cout << 1 << '\\n'; }\n",
    "iostream_then_stdcxx": "#include <iostream>\n#include <bits/stdc++.h>\nint main() { std::cout << 2 << '\\n'; }\n",
    "cstdio_then_iostream": '#include <cstdio>\n#include <iostream>\nint main() { printf("3\\n"); }\n',
}


# The PCH flags and the image, kept in step.


def test_header_flags_are_the_cpp_compile_flags_without_output_and_source() -> None:
    assert CPP.header_flags() == ["-std=c++17", "-O2", "-pipe"]
    assert CPP.compile is not None and CPP.compile[1:4] == ("-std=c++17", "-O2", "-pipe")


def test_compile_argv_searches_the_pch_dir_first_only_for_languages_with_headers() -> None:
    assert CPP.compile_argv(memory_mb=256, pch_dir=PCH_DIR) == [
        "g++", "-isystem", PCH_DIR, "-std=c++17", "-O2", "-pipe", "-o", "main", "main.cpp",
    ]
    assert CPP.compile_argv(memory_mb=256, pch_dir=None) == list(CPP.compile or ())
    c = get_language("c")
    assert c.compile_argv(memory_mb=256, pch_dir=PCH_DIR) == list(c.compile or ())


def test_dockerfile_builds_the_pch_with_the_languages_flags_and_headers() -> None:
    text = DOCKERFILE.read_text()
    flags = re.search(r'ARG CPP_PCH_FLAGS="([^"]*)"', text)
    headers = re.search(r'ARG CPP_PCH_HEADERS="([^"]*)"', text)
    assert flags is not None and flags.group(1).split() == CPP.header_flags()
    assert headers is not None and tuple(headers.group(1).split()) == CPP.precompiled_headers
    assert PCH_DIR in text
    # After the big apt layer, so that a change to it rebuilds only the PCH layer.
    assert text.index("apt-get install") < text.index("ARG CPP_PCH_FLAGS")


# Building a PCH on the host (one small header).


SMALL = dataclasses.replace(CPP, precompiled_headers=("climits",))


def _host_compile(source: str, tmp_path: Path, include: Path) -> str:
    (tmp_path / "prog.cpp").write_text(source)
    proc = subprocess.run(
        ["g++", *CPP.header_flags(), "-isystem", str(include), "-H", "-Winvalid-pch", "-fsyntax-only", "prog.cpp"],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120,
    )
    return proc.stderr


@needs_gxx
def test_built_header_is_valid_for_the_language_flags(tmp_path: Path) -> None:
    directory = pch.ensure(SMALL, shutil.which("g++") or "g++", tmp_path / "cache")
    assert sorted(p.name for p in directory.iterdir()) == ["climits", "climits.gch", "manifest.json"]
    assert (directory / "climits").read_text() == "#include_next <climits>\n"
    stderr = _host_compile("#include <climits>\nint main() { return INT_MAX == 0; }\n", tmp_path, directory)
    assert f"! {directory}/climits.gch" in stderr.splitlines()
    # g++ says why it refuses a PCH that does not fit, and then reads the header itself.
    stderr = _host_compile("#define INT_MAX 3\n#include <climits>\nint main() {}\n", tmp_path, directory)
    assert "climits.gch: not used because `INT_MAX' is defined" in stderr
    # Included twice: the second include reads the header next to the PCH, which goes on to the system's.
    stderr = _host_compile("#include <climits>\n#include <climits>\nint main() {}\n", tmp_path, directory)
    assert f". {directory}/climits" in stderr.splitlines()


@needs_gxx
def test_ensure_reuses_a_valid_build_and_rebuilds_a_stale_one(tmp_path: Path) -> None:
    compiler = shutil.which("g++") or "g++"
    directory = pch.ensure(SMALL, compiler, tmp_path / "cache")
    built = (directory / "climits.gch").stat().st_ino
    assert pch.ensure(SMALL, compiler, tmp_path / "cache") == directory
    assert (directory / "climits.gch").stat().st_ino == built
    # An input of the build changed (as a package upgrade changes headers): built again.
    manifest = directory / pch.MANIFEST
    document = manifest.read_text()
    first_input = re.search(r'"(/[^"]+)"', document)
    assert first_input is not None
    manifest.write_text(document.replace(first_input.group(1), str(tmp_path / "gone.h"), 1))
    assert pch.ensure(SMALL, compiler, tmp_path / "cache") == directory
    assert (directory / "climits.gch").stat().st_ino != built


# The compile cache.


def _result(text: str = "") -> ExecResult:
    return ExecResult(status=ExecStatus.OK, exit_code=0, stderr=text)


def _binary(size: int) -> dict[str, list[object]]:
    return {"main": [0o755, base64.b64encode(b"x" * size).decode()]}


def test_compile_key_changes_with_source_files_flags_and_toolchain() -> None:
    files = {"main.cpp": [0o644, base64.b64encode(b"int main(){}").decode()]}
    argv = CPP.compile_argv(memory_mb=2048, pch_dir=PCH_DIR)
    toolchain = {"g++": ["/usr/bin/g++", 1, 2]}
    key = compile_key("cpp", argv, files, toolchain)
    assert key == compile_key("cpp", list(argv), dict(files), dict(toolchain))
    changed_source = {"main.cpp": [0o644, base64.b64encode(b"int main(){return 1;}").decode()]}
    assert key != compile_key("cpp", argv, changed_source, toolchain)
    assert key != compile_key("cpp", argv, {**files, "a.h": [0o644, ""]}, toolchain)
    assert key != compile_key("cpp", [*argv[:-1], "-O3", argv[-1]], files, toolchain)
    assert key != compile_key("cpp", argv, files, {"g++": ["/usr/bin/g++", 1, 3]})
    assert key != compile_key("c", argv, files, toolchain)


def test_compile_cache_is_bounded_in_bytes_and_evicts_least_recently_used() -> None:
    cache = CompileCache(max_bytes=3000)
    cache.put("a", _result(), _binary(1000))
    cache.put("b", _result(), _binary(1000))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", _result(), _binary(1000))
    assert cache.stats.bytes <= 3000 and cache.stats.evictions == 1
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    cache.put("huge", _result(), _binary(5000))  # larger than the whole bound: not stored, nothing evicted
    assert cache.get("huge") is None and cache.stats.entries == 2


# The process backend (bubblewrap).


class Box:
    """A started process backend on its own event loop."""

    def __init__(self, **options: object) -> None:
        self.runner = asyncio.Runner()
        self.backend = ProcessBackend(ProcessOptions(isolation="bwrap", max_concurrency=2, **options))  # type: ignore[arg-type]
        self.runner.run(self.backend.start())
        self.runner.run(self.backend.precompiled_headers_ready())

    def compile_and_run(self, source: str, stdin: str = "") -> tuple[ExecResult, ExecResult | None, bytes | None]:
        """The compile's result, the run's (None when the compile failed) and the binary."""

        async def go() -> tuple[ExecResult, ExecResult | None, bytes | None]:
            async with self.backend.prepare(Program(language="cpp", source=source, compile_limits=COMPILE)) as prepared:
                compiled = prepared.compile_result
                assert compiled is not None
                if not compiled.ok:
                    return compiled, None, None
                assert isinstance(prepared, ProcessPrepared)
                binary = base64.b64decode(prepared.files["main"][1])
                return compiled, await prepared.run(RunSpec(stdin=stdin, limits=RUN)), binary

        return self.runner.run(go())

    def group(self, source: str, *, copies: int, stdin: str) -> list[ExecResult]:
        """``copies`` of one program prepared and run at once, as a GRPO group's agreeing samples are."""

        async def one() -> ExecResult:
            async with self.backend.prepare(Program(language="cpp", source=source, compile_limits=COMPILE)) as p:
                return await p.run(RunSpec(stdin=stdin, limits=RUN))

        async def go() -> list[ExecResult]:
            return list(await asyncio.gather(*(one() for _ in range(copies))))

        return self.runner.run(go())

    def bash(self, script: str, files: dict[str, str]) -> ExecResult:
        async def go() -> ExecResult:
            async with self.backend.prepare(Program(language="bash", source=script, files=files)) as prepared:
                return await prepared.run(RunSpec(limits=BASH_LIMITS, writable=True))

        return self.runner.run(go())

    def close(self) -> None:
        self.runner.run(self.backend.aclose())
        self.runner.close()


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    box = Box()
    yield box
    box.close()


@needs_bwrap
def test_stdcxx_program_compiles_with_the_pch_and_runs(box: Box) -> None:
    assert "cpp" in box.backend.pch_dirs, "the precompiled headers were not built"
    compiled, run, _ = box.compile_and_run(STDCXX, "20 22")
    assert compiled.status is ExecStatus.OK, compiled.stderr
    assert run is not None and run.status is ExecStatus.OK and run.stdout == "42\n"


@needs_bwrap
def test_the_sandbox_compiler_uses_the_pch_with_the_language_flags(box: Box) -> None:
    flags = " ".join(CPP.header_flags())
    directory = f"{PCH_DIR}/{box.backend.pch_dirs['cpp'].name}"
    script = (
        f"ls {directory} {directory}/bits\n"
        f"g++ {flags} -isystem {directory} -H -Winvalid-pch -fsyntax-only fits.cpp 2>&1 | grep -F '{PCH_DIR}'\n"
        f"g++ {flags} -isystem {directory} -Winvalid-pch -fsyntax-only debug.cpp 2>&1"
        " | grep -o 'not used because.*defined'\n"
        f"touch {directory}/written 2>/dev/null && echo WRITABLE || echo read-only\n"
    )
    files = {"fits.cpp": STDCXX, "debug.cpp": SAME_PROGRAM["debug_mode"]}
    result = box.bash(script, files)
    assert result.status is ExecStatus.OK, (result.message, result.stderr)
    lines = result.stdout.splitlines()
    assert f"! {directory}/bits/stdc++.h.gch" in lines
    assert "not used because `_GLIBCXX_DEBUG' is defined" in lines
    assert {"stdc++.h.gch", "stdc++.h", "iostream.gch", "iostream"} <= set(lines)
    assert lines[-1] == "read-only"


@needs_bwrap
def test_programs_compile_to_the_same_binary_without_the_pch(box: Box) -> None:
    plain = Box(precompiled_headers=False, compile_cache_bytes=0, cgroups="off")
    try:
        assert plain.backend.pch_dirs == {}
        for name, source in SAME_PROGRAM.items():
            # Input for the programs that read two numbers: without it they print uninitialised ints.
            with_pch, run, binary = box.compile_and_run(source, stdin="2 3\n")
            without, plain_run, plain_binary = plain.compile_and_run(source, stdin="2 3\n")
            assert with_pch.status is without.status is ExecStatus.OK, (name, with_pch.stderr, without.stderr)
            assert binary == plain_binary, f"{name}: the PCH changed the binary"
            assert run is not None and plain_run is not None
            assert (run.status, run.stdout) == (plain_run.status, plain_run.stdout), name
    finally:
        plain.close()


@needs_bwrap
def test_a_macro_before_the_include_keeps_its_meaning(box: Box) -> None:
    # Under _GLIBCXX_DEBUG an out-of-range operator[] stops with the debug library's message: the headers
    # really were read in debug mode.
    source = "#define _GLIBCXX_DEBUG\n#include <bits/stdc++.h>\nint main() { std::vector<int> v(1); return v[3]; }\n"
    compiled, run, _ = box.compile_and_run(source)
    assert compiled.status is ExecStatus.OK, compiled.stderr
    assert run is not None and run.status is ExecStatus.RUNTIME_ERROR and "/debug/vector" in run.stderr
    # A macro that breaks the headers breaks them with the PCH as without it.
    broken, _, _ = box.compile_and_run("#define int long long\n#include <bits/stdc++.h>\nsigned main() {}\n")
    assert broken.status is ExecStatus.COMPILE_ERROR and "too long for GCC" in broken.stderr


@needs_bwrap
def test_compile_cache_hits_the_same_source_and_misses_a_changed_one(box: Box) -> None:
    stats = box.backend.compile_cache.stats
    source = STDCXX.replace("a + b", "a + b + 1000")
    first, _, binary = box.compile_and_run(source, "1 2")
    hits, misses = stats.hits, stats.misses
    again, run_again, binary_again = box.compile_and_run(source, "1 2")
    assert (stats.hits, stats.misses) == (hits + 1, misses)
    assert binary_again == binary
    assert (again.status, again.stdout, again.stderr) == (first.status, first.stdout, first.stderr)
    assert again.cpu_time_s == 0.0 < first.cpu_time_s  # the hit says it compiled nothing
    assert run_again is not None and run_again.stdout == "1003\n"
    _, run_changed, _ = box.compile_and_run(source.replace("1000", "2000"), "1 2")
    assert (stats.hits, stats.misses) == (hits + 1, misses + 1)
    assert run_changed is not None and run_changed.stdout == "2003\n"


@needs_bwrap
def test_copies_compiling_at_once_compile_once(box: Box) -> None:
    stats = box.backend.compile_cache.stats
    source = STDCXX.replace("a + b", "a - b")
    hits, misses = stats.hits, stats.misses

    results = box.group(source, copies=4, stdin="5 3")
    assert (stats.hits, stats.misses) == (hits + 3, misses + 1)
    assert [run.stdout for run in results] == ["2\n"] * 4


@needs_bwrap
def test_a_compile_error_is_not_cached(box: Box) -> None:
    stats = box.backend.compile_cache.stats
    bad = "#include <bits/stdc++.h>\nint main() { undefined_name(); }\n"
    for _ in range(2):
        compiled, _, _ = box.compile_and_run(bad)
        assert compiled.status is ExecStatus.COMPILE_ERROR and "undefined_name" in compiled.stderr
    entries, hits = stats.entries, stats.hits
    box.compile_and_run(bad)
    assert (stats.entries, stats.hits) == (entries, hits)


@needs_bwrap
def test_precompiled_headers_off_leaves_the_sandbox_without_them() -> None:
    plain = Box(precompiled_headers=False, cgroups="off")
    try:
        result = plain.bash(f"ls {PCH_DIR} 2>&1 || echo absent", {})
        assert result.stdout.strip().endswith("absent"), result.stdout
    finally:
        plain.close()


def test_world_readable_checks_every_ancestor() -> None:
    top = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path sits under a directory closed to others
    try:
        closed, inner = top / "closed", top / "closed" / "pch"
        inner.mkdir(parents=True)
        for path, mode in ((top, 0o755), (inner, 0o755), (closed, 0o700)):
            os.chmod(path, mode)
        assert not pch.world_readable(inner)
        os.chmod(closed, 0o755)
        assert pch.world_readable(inner)
    finally:
        shutil.rmtree(top)


# The docker backend (the image).


@pytest.mark.docker
def test_the_image_has_the_pch_and_its_compiler_uses_it() -> None:
    from sandbox.docker_pool import DockerOptions
    from tests.sandbox.docker_support import started_backend

    image = os.environ.get("SANDBOX_IMAGE") or DockerOptions().image
    flags = " ".join(CPP.header_flags())
    script = (
        f"ls {PCH_DIR} {PCH_DIR}/bits\n"
        f"g++ {flags} -isystem {PCH_DIR} -H -Winvalid-pch -fsyntax-only fits.cpp 2>&1 | grep -F '{PCH_DIR}'\n"
        f"cat {PCH_DIR}/bits/stdc++.h\n"
        f"touch {PCH_DIR}/written 2>/dev/null && echo WRITABLE || echo read-only\n"
    )
    with started_backend(DockerOptions(image=image, warm_containers=1, max_containers=2)) as box:
        listing = Program(language="bash", source=script, files={"fits.cpp": STDCXX})
        result = box.execute(listing, RunSpec(limits=BASH_LIMITS)).runs[0]
        assert result.status is ExecStatus.OK, (result.message, result.stderr)
        lines = result.stdout.splitlines()
        assert f"! {PCH_DIR}/bits/stdc++.h.gch" in lines, result.stdout
        assert {"stdc++.h.gch", *(f"{h}.gch" for h in CPP.precompiled_headers if "/" not in h)} <= set(lines)
        assert "#include_next <bits/stdc++.h>" in lines
        assert lines[-1] == "read-only"
        compiled = box.execute(Program(language="cpp", source=STDCXX, compile_limits=COMPILE), RunSpec(stdin="2 3"))
        assert compiled.compile is not None and compiled.compile.status is ExecStatus.OK, compiled.compile
        assert compiled.runs[0].stdout == "5\n"
