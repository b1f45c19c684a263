"""Decimals compared with a relative tolerance, and percentages read one way. Runs inside a worker process.

math-verify compares a float with a number by rounding both to ``float_rounding`` decimal places, which makes
``0.0000004`` equal ``10^{-7}`` (both round to 0) and ``1234567.4`` differ from ``1234567.4000001``. Here two
numbers, one of them a decimal, are equal when ``|a - b| <= rel_tol * max(|a|, |b|)``, computed exactly for
decimals (a decimal is the fraction it spells, so ``0.333333`` is within 1e-6 of 1/3) and at 30 digits for
irrational values. ``install()`` replaces math-verify's numeric comparison in this process (its other comparisons
call it by module name, so intervals, tuples and matrix entries use the rule too).

Percentages: the sign is a unit, ``50\\%`` is the number 50, never 0.5. math-verify accepts ``50\\%`` for both
a reference of 50 and one of 0.5, which lets a policy unsure of the scale cover both with one answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import math_verify.grader
from sympy import Basic, Float, MatrixBase, Mul, Number, Rational, UnevaluatedExpr

_PERCENT = UnevaluatedExpr(Rational(1, 100))
_original_numeric_eq = math_verify.grader.sympy_numeric_eq
_state = {"rel_tol": Rational(1, 10**6)}


@contextlib.contextmanager
def relative_tolerance(rel_tol: float) -> Iterator[None]:
    """Compare decimals with ``rel_tol`` inside the block (the worker grades one item at a time)."""
    previous = _state["rel_tol"]
    _state["rel_tol"] = Rational(repr(rel_tol))
    try:
        yield
    finally:
        _state["rel_tol"] = previous


def install() -> None:
    """Make math-verify's comparisons in this process use ``numeric_eq``."""
    math_verify.grader.sympy_numeric_eq = numeric_eq


def numeric_eq(a: Any, b: Any, float_rounding: int, numeric_precision: int) -> bool:
    """math-verify's ``sympy_numeric_eq`` with the rounding of floats replaced by a relative tolerance."""
    if isinstance(a, Basic) and isinstance(b, Basic) and _decimal_numbers(a, b):
        try:
            return close(a, b, _state["rel_tol"])
        except (TypeError, ValueError, ArithmeticError):
            return False
    return bool(_original_numeric_eq(a, b, float_rounding, numeric_precision))


def close(a: Basic, b: Basic, rel_tol: Rational) -> bool:
    """``|a - b| <= rel_tol * max(|a|, |b|)``: exact where both are rational (decimals as written), else at 30
    digits. Values that are not real numbers are equal only when sympy says so."""
    a, b = _exact(_percent_value(a)), _exact(_percent_value(b))
    if a.is_Rational and b.is_Rational:
        return bool(abs(a - b) <= rel_tol * max(abs(a), abs(b)))
    if not (a.is_number and b.is_number):
        return bool(a == b)
    diff, scale = abs(a - b).evalf(30), max(abs(a).evalf(30), abs(b).evalf(30))
    if not (diff.is_real and scale.is_real and diff.is_finite and scale.is_finite):
        return bool(a == b)
    return bool(diff <= rel_tol * scale)


def drop_percent(expr: Any) -> Any:
    """``expr`` with every ``X%`` (latex2sympy's ``X * UnevaluatedExpr(1/100)``) read as ``X``."""
    if isinstance(expr, MatrixBase) or not isinstance(expr, Basic) or not expr.has(_PERCENT):
        return expr
    return expr.replace(lambda e: _percent_number(e) is not None, lambda e: e.args[0])


def _percent_number(expr: Any) -> Any | None:
    if isinstance(expr, Mul) and len(expr.args) == 2 and expr.args[1] == _PERCENT:
        return expr.args[0]
    return None


def _percent_value(expr: Basic) -> Basic:
    number = _percent_number(expr)
    return expr if number is None else number


def _decimal_numbers(a: Basic, b: Basic) -> bool:
    """Two constant values, one of them holding a decimal (``0.5``, ``2.31 \\times 10^{-3}``)."""
    if isinstance(_percent_value(a), Float) or isinstance(_percent_value(b), Float):
        return True
    return (a.has(Float) or b.has(Float)) and bool(a.is_number) and bool(b.is_number)


def _exact(expr: Basic) -> Basic:
    """A float as the decimal fraction it was written as (sympy keeps 15 significant digits of it)."""
    if isinstance(expr, Float):
        return Rational(str(expr)) if expr.is_finite else expr
    if isinstance(expr, Number) or not expr.has(Float):
        return expr
    return expr.xreplace({f: Rational(str(f)) for f in expr.atoms(Float) if f.is_finite})
