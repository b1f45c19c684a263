"""Comparing a program's output with the expected output: token-wise, with optional float tolerance."""

from __future__ import annotations

import math
from typing import Any


def tokens_match(actual: str, expected: str, float_tolerance: float | None = None) -> bool:
    """Same whitespace-separated tokens (line breaks and spacing do not matter); numeric tokens may differ by
    ``float_tolerance`` (absolute or relative). Extra or missing output fails."""
    got, want = actual.split(), expected.split()
    if len(got) != len(want):
        return False
    return all(a == b or _close(a, b, float_tolerance) for a, b in zip(got, want, strict=True))


def _close(a: str, b: str, tolerance: float | None) -> bool:
    if tolerance is None:
        return False
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if math.isnan(x) or math.isnan(y):
        return False
    return math.isclose(x, y, rel_tol=tolerance, abs_tol=tolerance)


def values_match(actual: Any, expected: Any, float_tolerance: float | None = None) -> bool:
    """Deep equality of JSON values decoded on the host (the program's own ``__eq__`` never runs here).

    Lists and tuples are the same JSON array; a float matches an int of the same value; bools are not
    numbers."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        if actual == expected:
            return True
        tol = float_tolerance if float_tolerance is not None else 0.0
        return tol > 0 and math.isclose(actual, expected, rel_tol=tol, abs_tol=tol)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(
            values_match(a, e, float_tolerance) for a, e in zip(actual, expected, strict=True)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(
            values_match(actual[k], expected[k], float_tolerance) for k in expected
        )
    return type(actual) is type(expected) and bool(actual == expected)
