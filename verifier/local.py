"""A verifier of one's own: ``verifier serve`` in a subprocess on 127.0.0.1, for scripts, benchmarks and the
trainer's local runs. It is reached over HTTP only, exactly as a verifier on another machine would be."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from verifier.errors import LocalVerifierError


@dataclass(frozen=True)
class LocalVerifier:
    url: str
    pid: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_verifier(
    *global_args: str,
    env: Mapping[str, str] | None = None,
    serve_args: Sequence[str] = ("--log-level", "warning"),
    start_timeout_s: float = 120.0,
) -> Iterator[LocalVerifier]:
    """Start ``verifier [global_args] serve --port P`` with ``env`` over this process's environment; yield once
    ``/readyz`` answers 200; stop it (SIGTERM, then SIGKILL after 30 s) when the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "verifier", *global_args, "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen([*command, *serve_args], env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                raise LocalVerifierError(f"`{' '.join(command)}` exited with status {process.returncode} at startup")
            try:
                if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise LocalVerifierError(f"the verifier at {url} was not ready after {start_timeout_s:.0f} s")
            time.sleep(0.1)
        yield LocalVerifier(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
