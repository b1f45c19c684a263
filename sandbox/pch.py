"""Precompiled C++ headers: built once per compiler and flags, read-only to every compile.

When g++ meets ``#include <bits/stdc++.h>`` it looks, in each include directory, for
``bits/stdc++.h.gch`` before the header itself, and uses it only if it is valid for this compile: the same
compiler, the same flags (``-std``, ``-O``, ...), no macro defined before the include that the header
mentions (``#define _GLIBCXX_DEBUG``, ``#define int long long``), no target or optimize pragma before it,
no code before it, and no other PCH used yet. Otherwise it reads the header *of that directory*.

So the directory, searched before the standard ones (``-isystem``: its headers stay system headers), holds
for each header its ``.gch`` and a one-line ``<header>`` that is ``#include_next <header>``: whenever the
PCH is not used (it does not fit, or the header is included a second time, as ``<cstdio>`` is by other
headers), the compile goes on to the system's own header exactly as without the directory. (With the
``.gch`` alone, a second ``#include <cstdio>`` fails: g++ looks for the header next to the PCH it used.)

Each ``.gch`` is compiled from a wrapper, ``#include <header>``: the header is reached through the system
include path and keeps its system-header status (a header compiled as the main file loses it:
"#pragma system_header ignored outside include file").

The process backend builds them on the host (trusted input only: the system's headers, never a program's
code) into ``<cache>/<key>/``, the key a hash of the compiler's identity, the flags and the headers; a
manifest lists every file the build read, and a change to any of them (a package upgrade) rebuilds. The
directory is bound read-only into the sandbox at ``languages.PCH_DIR``. The docker image builds its own
at ``PCH_DIR`` (sandbox/Dockerfile).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from sandbox.bwrap import SAFE_PATH
from sandbox.languages import Language

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LAYOUT = 2  # what a build directory holds (2: each .gch with its include_next header); in the key
BUILD_TIMEOUT_S = 300.0
# The environment of a compile in the sandbox: variables such as CPATH must not shape the build.
BUILD_ENV = {"PATH": SAFE_PATH, "HOME": "/tmp", "LANG": "C.UTF-8"}


def default_cache_root() -> Path:
    """The user's cache; under root /var/cache, since the sandbox's user (host "nobody") must read it and
    root's home is closed to it."""
    if os.geteuid() == 0:
        return Path("/var/cache/r1-verifier/pch")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "r1-verifier" / "pch"


def world_readable(directory: Path) -> bool:
    """Whether any user can reach ``directory`` and list it: every ancestor searchable by others."""
    path = directory.resolve()
    for ancestor in (path, *path.parents):
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def gch_name(header: str) -> str:
    return f"{header}.gch"


def forwarding_header(header: str) -> str:
    """The header next to a ``.gch``: what the compile reads whenever the PCH is not used."""
    return f"#include_next <{header}>\n"


def _stat_key(path: str) -> list[int]:
    info = os.stat(path)
    return [info.st_size, info.st_mtime_ns]


def _compiler_identity(compiler: str) -> dict[str, object]:
    """What makes two compilers the same one: the driver, the C++ front end and the version banner."""
    real = os.path.realpath(compiler)
    front_end = subprocess.run(
        [real, "-print-prog-name=cc1plus"], capture_output=True, text=True, env=BUILD_ENV, check=True, timeout=30
    ).stdout.strip()
    version = subprocess.run(
        [real, "--version"], capture_output=True, text=True, env=BUILD_ENV, check=True, timeout=30
    ).stdout.splitlines()[0]
    identity: dict[str, object] = {"driver": real, "driver_stat": _stat_key(real), "version": version}
    if os.path.isabs(front_end) and os.path.exists(front_end):
        identity["cc1plus"] = [os.path.realpath(front_end), _stat_key(front_end)]
    return identity


def build_key(language: Language, compiler: str) -> str:
    """A hash of everything a valid PCH depends on besides the headers' own content (see the manifest)."""
    identity = {
        "compiler": _compiler_identity(compiler),
        "flags": language.header_flags(),
        "headers": list(language.precompiled_headers),
        "layout": LAYOUT,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def _manifest_valid(directory: Path) -> bool:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files: dict[str, list[int]] = manifest["inputs"]
        return all(_stat_key(path) == key for path, key in files.items()) and all(
            (directory / gch_name(header)).is_file() and (directory / header).is_file()
            for header in manifest["headers"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _dependencies(depfile: Path) -> list[str]:
    """The files a ``-MD`` dependency file names (its first word is the target)."""
    text = depfile.read_text().replace("\\\n", " ")
    _, _, rest = text.partition(":")
    return [word for word in rest.split() if os.path.isabs(word)]


def _build_into(directory: Path, language: Language, compiler: str) -> None:
    inputs: dict[str, list[int]] = {}
    work = Path(tempfile.mkdtemp(prefix="wrap-", dir=directory))
    try:
        for header in language.precompiled_headers:
            wrapper, depfile = work / "wrapper.h", work / "wrapper.d"
            wrapper.write_text(f"#include <{header}>\n")
            target = directory / gch_name(header)
            target.parent.mkdir(parents=True, exist_ok=True)
            for parent in target.relative_to(directory).parents:
                (directory / parent).chmod(0o755)  # whatever the umask: the sandbox's user reads them
            command = [compiler, *language.header_flags(), "-x", "c++-header", str(wrapper), "-o", str(target)]
            proc = subprocess.run(
                [*command, "-MD", "-MF", str(depfile)],
                capture_output=True,
                text=True,
                env=BUILD_ENV,
                cwd=work,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
            if proc.returncode != 0:
                raise OSError(f"{' '.join(command)} failed: {proc.stderr.strip()[-500:]}")
            target.chmod(0o644)
            (directory / header).write_text(forwarding_header(header))
            (directory / header).chmod(0o644)
            for path in _dependencies(depfile):
                if not path.startswith(str(work)):
                    inputs[path] = _stat_key(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest = {"headers": list(language.precompiled_headers), "flags": language.header_flags(), "inputs": inputs}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    (directory / MANIFEST).chmod(0o644)


def ensure(language: Language, compiler: str, cache_root: Path) -> Path:
    """The directory of ``language``'s precompiled headers for ``compiler``, built now if missing or stale.

    Several services may share ``cache_root``: one builds (under a lock) while the others wait for it.
    Raises ``OSError`` (or ``subprocess.SubprocessError``) when they cannot be built."""
    key = build_key(language, compiler)
    directory = cache_root / key
    if _manifest_valid(directory):
        return directory
    cache_root.mkdir(parents=True, exist_ok=True, mode=0o755)
    with open(cache_root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _manifest_valid(directory):
            return directory
        headers = ", ".join(language.precompiled_headers)
        log.info("sandbox: precompiling %s for %s into %s", headers, compiler, directory)
        building = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_root))
        try:
            _build_into(building, language, compiler)
            stale = None
            if directory.exists():
                stale = Path(tempfile.mkdtemp(prefix=f".{key}-stale-", dir=cache_root))
                directory.rename(stale / "old")
            building.rename(directory)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        if stale is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(stale)
    return directory
