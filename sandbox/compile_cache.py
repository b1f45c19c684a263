"""A cache of successful compiles, keyed by their exact inputs, bounded in bytes (the process backend's).

GRPO samples a group of completions per prompt and many are identical; each identical program would
compile again. The key is a SHA-256 of everything a compile reads that can differ between two compiles
here: the language, the compile command (flags included), every file of the program (name, mode, content)
and the toolchain's identity (each executable's path, size and mtime, and the precompiled headers' build
key). A hit hands back the files the compile produced (the binary) and its result, and skips the compile.

Why it cannot be poisoned: an entry is only ever served for the exact bytes that produced it. A program
that wants another program's entry must have the same source, files and flags, that is, be that program,
and then the binary is the one its own compile would have given. What it can learn is whether the same
program was compiled before (a hit is faster): no concern for a reward service, whose programs are the
trainer's own samples. Compile-time non-determinism (``__TIME__``, reading /proc at compile time) is frozen
at the first compile; such programs are rare and get a binary that a compile really produced.

Only successful compiles are stored: a failure may be the limits' doing (a timeout under load) rather
than the source's, and a real compile error is cheap to reproduce.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.types import ExecResult, MiB

DEFAULT_MAX_BYTES = 256 * MiB

FileEntry = list[Any]  # [mode, base64 content], as files travel to and from a run's supervisor


def compile_key(
    language: str, argv: list[str], files: Mapping[str, FileEntry], toolchain: Mapping[str, object]
) -> str:
    """SHA-256 over the compile's exact inputs; one JSON document, so no two inputs share an encoding."""
    document = {
        "language": language,
        "argv": argv,
        "files": {name: [entry[0], entry[1]] for name, entry in sorted(files.items())},
        "toolchain": toolchain,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class CachedCompile:
    result: ExecResult
    outputs: dict[str, FileEntry]
    size: int


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    entries: int = 0
    bytes: int = 0


class CompileCache:
    """Least-recently-used entries up to ``max_bytes`` (the compile outputs' decoded size plus the result's
    text); an entry larger than the whole bound is not stored. Thread-safe."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CachedCompile] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.stats = CacheStats()

    def get(self, key: str) -> CachedCompile | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.stats.misses += 1
                return None
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry

    def put(self, key: str, result: ExecResult, outputs: dict[str, FileEntry]) -> None:
        size = sum(len(base64.b64decode(entry[1])) for entry in outputs.values())
        size += len(result.stdout) + len(result.stderr) + len(key)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.stats.bytes -= old.size
            self._entries[key] = CachedCompile(result, dict(outputs), size)
            self.stats.bytes += size
            while self.stats.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.stats.bytes -= evicted.size
                self.stats.evictions += 1
            self.stats.entries = len(self._entries)
