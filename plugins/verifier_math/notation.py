"""Bring an answer written in plain text, Unicode or LaTeX to the LaTeX math-verify parses best: string work only.

Besides spelling (``π`` is ``\\pi``, ``pi/2`` is ``\\frac{\\pi}{2}``, ``10 weeks`` is ``10\\text{ weeks}``), the
graded value must be the *visible* one: zero-width characters go, lookalike digits (fullwidth ``３``, Arabic-Indic,
mathematical bold) are digits, ``\\text{5}`` is 5 (not dropped as a unit), ``1\\,000`` is 1000 (a thin space
groups digits), ``0.\\overline{3}`` is 1/3, ``\\color``/``\\textcolor`` keep their content.
"""

from __future__ import annotations

import re
import unicodedata

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
    "²": "^{2}",
    "³": "^{3}",
    "⁄": "/",
    "∗": "*",
    "∑": "\\sum ",
    "∏": "\\prod ",
    "∫": "\\int ",
    "¬": "\\neg ",
    "∨": "\\lor ",
    "∧": "\\land ",
    "⇒": "\\implies ",
    "→": "\\to ",
    "≈": "\\approx ",
}
_INVISIBLE = re.compile("[\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\u00ad\u034f\u180e]")
_THIN_SPACE_GROUPS = re.compile(r"(?<![\d.])(\d{1,3})((?:(?:\\[,;: ]|\\thinspace\s*|~|\s)\d{3})+)(?!\d)")
_GROUP_SEPARATOR = re.compile(r"\\[,;: ]|\\thinspace\s*|~|\s")
_REPEATING = re.compile(r"(-?)(\d*)\.(\d*)\\(?:overline|bar|dot)\s*\{?(\d+)\}?")
_COLOR = re.compile(r"\\color\s*\{[^{}]*\}|\\textcolor\s*\{[^{}]*\}")
_TEXT_WITH_DIGITS = re.compile(r"\\(?:text|mathrm|textrm|textbf|mathbf|textit|mathit)\s*\{([^{}]*\d[^{}]*)\}")
_DECIMAL_COMMA = re.compile(r"^(-?\d+),(\d{2})$")
"""A lone number with a two-digit comma group (``2,74``) has a decimal comma: no thousands separator is two digits
long, and a list of two numbers is written with a space (``1, 22``)."""
_NOT_EQUAL = re.compile(r"!=|\\ne(?![A-Za-z])")
_OUTER_BOX = re.compile(r"^\\(?:boxed|fbox)\s*\{(.*)\}$", re.DOTALL)
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
    ``2\\frac{1}{2}`` means 5/2, ``1\\,000`` is 1000, ``0.1\\overline{6}`` is 1/6, and trailing unit words
    (``10 weeks``, ``10 cm``) become ``\\text{}`` so they are dropped like ``\\text{ cm}`` instead of multiplying
    letters.
    """
    text = _visible(text)
    text = _UNICODE_RE.sub(lambda m: _UNICODE[m.group()], text).strip()
    delimited = _DELIMITERS.match(text)
    if delimited:
        text = delimited.group(1).strip()
    while (box := _OUTER_BOX.match(text)) is not None and _balanced(box.group(1)):
        text = box.group(1).strip()
    text = _COLOR.sub("", text)
    text = _NOT_EQUAL.sub(r"\\neq ", text)
    text = _TEXT_WITH_DIGITS.sub(lambda m: m.group(1), text)
    text = _THIN_SPACE_GROUPS.sub(lambda m: m.group(1) + _GROUP_SEPARATOR.sub("", m.group(2)), text)
    text = _REPEATING.sub(_repeating_fraction, text)
    text = _DECIMAL_COMMA.sub(r"\1.\2", text)
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


def _visible(text: str) -> str:
    """Drop invisible characters and write every decimal digit (fullwidth, Arabic-Indic, bold...) as ASCII."""
    text = _INVISIBLE.sub("", text)
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.digit(char)) if not char.isascii() and unicodedata.category(char) == "Nd" else char
        for char in text
    )


def _balanced(text: str) -> bool:
    depth = 0
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _repeating_fraction(match: re.Match[str]) -> str:
    """``a.b\\overline{c}`` as the exact fraction it denotes (``0.\\overline{3}`` is ``\\frac{1}{3}``)."""
    sign, whole, fixed, repeating = match.groups()
    if len(fixed) + len(repeating) > 50:
        return match.group()
    numerator = int(whole + fixed + repeating or "0") - int(whole + fixed or "0")
    denominator = 10 ** len(fixed) * (10 ** len(repeating) - 1)
    return f"{sign}\\frac{{{numerator}}}{{{denominator}}}"
