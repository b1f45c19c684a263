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
- fenced blocks: each line that reads as prose (``prose_line``: a comment, a sentence), not the code lines;
- math: the text-mode commands' arguments (``\\text{...}``, ``\\mbox{...}``, ...) and any run of three or more
  plain words (``$First we add the numbers$``); the rest is math;
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
_DISPLAY_MATH: Final = re.compile(
    r"\$\$.+?\$\$|\\\[.+?\\\]|\\begin\{([a-zA-Z*]+)\}.*?\\end\{\1\}", re.DOTALL
)
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
_MATH_SPACE: Final = re.compile(r"\\[,;:! ]|~|[{}]|\\[a-zA-Z]+")
_PROSE_RUN: Final = re.compile(r"(?<!\S)[^\W\d_]{2,}(?:\s+[^\W\d_]{2,}){2,}(?!\S)")
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
    prose = [_COMMENT_MARK.sub(" ", line) for line in match.group(2).split("\n") if prose_line(line)]
    return "\n" + "\n".join(prose) + "\n"


def math_prose(formula: str) -> str:
    """The prose inside a formula: text-mode arguments, then runs of three or more plain words; each piece
    is its own clause."""
    pieces = [text for text in _TEXT_MODE.findall(formula) if text.strip()]
    rest = _MATH_SPACE.sub(" ", _TEXT_MODE.sub(" ", formula))
    pieces.extend(run.group() for run in _PROSE_RUN.finditer(rest))
    return " ; ".join(pieces)


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
    text, display = _DISPLAY_MATH.subn(lambda m: f"\n{math_prose(m.group())}\n", text)
    text, inline_math = _INLINE_MATH.subn(lambda m: f" {math_prose(m.group())} ", text)
    text = _INLINE_CODE.sub(lambda m: f" {m.group(2)} ", text)
    text = _URL.sub(_url, text)
    text = _LATEX_COMMAND.sub(" ", text).replace("{", " ").replace("}", " ")
    text = _TAG.sub("\n", text)
    return Masked(text, code_blocks, display + inline_math)
