"""The one table of languages: file names, compile and run commands.

Commands are argument vectors run in the program's work directory. Placeholders, filled by
``Language.render``: ``{memory_mb}`` (the run's memory limit, for runtimes that size their own heap).
The first word of a command is an executable name that each backend resolves in its own world (the host
``PATH`` for ``process``, the image for ``docker``); ``toolchain`` lists every executable the language
needs, so a backend can say which languages it can run.

Runtimes that reserve huge virtual address ranges up front (the JVM, V8) cannot live under an
address-space rlimit; for them ``address_space_limit`` is False and the memory limit reaches the runtime
through its own flag (``-Xmx``, ``--max-old-space-size``) and, where available, a cgroup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sandbox.errors import UnsupportedLanguage


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

    @property
    def compiled(self) -> bool:
        return self.compile is not None

    def render(self, command: tuple[str, ...], *, memory_mb: int) -> list[str]:
        return [word.replace("{memory_mb}", str(memory_mb)) for word in command]


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
        compile=("g++", "-std=c++17", "-O2", "-pipe", "-o", "main", "main.cpp"),
        run=("./main",),
        toolchain=("g++",),
        fence_tags=("c++", "cc", "cxx"),
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
        env={"GOCACHE": "/tmp/go-cache", "GOPATH": "/tmp/go", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"},
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
)

_BY_NAME: dict[str, Language] = {alias: lang for lang in LANGUAGES for alias in (lang.name, *lang.aliases)}


def get_language(name: str) -> Language:
    """The language called ``name`` (case-insensitive, aliases accepted); ``UnsupportedLanguage`` if none."""
    try:
        return _BY_NAME[name.strip().lower()]
    except KeyError:
        raise UnsupportedLanguage(name) from None


def language_names() -> list[str]:
    return [lang.name for lang in LANGUAGES]
