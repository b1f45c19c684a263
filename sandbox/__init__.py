"""Sandboxed code execution: runs untrusted programs and reports facts (status, output, time, memory).

A leaf package: it never imports ``verifier`` or any plugin, and knows nothing of rewards. The core
(types, errors, languages, backends) imports no web framework; ``sandbox.service`` (``sandbox serve``)
is the only module that does.
"""

from __future__ import annotations

from sandbox.errors import InvalidRequest, SandboxError, SandboxUnavailable, UnsupportedLanguage
from sandbox.languages import LANGUAGES, Language, get_language
from sandbox.types import (
    Backend,
    BackendHealth,
    ExecRequest,
    ExecResponse,
    ExecResult,
    ExecStatus,
    Executor,
    Limits,
    PairRequest,
    PairResponse,
    PairResult,
    PairSpec,
    Prepared,
    PreparedPair,
    Program,
    RunSpec,
    execute,
    execute_pair,
)

__all__ = [
    "LANGUAGES",
    "Backend",
    "BackendHealth",
    "ExecRequest",
    "ExecResponse",
    "ExecResult",
    "ExecStatus",
    "Executor",
    "InvalidRequest",
    "Language",
    "Limits",
    "PairRequest",
    "PairResponse",
    "PairResult",
    "PairSpec",
    "Prepared",
    "PreparedPair",
    "Program",
    "RunSpec",
    "SandboxError",
    "SandboxUnavailable",
    "UnsupportedLanguage",
    "execute",
    "execute_pair",
    "get_language",
]
