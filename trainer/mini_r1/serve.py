"""A verifier of our own for the mini R1 run: ``verifier serve`` in a subprocess on 127.0.0.1.

The trainer reaches it over HTTP only, exactly as it would reach a verifier on another machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import httpx

from trainer.errors import TrainerError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_verifier(
    plugins: Sequence[str] = ("math", "format"), *, math_workers: int = 1, start_timeout_s: float = 120.0
) -> Iterator[str]:
    """Start ``verifier serve`` with only ``plugins``; yield its URL once ``/readyz`` answers; stop it after."""
    port = free_port()
    command = [
        sys.executable, "-m", "verifier", "--allow", ",".join(plugins),
        "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "VERIFIER_PLUGIN_OPTIONS": json.dumps({"math": {"workers": math_workers}})}
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                raise TrainerError(f"`{' '.join(command)}` exited with status {process.returncode} at startup")
            try:
                if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TrainerError(f"the verifier at {url} was not ready after {start_timeout_s:.0f}s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
