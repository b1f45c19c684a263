"""What text is judged: the chain of thought with code, math and URLs taken out, and the prose that was
hiding inside them put back.

Code, formulas and links are written the same way in every language, so they say nothing about the
language of the reasoning: they are replaced by blanks (a line break for blocks, so that a sentence on
either side of a display formula stays a separate segment) before any word is counted. But a wrapper does not
make prose code: a policy paid for the target language's share hides its English in inline code, in
``\\text{...}``, ``\\textbf{...}`` or ``\\emph{...}``, in a fenced block, in a URL's path. So what a wrapper holds
is read as prose when it is prose:

- inline code and the arguments of LaTeX commands outside math (``\\textbf{...}``, ``\\emph{...}``,
  ``\\boxed{...}``): always; the word rules then drop what is code (``f(x)``, ``a=b``, numbers, lone letters);
- fenced blocks: each line that reads as prose (``prose_line``: a comment, a sentence); of a code line, only
  the names that join three words or more (``the_two_numbers = first_we_add``);
- math: the text-mode commands' arguments (``\\text{...}``, ``\\mbox{...}``, ...; side by side they are one
  word, as drawn) and any run of three or more plain words with a lower-case one (``$First we add the
  numbers$``), also across formulas written side by side (``$First$ $we$ $add$``); the rest is math. Only
  math environments are math: ``\\begin{proof}...\\end{proof}`` is prose;
- URLs: blanked, unless the path spells eight or more words (a sentence dressed as a link).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from verifier_language.disguise import clean

_FENCE: Final = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE
)
_MATH_ENVIRONMENTS = (
    r"(?:equation|align|alignat|flalign|gather|multline|eqnarray|math|displaymath|array|[pbvBV]?matrix"
    r"|smallmatrix|d?cases|split|aligned|gathered|subequations)\*?"
)
_DISPLAY_MATH: Final = re.compile(
    rf"\$\$.+?\$\$|\\\[.+?\\\]|\\begin\{{({_MATH_ENVIRONMENTS})\}}.*?\\end\{{\1\}}", re.DOTALL
)
# Other environments (proof, quote, itemize, verbatim, ...) hold prose: only their markers go.
_ENVIRONMENT_MARK: Final = re.compile(r"\\(?:begin|end)\{[^{}\n]*\}")
# Pandoc's rule for inline ``$...$``: no space just inside either dollar, no digit just after the closing
# one, so that "costs $5 and $10" stays prose.
_INLINE_MATH: Final = re.compile(r"\\\(.+?\\\)|(?<![\\$])\$(?=\S)[^$\n]+?(?<=\S)\$(?!\d)", re.DOTALL)
_INLINE_CODE: Final = re.compile(r"(`+)([^\n]+?)\1")
_URL: Final = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+|\b[\w.+-]+@[\w-]+\.[\w.-]+")
_URL_WORD: Final = re.compile(r"[^\W\d_]{2,}")
URL_PROSE_WORDS: Final = 8
"""A URL whose path spells this many words or more is prose dressed as a link: its words count."""
_BRACES = r"\{((?:[^{}]|\{[^{}]*\})*)\}"
_TEXT_MODE: Final = re.compile(
    r"\\(?:text(?:bf|it|rm|sf|tt|sc|up|md|normal|sl)?|emph|mbox|hbox|fbox|intertext|shortintertext)\s*"
    + _BRACES
)
_LATEX_COMMAND: Final = re.compile(r"\\[a-zA-Z]+\*?")
_MATH_SPACE: Final = re.compile(r"\\[,;:! ()\[\]]|~|[{}$]|\\[a-zA-Z]+")
_PROSE_RUN: Final = re.compile(r"(?<!\S)[^\W\d_]{2,}[,.;:!?]?(?:\s+[^\W\d_]{2,}[,.;:!?]?){2,}(?!\S)")
# Formulas written side by side with nothing but spaces and punctuation between them ("$First$ $we$ $add$")
# are read as one, so that a word per formula does not hide a sentence.
_FORMULA_GAP: Final = re.compile(r"[\s,.;:!?]*")
_IDENTIFIER: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_IDENTIFIER_PARTS: Final = re.compile(r"_+|(?<=[a-z])(?=[A-Z])")
CODE_NAME_WORDS: Final = 3
"""An identifier in a code line that joins this many words or more (``the_two_numbers``) is prose."""
# Markup such as <think>, </answer>, <br/>: structure, not words. Glued to a word it would make that word
# look like code (and drop it); it also ends a sentence, so it becomes a line break.
_TAG: Final = re.compile(r"</?[A-Za-z][A-Za-z0-9_-]*\s*/?>")
_COMMENT_MARK: Final = re.compile(r"^\s*(?:#+|//+|--+|;+|%+|/\*+|\*+/?|<!--|\"\"\"|''')\s*|\s*(?:\*/|-->)\s*$")
_WORD_TOKEN: Final = re.compile(r"[^\W\d_]{2,}[.,;:!?'\"»”)]*")


@dataclass(frozen=True, slots=True)
class Masked:
    """Prose with code, math and URLs blanked out, and how many of each were removed."""

    text: str
    code_blocks: int
    math: int


def prose_line(line: str) -> bool:
    """Whether a line of a fenced block reads as prose: after a comment marker, at least three plain words
    making at least two thirds of its whitespace tokens (``total = sum(values)`` is code)."""
    tokens = _COMMENT_MARK.sub(" ", line).split()
    words = sum(1 for token in tokens if _WORD_TOKEN.fullmatch(token))
    return words >= 3 and 3 * words >= 2 * len(tokens)


def _fenced(match: re.Match[str]) -> str:
    lines = match.group(2).split("\n")
    return "\n" + "\n".join(_COMMENT_MARK.sub(" ", line) if prose_line(line) else _code_line(line)
                             for line in lines) + "\n"


def _text_mode(formula: str) -> tuple[list[str], str]:
    """The text-mode arguments of a formula (those side by side joined, as LaTeX draws them) and the rest."""
    pieces: list[str] = []
    last_end = -1
    for match in _TEXT_MODE.finditer(formula):
        if pieces and not formula[last_end : match.start()].strip():
            pieces[-1] += match.group(1)
        else:
            pieces.append(match.group(1))
        last_end = match.end()
    return [piece for piece in pieces if piece.strip()], _TEXT_MODE.sub(" ", formula)


def _prose_runs(math: str) -> list[str]:
    runs = (run.group() for run in _PROSE_RUN.finditer(_MATH_SPACE.sub(" ", math)))
    # Three plain words are prose only with a lower-case one of three letters or more: $AB, CD, EF$ is math.
    return [run for run in runs if any(w.strip(",.;:!?").islower() and len(w) >= 3 for w in run.split())]


def math_prose(formulas: list[str]) -> str:
    """The prose inside formulas written side by side: text-mode arguments, then runs of three or more
    plain words; each piece is its own clause."""
    pieces: list[str] = []
    rests: list[str] = []
    for formula in formulas:
        text, rest = _text_mode(formula)
        pieces.extend(text)
        rests.append(rest)
    pieces.extend(_prose_runs(" ".join(rests)))
    return " ; ".join(pieces)


def _inline_math(text: str) -> tuple[str, int]:
    out: list[str] = []
    chain: list[re.Match[str]] = []
    last = 0
    matches = list(_INLINE_MATH.finditer(text))
    for index, match in enumerate(matches):
        chain.append(match)
        following = matches[index + 1] if index + 1 < len(matches) else None
        if following is not None and _FORMULA_GAP.fullmatch(text, match.end(), following.start()):
            continue
        out.append(text[last : chain[0].start()])
        out.append(f" {math_prose([m.group() for m in chain])} ")
        last, chain = match.end(), []
    out.append(text[last:])
    return "".join(out), len(matches)


def _code_line(line: str) -> str:
    """What a code line says in words: its identifiers that join ``CODE_NAME_WORDS`` words or more."""
    names = (name for name in _IDENTIFIER.findall(line)
             if sum(len(part) >= 2 for part in _IDENTIFIER_PARTS.split(name)) >= CODE_NAME_WORDS)
    return " ".join(names)


def _url(match: re.Match[str]) -> str:
    url = match.group()
    path = url.split("://", 1)[-1].partition("/")[2] if "@" not in url else ""
    words = _URL_WORD.findall(path)
    return f" {' '.join(words)} " if len(words) >= URL_PROSE_WORDS else " "


def mask(text: str) -> Masked:
    """Blank out code, math, URLs, LaTeX command names and markup tags, keeping the prose they hold (see the
    module docstring); invisible characters and look-alike letters are undone first (``disguise.clean``)."""
    text = clean(text)
    text, code_blocks = _FENCE.subn(_fenced, text)
    text, display = _DISPLAY_MATH.subn(lambda m: f"\n{math_prose([m.group()])}\n", text)
    text, inline_math = _inline_math(text)
    text = _ENVIRONMENT_MARK.sub("\n", text)
    text = _INLINE_CODE.sub(lambda m: f" {m.group(2)} ", text)
    text = _URL.sub(_url, text)
    text = _LATEX_COMMAND.sub(" ", text).replace("{", " ").replace("}", " ")
    text = _TAG.sub("\n", text)
    return Masked(text, code_blocks, display + inline_math)
