"""``verifier.local``: a real ``verifier serve`` subprocess on 127.0.0.1 for scripts and the trainer."""

from __future__ import annotations

import os

import httpx
import pytest

from verifier.errors import LocalVerifierError
from verifier.local import local_verifier


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): it is gone once /proc says so or it was reaped.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_local_verifier_serves_until_the_block_ends() -> None:
    with local_verifier("--allow", "format") as verifier:
        assert httpx.get(f"{verifier.url}/readyz", timeout=10).status_code == 200
        names = [r["name"] for r in httpx.get(f"{verifier.url}/v1/rewards", timeout=10).json()["rewards"]]
        assert "format" in names and "math" not in names
        assert _alive(verifier.pid)
    assert not _alive(verifier.pid)


def test_a_verifier_that_cannot_start_is_a_clear_error() -> None:
    with (
        pytest.raises(LocalVerifierError, match="exited with status 2 at startup"),
        local_verifier(env={"VERIFIER_MAX_BATCH_ITEMS": "0"}),
    ):
        pass
