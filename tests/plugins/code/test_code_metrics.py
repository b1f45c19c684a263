"""The ``code`` reward's own metrics, read from a live verifier's ``/metrics`` (real uvicorn, real bubblewrap).

The metrics live on prometheus_client's default registry, shared by every test in the process, so each test
compares counts before and after its own batch.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import verifier_code
import verifier_code.metrics
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tests.system import needs_bwrap
from verifier.http import create_app
from verifier.registry import create_plugin_manager
from verifier.settings import Settings

pytestmark = needs_bwrap

ECHO_TWICE = {"tests": [{"input": "21\n", "output": "42\n"}, {"input": "2\n", "output": "4\n"}]}


def sample(url: str, name: str, **labels: str) -> float:
    """One sample of ``/metrics`` (0.0 when the series does not exist yet)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def code_service(options: dict[str, Any]) -> FastAPI:
    pm = create_plugin_manager(load_entrypoints=False, plugins={"code": verifier_code})
    return create_app(Settings(plugin_options={"code": options}, log_level="warning"), plugin_manager=pm)


def verify(url: str, items: list[dict[str, Any]], **params: Any) -> list[dict[str, Any]]:
    body = {"rewards": ["code"], "items": items, "params": {"code": params}}
    response = httpx.post(f"{url}/v1/verify", json=body, timeout=120)
    assert response.status_code == 200
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_sandbox_runs_are_counted_by_status_and_language(live_server: Callable[[FastAPI], str]) -> None:
    url = live_server(code_service({"isolation": "bwrap"}))
    runs = "verifier_code_sandbox_runs_total"
    series = [
        ("ok", "python"),
        ("runtime_error", "python"),
        ("timeout", "python"),
        ("compile_error", "cpp"),
        ("ok", "cpp"),
    ]
    before = {key: sample(url, runs, status=key[0], language=key[1]) for key in series}
    items = [
        {"completion": "print(int(input()) * 2)", "reference": ECHO_TWICE},  # 2 ok runs
        {"completion": "raise SystemExit(3)", "reference": ECHO_TWICE},  # 2 runtime errors
        {"completion": "while True:\n    pass", "reference": ECHO_TWICE},  # 2 timeouts
        {"completion": "```cpp\nint main() { return }\n```", "reference": ECHO_TWICE},
        {
            "completion": "```cpp\n#include <iostream>\nint main() { long x; std::cin >> x; std::cout << 2 * x; }\n```",
            "reference": ECHO_TWICE,
        },
    ]
    results = verify(url, items[:3], time_limit_s=1)
    assert [r["scores"]["code"] for r in results] == [1.0, 0.0, 0.0]
    results = verify(url, items[3:], language="cpp")
    assert [r["scores"]["code"] for r in results] == [0.0, 1.0]

    after = {key: sample(url, runs, status=key[0], language=key[1]) for key in series}
    assert {key: after[key] - before[key] for key in series} == {key: 2.0 for key in series}
    assert sample(url, "verifier_code_programs_in_flight") == 0.0


def test_programs_in_flight_rise_while_a_batch_runs_and_fall_after(live_server: Callable[[FastAPI], str]) -> None:
    url = live_server(code_service({"isolation": "bwrap"}))
    gauge = "verifier_code_programs_in_flight"
    assert sample(url, gauge) == 0.0
    slow = "import time\ntime.sleep(5)\nprint(int(input()) * 2)"
    outcome: dict[str, list[dict[str, Any]]] = {}
    thread = threading.Thread(
        target=lambda: outcome.update(
            results=verify(url, [{"completion": slow, "reference": ECHO_TWICE}] * 3, time_limit_s=60)
        )
    )
    thread.start()
    try:
        # Three items with the same program are still three programs in the sandbox.
        wait_until(lambda: sample(url, gauge) == 3.0 or not thread.is_alive(), "three programs in flight")
        seen_in_flight = thread.is_alive()
    finally:
        thread.join(timeout=120)
    assert seen_in_flight
    assert [r["scores"]["code"] for r in outcome["results"]] == [1.0] * 3
    assert sample(url, gauge) == 0.0


def test_a_sandbox_that_cannot_be_reached_counts_its_runs_as_sandbox_errors(
    live_server: Callable[[FastAPI], str],
) -> None:
    url = live_server(code_service({"backend": "remote", "urls": ["http://127.0.0.1:9"], "request_timeout_s": 5}))
    labels = {"status": "sandbox_error", "language": "python"}
    before = sample(url, "verifier_code_sandbox_runs_total", **labels)
    [result] = verify(url, [{"completion": "print(42)", "reference": ECHO_TWICE}])
    assert result["scores"]["code"] is None and "sandbox unavailable" in result["errors"]["code"]
    assert sample(url, "verifier_code_sandbox_runs_total", **labels) - before == 2.0


def test_loading_the_metrics_module_again_reuses_its_metrics() -> None:
    runs = verifier_code.metrics.SANDBOX_RUNS
    reloaded = importlib.reload(verifier_code.metrics)  # a second registration would raise "Duplicated timeseries"
    assert reloaded.SANDBOX_RUNS is runs
