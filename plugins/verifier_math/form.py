"""Whether an extracted answer is an answer at all: final form, hedging, and statements. String work, no sympy.

A policy is paid for whatever the grader accepts, so the grader must not do the policy's work:

- **Final form**: sympy evaluates whatever it is given, so ``\\int_0^1 10x\\,dx`` would "equal" 5. An answer that
  uses an operator the reference does not itself use (integral, sum, product, limit, derivative, determinant,
  binomial coefficient, factorial, a named function such as ``\\log`` or ``\\sin``, or arithmetic between written
  numbers such as ``17\\times 23``, ``2^{10}``, ``\\sqrt{16}``) has not been solved. A written number in any one
  form is final: ``6/8`` for ``3/4`` is a form question (the value is computed), and so is scientific notation.
- **Hedging**: an answer that names alternatives (``or``, ``\\lor``), negates (``\\neg``, ``not``, ``\\ne``),
  implies (``\\implies``, ``\\to``), doubts (``maybe``, ``wrong``, ``?``) or hides content (``\\phantom``) is not an
  answer, unless the reference itself uses that word. "or" between the parts of a multi-part reference lists
  solutions and is read as a comma.
- **Statements**: in ``a = b = c`` the sides that hold no variable must agree with each other (checked by the
  grader); the last side is the answer, earlier closed sides are working (``17 \\times 23 = 391``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FUNCTION_NAMES = {
    "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
    "arcsin": "arcsin", "arccos": "arccos", "arctan": "arctan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "log": "log", "ln": "log", "lg": "log", "gcd": "gcd", "lcm": "lcm", "max": "max", "min": "min",
    "mod": "mod", "bmod": "mod", "pmod": "mod", "lfloor": "floor", "lceil": "ceiling", "operatorname": "operator",
}  # fmt: skip
_D = r"(?:d|\\mathrm\s*\{\s*d\s*\}|\\partial)"
_OPERATORS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an integral", re.compile(r"\\(?:i{1,3}nt|oint)(?![A-Za-z])")),
    ("a sum", re.compile(r"\\sum(?![A-Za-z])")),
    ("a product", re.compile(r"\\prod(?![A-Za-z])")),
    ("a limit", re.compile(r"\\lim(?:sup|inf)?(?![A-Za-z])")),
    (
        "a derivative",
        re.compile(
            rf"\\(?:partial|nabla|prime)(?![A-Za-z])|\\[dtc]?frac\s*\{{\s*{_D}(?:\^\{{?\d+\}}?)?\s*[A-Za-z]?\s*\}}\s*"
            rf"\{{\s*{_D}|[A-Za-z)\]}}]\s*'"
        ),
    ),
    ("a determinant", re.compile(r"\\det(?![A-Za-z])|\\operatorname\s*\{\s*det\s*\}|\\begin\s*\{\s*vmatrix\s*\}")),
    ("a binomial coefficient", re.compile(r"\\[dt]?binom(?![A-Za-z])|\\choose(?![A-Za-z])")),
    ("a factorial", re.compile(r"(?<!\\)!(?!=)")),
)
_FUNCTION = re.compile(r"\\(" + "|".join(sorted(_FUNCTION_NAMES, key=len, reverse=True)) + r")(?![A-Za-z])")

_NUM = r"(?:\d+(?:\.\d+)?|\.\d+)"
_ATOM = rf"(?:\\[dtc]?frac\s*\{{\s*{_NUM}\s*\}}\s*\{{\s*{_NUM}\s*\}}|\\[dtc]?frac\s*\d\s*\d|{_NUM}(?:\s*/\s*{_NUM})?)"
"""A written number: integer, decimal, or a fraction of them."""
_PAREN_ATOM = rf"(?:\\left\s*)?\(\s*-?\s*{_ATOM}\s*(?:\\right\s*)?\)"
_TERM = rf"(?:{_PAREN_ATOM}|{_ATOM})"
_NOT_AFTER_NUMBER = r"(?!\s*(?:[\w.({^'|]|\\(?!times|cdot|div|pm|mp|right|quad|qquad|[,;!: ]|text|%)))"
_LITERAL_ARITHMETIC = re.compile(
    rf"(?<![\w\\.^_}}|]){_TERM}\s*\{{?\s*(?:\+|-|\*|\\times|\\cdot|\\div|\\pm|\\mp)\s*\}}?\s*{_TERM}{_NOT_AFTER_NUMBER}"
    rf"|(?<![\w\\.^_}}|]){_TERM}\s*{_PAREN_ATOM}"  # 17(23): a product (latex2sympy even reads it as a sum)
    rf"|(?:\\left\s*)?\|\s*-\s*{_ATOM}\s*(?:\\right\s*)?\|"  # |-3|
)
_LITERAL_POWER = re.compile(rf"(?<![\w\\.^_{{}}]){_ATOM}\s*\^\s*(?:\{{\s*-?\d+\s*\}}|\d)")
_SCIENTIFIC = re.compile(rf"(?:{_NUM}\s*(?:\\times|\\cdot|\*)\s*)?10\s*\^\s*(?:\{{\s*[-+]?\d+\s*\}}|\d)")
_ROOT = re.compile(r"\\sqrt\s*(?:\[\s*(\d+)\s*\])?\s*(?:\{\s*(\d+)\s*\}|(\d))")

_OR_COMMANDS = re.compile(r"\\(?:lor|vee)(?![A-Za-z])|\\text\s*\{\s*or\s*\}")
_OR_WORDS = frozenset({"or", "either"})
_HEDGE_COMMANDS = re.compile(
    r"\\(neg|lnot|land|wedge|implies|impliedby|Rightarrow|Leftarrow|Longrightarrow|Longleftarrow|Leftrightarrow"
    r"|Longleftrightarrow|iff|to|rightarrow|leftarrow|mapsto|ne|neq|not|nexists|phantom|hphantom|vphantom|smash"
    r"|ldots|cdots|dots"
    r"|pm|mp)(?![A-Za-z])"
)
_HEDGE_WORDS = frozenset(
    [
        "maybe",
        "perhaps",
        "possibly",
        "probably",
        "likely",
        "unlikely",
        "not",
        "no",
        "nor",
        "neither",
        "wrong",
        "incorrect",
        "false",
        "isnt",
        "unless",
        "except",
        "but",
        "guess",
        "unsure",
        "uncertain",
        "otherwise",
        "else",
        "vs",
        "versus",
    ]
)
_COMMAND = re.compile(r"\\[A-Za-z]+")
_SUBSCRIPT = re.compile(r"_\s*\{[^{}]*\}")
_WORD = re.compile(r"[A-Za-z]+")

_OPEN, _CLOSE = "([{", ")]}"
_LABEL = re.compile(
    r"^\s*(?:[A-Za-z]|\\(?!pi\b|infty\b)[A-Za-z]+)(?:_\{?[A-Za-z0-9,]+\}?)?(?:\^\{?[A-Za-z0-9]+\}?)?"
    r"(?:\s*\(\s*[A-Za-z](?:\s*,\s*[A-Za-z])*\s*\))?\s*$"
)
_CLOSED_NOISE = re.compile(
    r"\\text\s*\{[^{}]*\}|\\(?:left|right|[dtc]?frac|sqrt|pi|infty|cdot|times|div|circ|quad|qquad|lfloor|rfloor"
    r"|lceil|rceil|%|,|;|!|:| )"
    r"(?![A-Za-z])|\\[,;!: %]"
)
_CLOCK = re.compile(
    r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:\\text\s*\{\s*)?([ap])?\.?\s*(?:m\.?)?\s*\}?$", re.IGNORECASE
)


def operators(text: str) -> frozenset[str]:
    """The operators of the final-form rule that ``text`` uses, by name."""
    found = {name for name, pattern in _OPERATORS if pattern.search(text)}
    found.update(
        f"the function \\{_FUNCTION_NAMES[m.group(1)]} of numbers"
        for m in _FUNCTION.finditer(text)
        if is_closed(top_level_split(text[m.end() :], ("+", "-", "=", ",", ";"))[0] or "?")
    )
    numbers = _SCIENTIFIC.sub(r"\\square ", text)
    if _LITERAL_ARITHMETIC.search(numbers) or _LITERAL_POWER.search(numbers) or _exact_root(text):
        found.add("arithmetic between numbers")
    return frozenset(found)


def _exact_root(text: str) -> bool:
    for match in _ROOT.finditer(text):
        index = int(match.group(1) or 2)
        radicand = int(match.group(2) or match.group(3))
        if index >= 2 and len(match.group(2) or "") <= 30:
            root = round(radicand ** (1 / index))
            if any((root + d) ** index == radicand for d in (-1, 0, 1) if root + d >= 0):
                return True
    return False


def words(text: str) -> frozenset[str]:
    """The lower-case words of ``text`` (``\\text{}`` content included), LaTeX command names excluded."""
    return frozenset(w.lower() for w in _WORD.findall(_COMMAND.sub(" ", text.replace("'", ""))))


@dataclass(frozen=True, slots=True)
class Form:
    """What the form rules need to know about the reference."""

    operators: frozenset[str]
    words: frozenset[str]
    commands: frozenset[str]
    alternatives: bool  # the reference itself says "or"

    @classmethod
    def of(cls, gold: str) -> Form:
        return cls(
            operators(gold),
            words(gold),
            frozenset(m.group(1) for m in _HEDGE_COMMANDS.finditer(gold)),
            bool(_OR_COMMANDS.search(gold) or words(gold) & _OR_WORDS),
        )


def hedge(text: str, gold: Form, *, multipart: bool) -> str | None:
    """Why ``text`` names alternatives, negates or doubts, or ``None``. "or" is allowed where the reference has
    several parts (it then lists solutions) or says "or" itself."""
    if "?" in text and "?" not in gold.words:
        return "the answer asks a question ('?')"
    unscripted = _SUBSCRIPT.sub(" ", text)  # \\lim_{x \\to 0}: an arrow in a subscript is the limit's
    commands = {m.group(1) for m in _HEDGE_COMMANDS.finditer(unscripted)} - gold.commands
    if multipart:  # 1 \pm \sqrt{2} lists two solutions
        commands -= {"pm", "mp"}
    if commands:
        return f"the answer uses \\{sorted(commands)[0]}: a negation, implication, alternative or hidden content"
    found = words(text)
    if not (multipart or gold.alternatives) and (_OR_COMMANDS.search(text) or found & _OR_WORDS):
        return "the answer names alternatives ('or') where the reference has one value"
    doubts = (found & _HEDGE_WORDS) - gold.words
    if doubts:
        return f"the answer hedges or negates ({', '.join(sorted(doubts))!r})"
    return None


def alternatives_as_list(text: str) -> str:
    """``3 or 5`` (also ``\\lor``) as the list ``3, 5``: for a multi-part reference "or" lists solutions."""
    text = _OR_COMMANDS.sub(",", text)
    return re.sub(r"(?<![A-Za-z\\])(?:either|or)(?![A-Za-z])", ",", text).replace(",,", ",").strip(" ,")


def unfinished(text: str, gold: Form) -> str | None:
    """Why ``text`` is not in final form (it uses an operator the reference does not), or ``None``."""
    extra = operators(text) - gold.operators
    if not extra:
        return None
    return f"not in final form: the answer uses {', '.join(sorted(extra))}, which the reference does not"


def top_level_split(text: str, separators: tuple[str, ...]) -> list[str]:
    """``text`` cut at each separator outside brackets (``(1, 2), 3`` is two parts)."""
    parts: list[str] = []
    depth = start = i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            depth += 1 if text[i + 1] == "{" else -1
            i += 2
            continue
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
        elif depth == 0:
            sep = next((s for s in separators if text.startswith(s, i)), None)
            if sep is not None and not _part_of_relation(text, i, sep):
                parts.append(text[start:i])
                i += len(sep)
                start = i
                continue
        i += 1
    parts.append(text[start:])
    return parts


def _part_of_relation(text: str, i: int, sep: str) -> bool:
    """``<=``, ``>=``, ``!=``, ``==`` and the thin space ``\\,`` are not separators."""
    if sep == "=":
        return (i > 0 and text[i - 1] in "<>!=") or text.startswith("==", i)
    if sep == ",":
        return i > 0 and text[i - 1] == "\\"
    if sep.startswith("\\"):
        return text[i + len(sep) : i + len(sep) + 1].isalpha()
    return False


def is_label(side: str) -> bool:
    """A name: ``x``, ``a_3``, ``f(x)``, ``\\theta``, or a tuple of names ``(p, q)``."""
    side = side.strip()
    if side.startswith("(") and side.endswith(")"):
        inner = top_level_split(side[1:-1], (",",))
        return len(inner) > 1 and all(_LABEL.match(part) for part in inner)
    return bool(_LABEL.match(side))


def is_closed(side: str) -> bool:
    """A side that holds no variable: a number or an expression of numbers (``17 \\times 23``, ``\\sqrt{2}``)."""
    rest = _CLOSED_NOISE.sub(" ", side)
    return bool(re.search(r"\d", side) or "\\pi" in side) and not re.search(r"[A-Za-z\\]", rest)


@dataclass(frozen=True, slots=True)
class Statement:
    """An answer cut into parts (top-level commas) and each part into sides (top-level ``=``).

    ``a \\approx d`` after a value is commentary: ``approximations`` pairs each such ``d`` with the value it
    approximates (the grader checks it to the digits written) and the answer is the value. After a name or
    nothing (``x \\approx 3.14``) the approximation is the answer.
    """

    parts: tuple[tuple[str, ...], ...]
    approximations: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, text: str) -> Statement:
        parts: list[tuple[str, ...]] = []
        approximations: list[tuple[str, str]] = []
        for part in top_level_split(text, (",", ";")):
            exact, *approximate = top_level_split(part, ("\\approx",))
            sides = tuple(top_level_split(exact, ("=",)))
            if approximate and (not sides[-1].strip() or is_label(sides[-1])):
                sides = tuple(s for s in sides if s.strip()) + tuple(approximate[:1])
                approximate = approximate[1:]
            approximations.extend((sides[-1], a) for a in approximate)
            parts.append(sides)
        return cls(tuple(parts), tuple(approximations))

    def closed_groups(self) -> list[tuple[str, ...]]:
        """Per part with two or more closed sides, those sides: they must all be equal."""
        groups = []
        for sides in self.parts:
            closed = tuple(s for s in sides if is_closed(s))
            if len(closed) > 1:
                groups.append(closed)
        return groups

    def answer_text(self) -> str | None:
        """The answer without its working: closed sides before the last dropped (``x = 2 + 1 = 3`` is ``x = 3``);
        a list of one name's values without the name (``x = 1, x = 2`` is ``1, 2``). ``None`` when unchanged."""
        parts = [_without_working(sides) for sides in self.parts]
        changed = bool(self.approximations) or any(
            len(kept) < len(sides) for kept, sides in zip(parts, self.parts, strict=True)
        )
        labels = {kept[0].strip() for kept in parts if len(kept) == 2 and is_label(kept[0])}
        if len(parts) > 1 and len(labels) == 1 and all(len(kept) == 2 for kept in parts):
            return ", ".join(_both_signs(kept[1].strip()) for kept in parts)
        if len(parts) > 1 and any(_PLUS_MINUS.search(p[-1]) for p in parts):
            return ", ".join(" = ".join([*kept[:-1], _both_signs(kept[-1].strip())]) for kept in parts)
        if not changed:
            return None
        return ", ".join(" = ".join(s.strip() for s in kept) for kept in parts)

    def answer_sides(self) -> str:
        """The text the final-form rule applies to: every side but the closed working before a closed result."""
        return ", ".join(" = ".join(_without_working(sides)) for sides in self.parts)


_PLUS_MINUS = re.compile(r"\\(?:pm|mp)(?![A-Za-z])")


def _without_working(sides: tuple[str, ...]) -> list[str]:
    """The sides of one equation chain without the closed ones before a closed last side (its working)."""
    if len(sides) < 2 or not is_closed(sides[-1]):
        return list(sides)
    return [s for s in sides[:-1] if not is_closed(s)] + [sides[-1]]


def _both_signs(part: str) -> str:
    """``a \\pm b`` inside a list as its two values ``a + b, a - b`` (latex2sympy reads a list with a ± in one
    part as that part alone)."""
    if len(_PLUS_MINUS.findall(part)) != 1:
        return part
    plus = _PLUS_MINUS.sub(lambda m: "+" if m.group() == "\\pm" else "-", part)
    minus = _PLUS_MINUS.sub(lambda m: "-" if m.group() == "\\pm" else "+", part)
    return f"{plus}, {minus}"


_DECIMAL = re.compile(r"^\s*-?(\d+)(?:\.(\d+))?\s*$")


def last_digit_unit(text: str) -> str | None:
    """Half a unit of the last written digit of a decimal (``0.707`` gives ``0.0005``), or ``None``."""
    match = _DECIMAL.match(text)
    if match is None:
        return None
    return f"5e-{len(match.group(2) or '') + 1}"


def clock(text: str) -> int | None:
    """Seconds after midnight of a clock time (``12:00``, ``2:30 pm``, ``20:34:00``), or ``None``."""
    match = _CLOCK.match(text.strip())
    if match is None:
        return None
    hours, minutes, seconds = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    half = (match.group(4) or "").lower()
    if minutes > 59 or seconds > 59 or hours > 24 or (half and not 1 <= hours <= 12):
        return None
    if half:
        hours = hours % 12 + (12 if half == "p" else 0)
    return (hours % 24 * 60 + minutes) * 60 + seconds


__all__ = [
    "Form",
    "Statement",
    "alternatives_as_list",
    "clock",
    "hedge",
    "is_closed",
    "is_label",
    "last_digit_unit",
    "operators",
    "unfinished",
    "words",
]
