"""Grade one item: extract, guard, parse (math-verify + latex2sympy), compare. Runs inside a worker process.

math-verify's own ``signal.alarm`` timeouts are switched off here (``parsing_timeout=None``,
``timeout_seconds=None``): the worker arms one interval timer for the whole item instead, which takes
fractions of a second and which math-verify's whole-second alarm would otherwise cancel. Whatever that timer
cannot interrupt (sympy's big-integer power holds the GIL) the pool ends by killing the process.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import math_verify
import math_verify.grader
import math_verify.parser
from math_verify import ExprExtractionConfig, LatexExtractionConfig
from sympy import Basic, Expr, FiniteSet, Interval, MatrixBase, Mul, Rational, Tuple, UnevaluatedExpr
from sympy.core.relational import Relational

from verifier_math.extract import extract_answer, find_boxed
from verifier_math.guards import GuardLimits, refusal
from verifier_math.messages import Job, Phase, Verdict, gold_failure

# The worker's interval timer replaces math-verify's alarms; its "timeout disabled" warning would be noise.
math_verify.parser.TIMEOUT_WARNING_SHOWN = True
math_verify.grader.TIMEOUT_WARNING_SHOWN = True
logging.getLogger("math_verify").setLevel(logging.ERROR)

_BOXED_ONLY = (LatexExtractionConfig(boxed_match_priority=0),)
_ANYWHERE = (LatexExtractionConfig(), ExprExtractionConfig())
MAX_MATCHED_PARTS = 12
"""Sets larger than this are compared by math-verify alone, not part by part (the matching is quadratic)."""

Parsed = list[Any]


class BadGold(Exception):
    """The gold answer cannot be used; the item is skipped rather than scored."""


class Grader:
    """Grades jobs; keeps an LRU cache of parsed gold answers (a GRPO group sends one gold many times)."""

    def __init__(self, limits: GuardLimits, gold_cache_size: int, publish: Callable[[Phase], None]) -> None:
        self.limits = limits
        self.phase = Phase.IDLE
        self._publish = publish
        self._gold: Callable[[str], tuple[Parsed, str, str]] = functools.lru_cache(maxsize=gold_cache_size)(
            self._parse_gold
        )

    def cache_info(self) -> Any:
        """Hits and misses of the parsed-gold cache (``functools`` cache statistics)."""
        return self._gold.cache_info()  # type: ignore[attr-defined]

    def set_phase(self, phase: Phase) -> None:
        self.phase = phase
        self._publish(phase)

    def grade(self, job: Job) -> Verdict:
        self.set_phase(Phase.GOLD)
        try:
            gold, gold_text, gold_latex = self._gold(job.gold.strip())
        except BadGold as exc:
            return gold_failure("bad_reference", str(exc))
        self.set_phase(Phase.PREDICTION)
        return self._grade_prediction(job, gold, gold_text, gold_latex)

    def _parse_gold(self, gold: str) -> tuple[Parsed, str, str]:
        """The parsed gold, its sympy text (for details) and its normalised LaTeX."""
        if not gold:
            raise BadGold("the reference answer is empty")
        if "\\boxed" in gold or "\\fbox" in gold:
            gold = find_boxed(gold) or gold
        gold = normalise(gold)
        refused = refusal(gold, self.limits)
        if refused:
            raise BadGold(f"the reference answer is not parsed: {refused}")
        parsed = parse_answer(gold)
        if not parsed:
            raise BadGold(f"the reference answer could not be parsed as math: {gold[:200]!r}")
        return parsed, str(parsed[0]), gold

    def _grade_prediction(self, job: Job, gold: Parsed, gold_text: str, gold_latex: str) -> Verdict:
        extraction = extract_answer(job.region, job.methods)
        if extraction is None and "math_verify" in job.methods:
            return self._grade_math_verify(job, job.region, gold, gold_text)
        if extraction is None:
            return Verdict(0.0, "no_answer", gold=gold_text)
        seen = {"extracted": extraction.text, "method": extraction.method, "gold": gold_text}
        text = normalise(extraction.text)
        if text == gold_latex:  # the same text as the reference: no need to parse and compare
            return Verdict(1.0, "correct", pred=gold_text, **seen)
        refused = refusal(text, self.limits)
        if refused:
            return Verdict(0.0, "rejected", note=refused, **seen)
        pred = parse_answer(text)
        if not pred:
            return Verdict(0.0, "unparsed", **seen)
        correct, note = compare(gold, pred, job)
        return Verdict(
            1.0 if correct else 0.0, "correct" if correct else "wrong", pred=str(pred[0]), note=note, **seen
        )

    def _grade_math_verify(self, job: Job, region: str, gold: Parsed, gold_text: str) -> Verdict:
        refused = refusal(region, self.limits, check_length=False)
        if refused:
            return Verdict(0.0, "rejected", method="math_verify", gold=gold_text, note=refused)
        found = math_verify.parse(region, extraction_config=_ANYWHERE, parsing_timeout=None)
        pred = [p for p in found if not isinstance(p, str)]
        if not pred:
            return Verdict(0.0, "no_answer", gold=gold_text)
        extracted = next((p for p in found if isinstance(p, str)), str(pred[0]))
        correct, note = compare(gold, pred, job)
        return Verdict(
            1.0 if correct else 0.0,
            "correct" if correct else "wrong",
            extracted=extracted,
            method="math_verify",
            gold=gold_text,
            pred=str(pred[0]),
            note=note,
        )


def parse_answer(text: str) -> Parsed:
    """Parse an answer string: as the content of a ``\\boxed{}`` (math-verify then normalises units, ``\\text``,
    ``\\dfrac``...), and only if that finds nothing, by math-verify's own extraction over the text."""
    parsed = math_verify.parse(
        f"\\boxed{{{text}}}", extraction_config=_BOXED_ONLY, fallback_mode="no_fallback", parsing_timeout=None
    )
    if not parsed:
        parsed = math_verify.parse(
            text, extraction_config=_ANYWHERE, fallback_mode="no_fallback", parsing_timeout=None
        )
    return [p for p in parsed if isinstance(p, Basic | MatrixBase)][:1]


def compare(gold: Parsed, pred: Parsed, job: Job) -> tuple[bool, str | None]:
    """math-verify's verdict, made strict (or lenient) about multi-part answers. Returns (correct, note)."""
    kwargs = {
        "float_rounding": job.precision,
        "numeric_precision": 15,
        "strict": job.strict_variables,
        "allow_set_relation_comp": job.set_relation,
    }
    correct = bool(math_verify.verify(gold, pred, timeout_seconds=None, **kwargs))
    if not correct:
        correct = _equal_without_percent(gold[0], pred[0], kwargs)
    gold_parts, pred_parts = parts(gold[0]), parts(pred[0])
    if job.strict_multipart:
        if (
            correct
            and gold_parts is not None
            and pred_parts is not None
            and len(gold_parts) != len(pred_parts)
        ):
            return False, f"the reference has {len(gold_parts)} parts, the answer {len(pred_parts)}"
        if (
            not correct
            and isinstance(gold[0], FiniteSet)
            and isinstance(pred[0], FiniteSet)
            and gold_parts is not None
            and pred_parts is not None
            and 1 < len(gold_parts) == len(pred_parts) <= MAX_MATCHED_PARTS
            and _perfect_matching(gold_parts, pred_parts, kwargs)
        ):
            # math-verify pairs set elements by sort order, which splits {1/3, sqrt(3), pi} from
            # {1/3, 1.732, 3.1416}; a matching pairs each gold part with one equal predicted part.
            return True, "parts matched in another order"
        return correct, None
    if not correct and gold_parts is not None and len(gold_parts) > 1:
        for part in gold_parts:
            if math_verify.verify([part], pred, timeout_seconds=None, **kwargs):
                return True, "equal to one part of the reference (strict_multipart is off)"
    return correct, None


def parts(expr: Any) -> list[Any] | None:
    """The parts of a multi-part answer; one part for a single value, equation or interval; ``None`` where
    counting parts means nothing (matrices, unions, other sets)."""
    if isinstance(expr, FiniteSet | Tuple):
        return list(getattr(expr, "_unsorted_args", expr.args))
    if isinstance(expr, MatrixBase):
        return None
    if isinstance(expr, Expr | Relational | Interval):
        return [expr]
    return None


def _perfect_matching(gold: Sequence[Any], pred: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    equal = [[_equal(g, p, kwargs) for p in pred] for g in gold]
    owner: dict[int, int] = {}  # predicted part -> gold part (Kuhn's augmenting paths)

    def assign(g: int, seen: set[int]) -> bool:
        for p, same in enumerate(equal[g]):
            if same and p not in seen:
                seen.add(p)
                if p not in owner or assign(owner[p], seen):
                    owner[p] = g
                    return True
        return False

    return all(assign(g, set()) for g in range(len(gold)))


_PERCENT = UnevaluatedExpr(Rational(1, 100))


def _percent_number(expr: Any) -> Any | None:
    """``X`` for latex2sympy's ``X%`` (``X * UnevaluatedExpr(1/100)``), else ``None``."""
    if isinstance(expr, Mul) and len(expr.args) == 2 and expr.args[1] == _PERCENT:
        return expr.args[0]
    return None


def _equal_without_percent(gold: Any, pred: Any, kwargs: dict[str, Any]) -> bool:
    """``12.5%`` equals ``12.5`` as ``50%`` equals ``50``: math-verify drops the percent sign only for integers."""
    gold_number, pred_number = _percent_number(gold), _percent_number(pred)
    if gold_number is None and pred_number is None:
        return False
    return _equal(gold if gold_number is None else gold_number, pred if pred_number is None else pred_number, kwargs)


def _equal(gold: Any, pred: Any, kwargs: dict[str, Any]) -> bool:
    return bool(math_verify.verify([gold], [pred], timeout_seconds=None, **kwargs))


_UNICODE = {
    "−": "-",
    "–": "-",
    "×": "\\times ",
    "·": "\\cdot ",
    "÷": "\\div ",
    "π": "\\pi ",
    "√": "\\sqrt",
    "∞": "\\infty ",
    "≤": "\\le ",
    "≥": "\\ge ",
    "≠": "\\ne ",
    "±": "\\pm ",
    "∓": "\\mp ",
    "∪": "\\cup ",
    "∩": "\\cap ",
    "∈": "\\in ",
    "\u00a0": " ",
    "°": "^\\circ ",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))
_DELIMITERS = re.compile(r"^\s*(?:\$\$|\$|\\\(|\\\[)(.*?)(?:\$\$|\$|\\\)|\\\])\s*$", re.DOTALL)
_PLAIN_WORDS = [
    (re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])"), r"\\pi "),
    (re.compile(r"(?<![\\A-Za-z])(?:infinity|inf)(?![A-Za-z])"), r"\\infty "),
]
_MIXED_NUMBER = re.compile(r"^(-?)(\d+)\s*(?:\\[dt]?frac\{(\d+)\}\{(\d+)\}|\s(\d+)/(\d+))$")
_FUNCTION_WORDS = frozenset(
    [
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "arcsin",
        "arccos",
        "arctan",
        "sinh",
        "cosh",
        "tanh",
        "log",
        "ln",
        "exp",
        "sqrt",
        "and",
        "or",
    ]
)
# Unit words after a number: spaced ("10 cm", "10 cm^2") or long enough not to be variables ("10weeks");
# "10xy" stays a product.
# Words are separated by mandatory whitespace so that a run of letters splits only one way (the earlier
# ``(?:[A-Za-z]{2,}\s*)+`` backtracked exponentially on "1 aaaa...a!").
_TRAILING_WORDS = re.compile(
    r"^(.*?[\d}])(?:\s+|(?=[A-Za-z]{3}))([A-Za-z]{2,}(?:\^\d)?\.?(?:\s+[A-Za-z]{2,}(?:\^\d)?\.?)*)\s*$"
)


def normalise(text: str) -> str:
    """Bring a plain or LaTeX answer to the LaTeX math-verify parses best.

    Unicode math becomes LaTeX (``30°`` is ``30^\\circ``), outer ``$``/``\\(``/``\\[`` go, bare ``pi`` and
    ``infinity`` become ``\\pi`` and ``\\infty`` (``pi/2`` equals ``\\dfrac{\\pi}{2}``), a mixed number
    ``2\\frac{1}{2}`` means 5/2, and trailing unit words (``10 weeks``, ``10 cm``) become ``\\text{}`` so they
    are dropped like ``\\text{ cm}`` instead of multiplying letters.
    """
    text = _UNICODE_RE.sub(lambda m: _UNICODE[m.group()], text).strip()
    delimited = _DELIMITERS.match(text)
    if delimited:
        text = delimited.group(1).strip()
    text = text.replace("\\displaystyle", "").strip().rstrip(".").strip()
    for pattern, replacement in _PLAIN_WORDS:
        text = pattern.sub(replacement, text)
    mixed = _MIXED_NUMBER.match(text)
    if mixed:
        sign, whole = mixed.group(1), mixed.group(2)
        num, den = mixed.group(3) or mixed.group(5), mixed.group(4) or mixed.group(6)
        if int(den) != 0 and int(num) < int(den):
            text = f"{sign}\\frac{{{int(whole) * int(den) + int(num)}}}{{{den}}}"
    units = _TRAILING_WORDS.match(text)
    if units and not set(re.findall(r"[A-Za-z]+", units.group(2).lower())) & _FUNCTION_WORDS:
        text = f"{units.group(1)}\\text{{ {units.group(2).strip()}}}"
    return text
