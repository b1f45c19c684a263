"""Grade one item: extract, guard, parse (math-verify + latex2sympy), compare. Runs inside a worker process.

math-verify's own ``signal.alarm`` timeouts are switched off here (``parsing_timeout=None``,
``timeout_seconds=None``): the worker arms one interval timer for the whole item instead, which takes
fractions of a second and which math-verify's whole-second alarm would otherwise cancel. Whatever that timer
cannot interrupt (sympy's big-integer power holds the GIL) the pool ends by killing the process.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import math_verify
import math_verify.grader
import math_verify.parser
from math_verify import ExprExtractionConfig, LatexExtractionConfig
from sympy import Basic, Eq, Expr, FiniteSet, Interval, MatrixBase, Rational, Symbol, Tuple
from sympy.core.function import AppliedUndef
from sympy.core.relational import Relational

from verifier_math.extract import MAX_OTHER_BOXES, extract_answer, find_boxed
from verifier_math.form import Form, Statement, alternatives_as_list, clock, hedge, last_digit_unit, unfinished
from verifier_math.guards import GuardLimits, refusal
from verifier_math.messages import Job, Phase, Verdict, clip, gold_failure
from verifier_math.notation import normalise
from verifier_math.tolerance import drop_percent, install, relative_tolerance

# The worker's interval timer replaces math-verify's alarms; its "timeout disabled" warning would be noise.
math_verify.parser.TIMEOUT_WARNING_SHOWN = True
math_verify.grader.TIMEOUT_WARNING_SHOWN = True
logging.getLogger("math_verify").setLevel(logging.ERROR)
install()  # decimals compared with a relative tolerance (see tolerance.py)

_BOXED_ONLY = (LatexExtractionConfig(boxed_match_priority=0),)
_ANYWHERE = (LatexExtractionConfig(), ExprExtractionConfig())
_TARGETS = {"latex": LatexExtractionConfig(), "expr": ExprExtractionConfig()}
MAX_MATCHED_PARTS = 12
"""Sets larger than this are compared by math-verify alone, not part by part (the matching is quadratic)."""

Parsed = list[Any]


class BadGold(Exception):
    """The gold answer cannot be used; the item is skipped rather than scored."""


@dataclass(frozen=True, slots=True)
class Gold:
    """A parsed reference: its value, its sympy text (for details), its normalised LaTeX and what the form rules
    need to know about it."""

    parsed: Parsed
    text: str
    latex: str
    form: Form
    multipart: bool
    clock: int | None


class Grader:
    """Grades jobs; keeps an LRU cache of parsed gold answers (a GRPO group sends one gold many times)."""

    def __init__(self, limits: GuardLimits, gold_cache_size: int, publish: Callable[[Phase], None]) -> None:
        self.limits = limits
        self.phase = Phase.IDLE
        self._publish = publish
        self._gold: Callable[[str, bool], Gold] = functools.lru_cache(maxsize=gold_cache_size)(self._parse_gold)

    def cache_info(self) -> Any:
        """Hits and misses of the parsed-gold cache (``functools`` cache statistics)."""
        return self._gold.cache_info()  # type: ignore[attr-defined]

    def set_phase(self, phase: Phase) -> None:
        self.phase = phase
        self._publish(phase)

    def grade(self, job: Job) -> Verdict:
        self.set_phase(Phase.GOLD)
        try:
            text = job.gold.strip()
            gold = self._gold(text, "math_verify" in job.methods and len(text) > self.limits.max_answer_chars)
        except BadGold as exc:
            return gold_failure("bad_reference", str(exc))
        self.set_phase(Phase.PREDICTION)
        with relative_tolerance(job.rel_tol):
            return self._grade_prediction(job, gold)

    def _parse_gold(self, text: str, solution: bool) -> Gold:
        """``solution``: the reference is a whole worked solution, read by math-verify's extraction (only with
        the ``math_verify`` method, which reads completions that way too)."""
        if not text:
            raise BadGold("the reference answer is empty")
        if "\\boxed" in text or "\\fbox" in text:
            text = find_boxed(text, reference=True) or text
        elif solution:
            found = math_verify.parse(text, extraction_config=_ANYWHERE, parsing_timeout=None)
            text = next((p for p in found if isinstance(p, str)), text)
        latex = normalise(text)
        refused = refusal(latex, self.limits)
        if refused:
            raise BadGold(f"the reference answer is not parsed: {refused}")
        form = Form.of(latex)
        # The reference is trusted: "or" between its parts and one name's list of values are lists of solutions.
        graded = alternatives_as_list(latex) if form.alternatives else latex
        graded = Statement.of(graded).answer_text() or graded
        parsed = [drop_percent(p) for p in parse_answer(graded)]
        if not parsed:
            raise BadGold(f"the reference answer could not be parsed as math: {latex[:200]!r}")
        gold_parts = parts(parsed[0])
        multipart = gold_parts is not None and len(gold_parts) > 1
        return Gold(parsed, str(parsed[0]), latex, form, multipart, clock(latex))

    def _grade_prediction(self, job: Job, gold: Gold) -> Verdict:
        extraction = extract_answer(job.region, job.methods)
        if extraction is None and "math_verify" in job.methods:
            return self._grade_math_verify(job, job.region, gold)
        if extraction is None:
            return Verdict(0.0, "no_answer", gold=gold.text)
        seen = {"extracted": extraction.text, "method": extraction.method, "gold": gold.text}
        text = normalise(extraction.text)
        if text == gold.latex and not extraction.others:  # the reference's own text: no need to parse
            return Verdict(1.0, "correct", pred=gold.text, **seen)
        refused = refusal(text, self.limits)
        if refused:
            return Verdict(0.0, "rejected", note=refused, **seen)
        return self._grade_text(job, gold, text, extraction.others, seen)

    def _grade_text(
        self,
        job: Job,
        gold: Gold,
        text: str,
        others: Sequence[str],
        seen: dict[str, str],
        parsed: Parsed | None = None,
    ) -> Verdict:
        """Grade the normalised answer ``text``: form rules, then parse and compare. ``parsed`` is math-verify's
        own reading of ``text``, used where the statement rules leave the text as it is. ``others`` are the
        region's other boxes: against a multi-part reference they are parts of the answer (one box per part of
        the problem), against a single value they must agree with it."""
        if gold.multipart and others:
            boxes = dict.fromkeys(b for b in (*(normalise(o) for o in others), text) if b)
            text, others, parsed = ", ".join(boxes), (), None
        if job.final_form:
            problem = unfinished(Statement.of(text).answer_sides(), gold.form)
            if problem:
                return Verdict(0.0, "unfinished", note=problem, **seen)
        problem = hedge(text, gold.form, multipart=gold.multipart)
        if problem:
            return Verdict(0.0, "hedged", note=problem, **seen)
        if gold.multipart or gold.form.alternatives:
            text = alternatives_as_list(text)
        statement = Statement.of(text)
        if any(not side.strip() for sides in statement.parts for side in sides):
            return Verdict(0.0, "hedged", note="the answer has an empty part", **seen)
        if gold.clock is not None and (minutes := clock(text)) is not None:
            correct = minutes == gold.clock
            return Verdict(1.0 if correct else 0.0, "correct" if correct else "wrong", pred=text, **seen)
        false = self._false_statement(statement, job)
        if false:
            return Verdict(0.0, "false_statement", note=false, **seen)
        answer = statement.answer_text()
        pred = [drop_percent(p) for p in (parsed if parsed and answer is None else parse_answer(answer or text))]
        if not pred:
            return Verdict(0.0, "unparsed", **seen)
        disagreeing = self._disagreeing_box(others, text, pred, job)
        if disagreeing is not None:
            return Verdict(0.0, "hedged", note=f"the boxed answers disagree: {clip(disagreeing)!r}", **seen)
        correct, note = compare(gold.parsed, pred, job)
        if not correct and len(statement.parts) == 1 and statement.approximations:
            # "pi \approx 3.14" for a reference of 3.14: the approximation agrees with the value to its digits.
            approximation = parse_answer(normalise(statement.approximations[-1][1]))
            if approximation and compare(gold.parsed, approximation, job)[0]:
                correct, note = True, "the approximation written equals the reference"
        return Verdict(
            1.0 if correct else 0.0, "correct" if correct else "wrong", pred=str(pred[0]), note=note, **seen
        )

    def _false_statement(self, statement: Statement, job: Job) -> str | None:
        """Why the answer states an equation whose number sides differ (``3 = 2``), or ``None``."""
        for sides in statement.closed_groups():
            values = [parse_answer(normalise(side)) for side in sides]
            if any(not v for v in values):
                return f"a side of {' = '.join(sides)!r} does not parse"
            last = values[-1][0]
            if not all(_equal(last, v[0], _kwargs(job)) for v in values[:-1]):
                return f"the sides of {' = '.join(s.strip() for s in sides)!r} are not equal"
        for value, approximation in statement.approximations:
            unit = last_digit_unit(approximation)
            exact, approx = parse_answer(normalise(value)), parse_answer(normalise(approximation))
            if not exact or not approx:
                return f"{value.strip()} \\approx {approximation.strip()} does not parse"
            try:
                agree = (
                    bool(abs(exact[0] - approx[0]).evalf(30) <= Rational(unit) * 1.0000001)
                    if unit
                    else _equal(exact[0], approx[0], _kwargs(job))
                )
            except (TypeError, ValueError, ArithmeticError):
                agree = False
            if not agree:
                return f"{value.strip()} is not approximately {approximation.strip()}"
        return None

    def _disagreeing_box(self, others: Sequence[str], text: str, pred: Parsed, job: Job) -> str | None:
        """An earlier box whose value differs from the final answer's (or cannot be read), or ``None``."""
        distinct = {normalise(other) for other in others} - {text, ""}
        if len(distinct) > MAX_OTHER_BOXES:
            return f"{len(distinct)} different boxed answers"
        for other in sorted(distinct):
            value = [] if refusal(other, self.limits) else parse_answer(Statement.of(other).answer_text() or other)
            if not value or not _equal(pred[0], drop_percent(value[0]), _kwargs(job)):
                return other
        return None

    def _grade_math_verify(self, job: Job, region: str, gold: Gold) -> Verdict:
        refused = refusal(region, self.limits, check_length=False)
        if refused:
            return Verdict(0.0, "rejected", method="math_verify", gold=gold.text, note=refused)
        targets = tuple(_TARGETS[t] for t in job.math_verify_targets)
        found = math_verify.parse(region, extraction_config=targets, parsing_timeout=None)
        pred = [p for p in found if isinstance(p, Basic | MatrixBase)][:1]
        extracted = next((p for p in found if isinstance(p, str)), str(pred[0]) if pred else "")
        if not extracted:
            return Verdict(0.0, "no_answer", gold=gold.text)
        seen = {"extracted": extracted, "method": "math_verify", "gold": gold.text}
        text = normalise(extracted)
        refused = refusal(text, self.limits)
        if refused:
            return Verdict(0.0, "rejected", note=refused, **seen)
        # math-verify reads one formula; our reading of the same region must not find a hedge it skipped
        # ("the answer is $3$ or $5$") or boxes that disagree with each other.
        # Both only where math-verify read (part of) the same statement as ours.
        ours = extract_answer(region, ("boxed", "answer_is"))
        ours_text = normalise(ours.text) if ours is not None else ""
        if text in ours_text and (problem := hedge(ours_text, gold.form, multipart=gold.multipart)):
            return Verdict(0.0, "hedged", note=problem, **seen)
        others = (*ours.others, ours.text) if ours is not None and ours.others and text == ours_text else ()
        if text == gold.latex and not others:
            return Verdict(1.0, "correct", pred=gold.text, **seen)
        return self._grade_text(job, gold, text, others, seen, parsed=pred)


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


def _kwargs(job: Job) -> dict[str, Any]:
    # float_rounding is unused: tolerance.numeric_eq compares decimals with job.rel_tol instead.
    return {
        "float_rounding": 15,
        "numeric_precision": 15,
        "strict": job.strict_variables,
        "allow_set_relation_comp": job.set_relation,
    }


def compare(gold: Parsed, pred: Parsed, job: Job) -> tuple[bool, str | None]:
    """math-verify's verdict, made strict (or lenient) about multi-part answers. Returns (correct, note)."""
    kwargs = _kwargs(job)
    point = _as_point(gold[0], pred[0])
    if point is not None:
        return _equal(*point, kwargs), "the reference (a, b) read as a point, the answer in the order written"
    correct = bool(math_verify.verify(gold, pred, timeout_seconds=None, **kwargs))
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
    if isinstance(expr, Eq) and _is_name(expr.lhs):  # x = ±2 and (p, q) = (3, 2) have the parts of their value
        return parts(expr.rhs)
    if isinstance(expr, FiniteSet):  # a set: a part listed twice is one part
        return list(dict.fromkeys(getattr(expr, "_unsorted_args", expr.args)))
    if isinstance(expr, Tuple):
        return list(expr.args)
    if isinstance(expr, MatrixBase):
        return None
    if isinstance(expr, Expr | Relational | Interval):
        return [expr]
    return None


def _as_point(gold: Any, pred: Any) -> tuple[Tuple, Tuple] | None:
    """An open interval ``(a, b)`` is also the point (a, b): against an answer listing two values, the two are
    compared as ordered pairs (``1, 3`` matches, ``3, 1`` does not), not as a set against an interval."""
    if not (isinstance(gold, Interval) and gold.left_open and gold.right_open and isinstance(pred, FiniteSet)):
        return None
    written = getattr(pred, "_unsorted_args", pred.args)
    return (Tuple(gold.start, gold.end), Tuple(*written)) if len(written) == 2 else None


def _is_name(expr: Any) -> bool:
    if isinstance(expr, Tuple):
        return len(expr) > 0 and all(_is_name(e) for e in expr)
    if isinstance(expr, AppliedUndef):
        return all(isinstance(a, Symbol) for a in expr.args)
    return isinstance(expr, Symbol)


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


def _equal(gold: Any, pred: Any, kwargs: dict[str, Any]) -> bool:
    return bool(math_verify.verify([gold], [pred], timeout_seconds=None, **kwargs))


