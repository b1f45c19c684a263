"""The sandbox's exceptions: one tree, rooted at ``SandboxError``.

::

    SandboxError
     ├── SandboxUnavailable      the infrastructure failed: no bubblewrap/zygote, docker daemon or sandbox
     │                           service unreachable, a pool that died. Callers turn this into "no verdict"
     │                           (null + error), never into a 0.0 score.
     └── InvalidRequest          the request cannot be run as asked (bad limits, bad file names)
          └── UnsupportedLanguage  no such language, or its toolchain is absent on this backend

Untrusted code that crashes, times out or floods its output is NOT an exception: it is an ``ExecResult``
with the matching status. Exceptions here are about the sandbox itself, and they are all of the package's:
docker's and requests' exceptions become ``SandboxUnavailable`` in the docker pool and channel, httpx's in the
sandbox client; a missing bubblewrap, seccomp or zygote in the process backend.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every exception the sandbox raises."""


class SandboxUnavailable(SandboxError):
    """The sandbox infrastructure cannot run programs right now (an infrastructure failure, retryable)."""


class InvalidRequest(SandboxError, ValueError):
    """The request is malformed or asks for something this backend cannot do."""


class UnsupportedLanguage(InvalidRequest):
    """The language is unknown, or its toolchain is not installed where the backend runs programs."""

    def __init__(self, language: str, reason: str = "unknown language") -> None:
        super().__init__(f"{language}: {reason}")
        self.language = language
        self.reason = reason
