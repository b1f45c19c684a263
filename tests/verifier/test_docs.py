"""The documentation lists every hook with its real signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from verifier import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _hookspecs() -> dict[str, str]:
    specs = {}
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if hasattr(function, f"{hookspecs.PROJECT_NAME}_spec"):
            signature = inspect.signature(function)
            params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
            specs[name] = f"{name}({params}) -> {signature.return_annotation}"
    return specs


def test_every_hook_is_documented_with_its_signature() -> None:
    documented = set(re.findall(r"^### `([^`]+)`$", DOC.read_text(), flags=re.MULTILINE))
    assert documented == set(_hookspecs().values())


def test_every_hook_has_a_docstring() -> None:
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if hasattr(function, f"{hookspecs.PROJECT_NAME}_spec"):
            assert function.__doc__ and function.__doc__.strip(), name
