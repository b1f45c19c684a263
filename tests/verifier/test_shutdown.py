"""SIGTERM on a real server: the batch in flight finishes, then the process exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from verifier.cli import main
from verifier.local import free_port

ROOT = Path(__file__).resolve().parents[2]

SERVER = textwrap.dedent(
    """
    import sys, uvicorn
    from tests.verifier import plugins_for_tests
    from verifier.http import create_app
    from verifier.registry import create_plugin_manager
    from verifier.settings import Settings
    pm = create_plugin_manager(allow=["format"], plugins={"tests": plugins_for_tests})
    app = create_app(Settings(), plugin_manager=pm)
    port = int(sys.argv[1])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=20)
    """
)


@pytest.mark.slow
def test_sigterm_lets_the_batch_in_flight_finish() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/readyz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        outcome: dict[str, httpx.Response] = {}

        def slow_batch() -> None:
            body = {"rewards": ["slow"], "items": [{"completion": "x"}] * 3}
            outcome["slow"] = httpx.post(f"{url}/v1/verify", json=body, timeout=30)

        thread = threading.Thread(target=slow_batch)
        thread.start()
        time.sleep(0.4)  # the batch is being scored (the reward sleeps for a second)
        process.send_signal(signal.SIGTERM)
        thread.join(timeout=30)
        # uvicorn re-raises the signal after its graceful shutdown, so "killed by SIGTERM" is the clean exit.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert outcome["slow"].status_code == 200
        assert [r["scores"]["slow"] for r in outcome["slow"].json()["results"]] == [1.0, 1.0, 1.0]
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_refuses_a_network_address_without_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "without API keys" in capsys.readouterr().err
