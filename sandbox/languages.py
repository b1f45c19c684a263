"""The one table of languages: file names, compile and run commands.

Commands are argument vectors run in the program's work directory. Placeholders, filled by
``Language.render``: ``{memory_mb}`` (the run's memory limit, for runtimes that size their own heap).
The first word of a command is an executable name that each backend resolves in its own world (the host
``PATH`` for ``process``, the image for ``docker``); ``toolchain`` lists every executable the language
needs, so a backend can say which languages it can run; an entry that is an absolute path is a file the
language needs (a jar), which must exist there.

``precompiled_headers`` (C++): headers that backends precompile with the language's own compile flags into
``PCH_DIR``, which the compile then searches before the standard directories (``-isystem``); see
``sandbox/pch.py``.

Runtimes that reserve huge virtual address ranges up front (the JVM, V8) cannot live under an
address-space rlimit; for them ``address_space_limit`` is False and the memory limit reaches the runtime
through its own flag (``-Xmx``, ``--max-old-space-size``) and, where available, a cgroup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sandbox.errors import UnsupportedLanguage

TYPESCRIPT_MODULE = "/usr/share/nodejs/typescript/lib/typescript.js"
"""Debian's TypeScript compiler (node-typescript), loaded by path: Node's own module path may not reach it."""

# Reports syntax errors as tsc does (file(line,col): error TSnnnn) and writes main.js only when there are none.
TS_TRANSPILE = (
    f'const ts = require("{TYPESCRIPT_MODULE}"), fs = require("fs"), name = process.argv[1];'
    'const out = ts.transpileModule(fs.readFileSync(name, "utf8"), {reportDiagnostics: true, fileName: name,'
    " compilerOptions: {target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.CommonJS}});"
    "for (const d of out.diagnostics) {"
    " const at = d.file ? d.file.getLineAndCharacterOfPosition(d.start) : null;"
    ' console.error((at ? `${name}(${at.line + 1},${at.character + 1}): ` : "")'
    ' + `error TS${d.code}: ` + ts.flattenDiagnosticMessageText(d.messageText, "\\n")); }'
    'if (out.diagnostics.length) process.exit(1); fs.writeFileSync(name.replace(/\\.ts$/, ".js"), out.outputText);'
)

PCH_DIR = "/opt/pch"
"""Where precompiled headers are inside the sandbox: the image builds them there; the process backend binds its
cache there read-only, one directory per build. An include directory that does not exist is ignored by g++."""

JUNIT_CONSOLE = "/usr/share/java/junit-platform-console-standalone.jar"
"""Debian's junit5 package: the JUnit Platform console launcher with the Jupiter and Vintage engines."""

JUNIT_COMPILE = (
    'name=$(sed -nE "s/^[[:space:]]*public[[:space:]]+((final|abstract)[[:space:]]+)*class[[:space:]]+'
    '([A-Za-z_][A-Za-z0-9_]*).*/\\3/p" Main.java | head -n 1); '
    'if [ -n "$name" ] && [ "$name" != Main ]; then mv Main.java "$name.java"; fi; '
    f'exec javac -J-Xmx512m -encoding UTF-8 -cp .:{JUNIT_CONSOLE} -d . $(find . -name "*.java")'
)


@dataclass(frozen=True, slots=True)
class Language:
    name: str
    source_name: str
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    toolchain: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    address_space_limit: bool = True
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for compile and run (the environment is otherwise empty but for PATH/HOME/LANG)."""
    fence_tags: tuple[str, ...] = ()
    """Markdown fence info strings that denote this language (```py, ```c++ ...), besides name and aliases."""
    precompiled_headers: tuple[str, ...] = ()
    """Headers worth precompiling: a program whose first include is one of them compiles from the PCH."""

    @property
    def compiled(self) -> bool:
        return self.compile is not None

    def render(self, command: tuple[str, ...], *, memory_mb: int) -> list[str]:
        return [word.replace("{memory_mb}", str(memory_mb)) for word in command]

    def compile_argv(self, *, memory_mb: int, pch_dir: str | None) -> list[str]:
        """The compile command; with ``pch_dir`` (for a language that has precompiled headers) the compiler
        searches it before the standard directories, as a system directory (``pch.py`` says what is there)."""
        assert self.compile is not None
        argv = self.render(self.compile, memory_mb=memory_mb)
        if pch_dir is not None and self.precompiled_headers:
            argv[1:1] = ["-isystem", pch_dir]
        return argv

    def header_flags(self) -> list[str]:
        """The compile flags a precompiled header must be built with to be valid for this language's
        compiles: the compile command without the compiler, its output (``-o X``) and its source."""
        assert self.compile is not None
        flags = list(self.compile[1:])
        if "-o" in flags:
            del flags[flags.index("-o") : flags.index("-o") + 2]
        return [flag for flag in flags if flag != self.source_name]


LANGUAGES: tuple[Language, ...] = (
    Language(
        name="python",
        aliases=("python3", "py"),
        source_name="main.py",
        # -E ignores PYTHON* variables, -s the user site; -B writes no .pyc into the work dir.
        run=("python3", "-E", "-s", "-B", "main.py"),
        toolchain=("python3",),
        fence_tags=("py", "python3"),
    ),
    Language(
        name="cpp",
        aliases=("c++", "cpp17", "cxx"),
        source_name="main.cpp",
        # -O2 as judges use; -pipe (no temporary files); no -g (debug info only slows the compile and
        # grows the binary). See docs/sandbox.md, "C++ compiles".
        compile=("g++", "-std=c++17", "-O2", "-pipe", "-o", "main", "main.cpp"),
        run=("./main",),
        toolchain=("g++",),
        fence_tags=("c++", "cc", "cxx"),
        precompiled_headers=("bits/stdc++.h", "iostream", "cstdio", "vector", "algorithm", "string"),
    ),
    Language(
        name="c",
        source_name="main.c",
        compile=("gcc", "-std=c11", "-O2", "-pipe", "-o", "main", "main.c", "-lm"),
        run=("./main",),
        toolchain=("gcc",),
    ),
    Language(
        name="javascript",
        aliases=("js", "node", "nodejs"),
        source_name="main.js",
        run=("node", "--max-old-space-size={memory_mb}", "main.js"),
        toolchain=("node",),
        address_space_limit=False,
        fence_tags=("js", "javascript", "node"),
    ),
    Language(
        name="java",
        source_name="Main.java",
        compile=("javac", "-J-Xmx512m", "-encoding", "UTF-8", "Main.java"),
        run=(
            "java",
            "-Xmx{memory_mb}m",
            "-Xss64m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-cp",
            ".",
            "Main",
        ),
        toolchain=("javac", "java"),
        address_space_limit=False,
    ),
    Language(
        name="go",
        aliases=("golang",),
        source_name="main.go",
        compile=("go", "build", "-o", "main", "main.go"),
        run=("./main",),
        toolchain=("go",),
        # The root is read-only: the build cache lives in the run's /tmp (cold each compile; the standard
        # library is prebuilt in GOROOT). No module download: GOFLAGS keeps `go build` offline.
        env={
            "GOCACHE": "/tmp/go-cache",
            "GOPATH": "/tmp/go",
            "CGO_ENABLED": "0",
            "GOFLAGS": "-mod=mod",
            "GOPROXY": "off",
            "GOTOOLCHAIN": "local",
        },
        fence_tags=("go", "golang"),
    ),
    Language(
        name="rust",
        aliases=("rs",),
        source_name="main.rs",
        compile=("rustc", "-O", "--edition", "2021", "-o", "main", "main.rs"),
        run=("./main",),
        toolchain=("rustc",),
        fence_tags=("rust", "rs"),
    ),
    Language(
        name="bash",
        aliases=("shell",),
        source_name="main.sh",
        run=("bash", "main.sh"),
        toolchain=("bash",),
        fence_tags=("sh", "shell", "bash"),
    ),
    Language(
        name="typescript",
        aliases=("ts",),
        source_name="main.ts",
        # Transpiled, not type-checked: SandboxFusion runs TypeScript with tsx (esbuild), which strips types,
        # so a syntax error fails the compile and a type error does not.
        compile=("node", "-e", TS_TRANSPILE, "main.ts"),
        run=("node", "--max-old-space-size={memory_mb}", "main.js"),
        toolchain=("node", TYPESCRIPT_MODULE),
        address_space_limit=False,
        fence_tags=("ts", "typescript"),
    ),
    Language(
        name="php",
        source_name="main.php",
        run=("php", "main.php"),
        toolchain=("php",),
    ),
    Language(
        name="ruby",
        aliases=("rb",),
        source_name="main.rb",
        run=("ruby", "main.rb"),
        toolchain=("ruby",),
        fence_tags=("rb",),
    ),
    Language(
        name="lua",
        source_name="main.lua",
        run=("lua5.4", "main.lua"),
        toolchain=("lua5.4",),
    ),
    Language(
        name="perl",
        aliases=("pl",),
        source_name="main.pl",
        run=("perl", "main.pl"),
        toolchain=("perl",),
        fence_tags=("pl",),
    ),
    Language(
        name="r",
        aliases=("rscript",),
        source_name="main.R",
        run=("Rscript", "--vanilla", "main.R"),
        toolchain=("Rscript",),
    ),
    Language(
        name="scala",
        source_name="main.scala",
        # A jar whose manifest names the one object with a main method, whatever it is called.
        compile=("scalac", "-d", "main.jar", "main.scala"),
        run=("scala", "-J-Xmx{memory_mb}m", "-J-Xss64m", "-J-XX:+UseSerialGC", "main.jar"),
        toolchain=("scalac", "scala"),
        address_space_limit=False,
        env={"JAVA_OPTS": "-Xmx1024m -XX:+UseSerialGC"},
    ),
    Language(
        name="csharp",
        aliases=("cs", "c#", "mono"),
        source_name="main.cs",
        compile=("mcs", "-optimize+", "-out:main.exe", "main.cs"),
        run=("mono", "main.exe"),
        toolchain=("mcs", "mono"),
        fence_tags=("cs", "csharp", "c#"),
    ),
    Language(
        name="kotlin",
        aliases=("kt",),
        source_name="main.kt",
        compile=("kotlinc", "main.kt", "-include-runtime", "-d", "main.jar"),
        run=("java", "-Xmx{memory_mb}m", "-Xss64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", "main.jar"),
        toolchain=("kotlinc", "java"),
        address_space_limit=False,
        env={"JAVA_OPTS": "-Xmx1024m -XX:+UseSerialGC -XX:-PrintWarnings"},
        fence_tags=("kt", "kotlin"),
    ),
    Language(
        name="kotlin_script",
        aliases=("kts",),
        source_name="main.kts",
        # -PrintWarnings: the kotlinc script passes -noverify, which JDK 13+ warns about on every start.
        run=("kotlinc", "-J-Xmx{memory_mb}m", "-J-XX:+UseSerialGC", "-J-XX:-PrintWarnings", "-script", "main.kts"),
        toolchain=("kotlinc",),
        address_space_limit=False,
    ),
    Language(
        name="pytest",
        source_name="test_main.py",
        # Debian's pytest, on the system Python; no cache or bytecode written into the work dir.
        run=("pytest", "-q", "-p", "no:cacheprovider", "test_main.py"),
        toolchain=("pytest",),
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    ),
    Language(
        name="junit",
        source_name="Main.java",
        # javac wants a public class in a file of its name: the source is renamed after its first public class
        # (as SandboxFusion names it), then every .java file (the extra files too) is compiled.
        compile=("bash", "-c", JUNIT_COMPILE),
        run=(
            "java", "-Xmx{memory_mb}m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", JUNIT_CONSOLE,
            "--class-path", ".", "--scan-class-path", "--disable-banner", "--details=tree", "--fail-if-no-tests",
        ),
        toolchain=("bash", "javac", "java", JUNIT_CONSOLE),
        address_space_limit=False,
    ),
    Language(
        name="d_ut",
        aliases=("d",),
        source_name="main.d",
        # SandboxFusion's D_ut: the program with its unittest blocks, which run first; main runs if they pass.
        compile=("gdc", "-funittest", "-O1", "-o", "main", "main.d"),
        run=("./main", "--DRT-testmode=run-main"),
        toolchain=("gdc",),
        fence_tags=("d",),
    ),
    Language(
        name="verilog",
        aliases=("systemverilog", "iverilog"),
        source_name="main.sv",
        # As SandboxFusion (after NVlabs' verilog-eval): the top module is `tb`.
        compile=("iverilog", "-Wall", "-Winfloop", "-Wno-timescale", "-g2012", "-s", "tb", "-o", "main.vvp", "main.sv"),
        run=("vvp", "-n", "main.vvp"),
        toolchain=("iverilog", "vvp"),
        fence_tags=("verilog", "systemverilog", "sv"),
    ),
)

_BY_NAME: dict[str, Language] = {alias: lang for lang in LANGUAGES for alias in (lang.name, *lang.aliases)}


def get_language(name: str) -> Language:
    """The language called ``name`` (case-insensitive, aliases accepted); ``UnsupportedLanguage`` if none."""
    try:
        return _BY_NAME[name.strip().lower()]
    except KeyError:
        raise UnsupportedLanguage(name) from None
