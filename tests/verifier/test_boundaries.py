"""``import verifier`` (the plugin API) and the client stay free of the web stack."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["verifier", "verifier.client", "verifier.scoring", "verifier_format"])
def test_core_imports_do_not_pull_the_http_layer(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'fastapi', 'starlette', 'uvicorn'} "
        "or m.startswith('verifier.http')); print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
