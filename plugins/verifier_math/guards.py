"""Cheap checks that refuse pathological answers before sympy sees them.

The hard per-item deadline already bounds every input; these checks make the common bad cases cost
microseconds instead of a timeout and a worker restart. Each is one linear scan of a short string:

- length: an answer longer than ``max_answer_chars`` (a 50k-character expression);
- nesting: brackets nested deeper than ``max_nesting`` (300 nested ``\\frac`` take seconds to parse);
- power towers: exponents nested deeper than ``max_power_depth`` (``9^{9^{9^{9}}}``; sympy's big-integer
  power holds the GIL, so not even a signal can stop it);
- size: a literal number with more than ``max_digits`` digits, or a literal power or factorial whose value
  would have more (``9^{9^{9}}``, ``100000!``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GuardLimits:
    max_answer_chars: int = 1000
    max_nesting: int = 30
    max_power_depth: int = 2
    max_digits: int = 1000


_DIGIT_RUN = re.compile(r"\d{2,}")
_LITERAL_POWER = re.compile(
    r"(\d+)\s*(?:\^|\*\*)\s*\{?\s*(\d+)\s*(?:(?:\^|\*\*)\s*\{?\s*(\d+)\s*\}?)?\s*\}?"
)
_FACTORIAL = re.compile(r"(\d+)\s*!")
_OPEN = "{(["
_CLOSE = "})]"


def refusal(text: str, limits: GuardLimits, *, check_length: bool = True) -> str | None:
    """Why ``text`` must not be parsed, or ``None`` when it may be."""
    if check_length and len(text) > limits.max_answer_chars:
        return f"answer is {len(text)} characters long (limit {limits.max_answer_chars})"
    depth, power_depth = _depths(text)
    if depth > limits.max_nesting:
        return f"brackets nested {depth} deep (limit {limits.max_nesting})"
    if power_depth > limits.max_power_depth:
        return f"exponents nested {power_depth} deep (limit {limits.max_power_depth})"
    for run in _DIGIT_RUN.finditer(text):
        if len(run.group()) > limits.max_digits:
            return f"a number with {len(run.group())} digits (limit {limits.max_digits})"
    for power in _LITERAL_POWER.finditer(text):
        digits = _power_digits(*(int(g) if g else None for g in power.groups()))
        if digits > limits.max_digits:
            return f"a power with about {_rounded(digits)} digits (limit {limits.max_digits})"
    for factorial in _FACTORIAL.finditer(text):
        digits = _factorial_digits(int(factorial.group(1)))
        if digits > limits.max_digits:
            return f"a factorial with about {_rounded(digits)} digits (limit {limits.max_digits})"
    return None


def _depths(text: str) -> tuple[int, int]:
    """The deepest bracket nesting, and the deepest exponent nesting (``a^{b^{c}}`` is 2, so is ``a**b**c``).

    Each open group remembers the exponent level it sits at; an atom right after ``^`` is one level above
    the atom it raises, so unbraced chains (``2^3^4``, right-associative in plain text) count too.
    """
    levels = [0]  # exponent level of each open group
    deepest = 0
    power_deepest = 0
    pending: int | None = None  # level of the exponent that starts at the next atom
    last_atom = 0  # level of the atom just read
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "^" or (char == "*" and text.startswith("**", i)):
            pending = last_atom + 1
            power_deepest = max(power_deepest, pending)
            i += 1 if char == "^" else 2
            continue
        if char in _OPEN:
            levels.append(pending if pending is not None else levels[-1])
            pending = None
            deepest = max(deepest, len(levels) - 1)
            last_atom = levels[-1]
        elif char in _CLOSE:
            if len(levels) > 1:
                levels.pop()
            last_atom = levels[-1]
        elif char.isalnum() or char == "\\" or char == ".":
            start = i
            i += 1
            while i < n and (text[i].isalnum() or (text[i] == "." and text[start].isdigit())):
                i += 1
            last_atom = pending if pending is not None else levels[-1]
            pending = None
            continue
        i += 1
    return deepest, power_deepest


def _power_digits(base: int | None, exponent: int | None, exponent2: int | None) -> float:
    """Decimal digits of ``base ** exponent ** exponent2``, estimated in log space (never computed)."""
    if base is None or exponent is None or base <= 1 or exponent == 0:
        return 1.0
    if exponent2 is None:
        log_exponent = math.log10(exponent)
    elif exponent <= 1 or exponent2 == 0:
        return 1.0
    elif exponent2.bit_length() > 1000:
        return math.inf
    else:
        log_exponent = float(exponent2) * math.log10(exponent)
    log_digits = log_exponent + math.log10(math.log10(base))
    return math.inf if log_digits > 300 else float(10**log_digits)


def _factorial_digits(n: int) -> float:
    return math.lgamma(n + 1) / math.log(10) if n < 10**15 else math.inf


def _rounded(digits: float) -> str:
    return "infinitely many" if math.isinf(digits) else f"{digits:.3g}"
