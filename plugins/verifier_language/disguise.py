"""Words in disguise: English written so that it does not look like words, read as the words it is.

A policy paid for the share of target-language words learns to keep its English reasoning out of the count,
and one Han character then scores 1.0. The disguises found, and what undoes them:

- invisible characters inside or between words (zero-width space, word joiner, BOM, Braille blank, Hangul
  fillers, soft hyphen, joiners, bidi controls), ASCII spelled in invisible tag characters, and look-alike
  letters (fullwidth ``Ｆｉｒｓｔ``, mathematical ``𝐅𝐢𝐫𝐬𝐭``, negative squared ``🅵🅸🆁🆂🆃``): ``clean`` turns blank
  cells and words run together into spaces, spells the tag characters and symbol letters out, deletes the
  rest of what draws nothing, and applies NFKC;
- words joined into one token by ``_``, ``/``, ``.``, ``,``, ``:`` or any other punctuation but an
  apostrophe, or by a chain of hyphens (``first_we_add``, ``and/then``, ``first-we-add.the-sum``), or by
  camelCase humps (``firstWeAdd``), and digits in place of letters (``F1rst w3 add3d``):
  ``undisguise_token`` cuts such a token into its words and reads the digits as the letters they stand for.
  A compound of two hyphenated parts (``well-known``, ``Peut-être``) stays one word; a token with a code
  operator (``f(x)``, ``a=b``, ``print(total)``) stays code, unless it is three words or more joined by
  operators and nothing else (``First+we+add``);
- words joined by HTML entities (``First&nbsp;we``) or ``%20``: the entities are decoded first.

Both rewrite text only for counting and detection; nothing here decides a language.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from typing import Final

# Drawn as a blank cell: a space. (Unicode category Zs is a space already, NFKC makes it " ".)
_BLANKS: Final = "\u2800\u3164\u115f\u1160\uffa0"
# Zero-width breaks: inside a word ("che\u200bck") they hide nothing and are deleted, so the detector reads
# "check"; a token that holds two or more of them is words run together ("First\u200bwe\u200badd"): spaces.
_ZERO_WIDTH: Final = "\u200b\u2060\ufeff\u180e"
_SEPARATORS: Final = _BLANKS + _ZERO_WIDTH
# Drawn as nothing inside words: deleted, so "Fi\u00adrst" is "First". Every format control (category Cf,
# listed by range; a test keeps the list complete), variation selectors and the combining grapheme joiner.
_MARKS_BMP: Final = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u200c-\u200f\u202a-\u202e\u2061-\u2064"
    "\u2066-\u206f\ufff9-\ufffb\ufe00-\ufe0f\u034f"
)
_MARKS_ASTRAL: Final = (
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e007f\U000e0100-\U000e01ef"
)
# Tag characters U+E0020..E007E spell ASCII that is not drawn but that a model reads ("ASCII smuggling"):
# they are read as the ASCII they spell. Letters drawn as symbols that NFKC leaves alone (negative circled
# and squared, regional indicators, parenthesized) are read as the letters they show.
_SPELLED: Final = {
    **{code: chr(code - 0xE0000) for code in range(0xE0020, 0xE007F)},
    **{code: chr(ord("A") + (code - base) % 26) for base in (0x1F150, 0x1F170, 0x1F1E6, 0x1F110)
       for code in range(base, base + 26)},
    **{code: chr(ord("a") + code - 0x249C) for code in range(0x249C, 0x24B6)},
}
_MAYBE_SPELLED: Final = re.compile("[\u249c-\u24b5\U0001f110-\U0001f129\U0001f150-\U0001f169"
                                   "\U0001f170-\U0001f189\U0001f1e6-\U0001f1ff\U000e0020-\U000e007e]")
_LINE_BREAKS: Final = "\u2028\u2029\x85"
# A fast first look: any of the BMP ones, or any astral character at all (rare outside emoji and CJK).
_MAYBE_INVISIBLE: Final = re.compile(f"[{_SEPARATORS}{_MARKS_BMP}{_LINE_BREAKS}\u249c-\u24b5\U00010000-\U0010ffff]")
_BLANK: Final = re.compile(f"[{_BLANKS}]")
_ZERO_WIDTH_TOKEN: Final = re.compile(f"[^\\s{_ZERO_WIDTH}]*(?:[{_ZERO_WIDTH}][^\\s{_ZERO_WIDTH}]*)+")
_ZERO_WIDTH_CHAR: Final = re.compile(f"[{_ZERO_WIDTH}]")
_MARK: Final = re.compile(f"[{_MARKS_BMP}{_MARKS_ASTRAL}]")
_LINE_BREAK: Final = re.compile(f"[{_LINE_BREAKS}]")
# Letters that NFKC makes plain: superscripts and subscripts, letterlike symbols, enclosed (circled, squared)
# letters, ligatures, fullwidth and halfwidth forms, mathematical alphanumerics. Only text holding one is
# normalised: fullwidth punctuation in Chinese text, the common case, stays as written (and costs nothing).
_LOOK_ALIKE_CHARS: Final = (
    "\u00aa\u00b2\u00b3\u00b9\u00ba\u02b0-\u02ff\u1d2c-\u1dbf\u2070-\u209f"
    "\u2100-\u214f\u2460-\u24ff\u3200-\u33ff\ufb00-\ufb4f\uff21-\uff3a"
    "\uff41-\uff5a\uff66-\uff9f\U0001d400-\U0001d7ff\U0001f100-\U0001f1ff")
_LOOK_ALIKE: Final = re.compile(f"[{_LOOK_ALIKE_CHARS}]")
_MAYBE_DISGUISED: Final = re.compile(
    f"[{_SEPARATORS}{_MARKS_BMP}{_LINE_BREAKS}\u249c-\u24b5{_LOOK_ALIKE_CHARS}\U00010000-\U0010ffff]"
)


def _zero_width(match: re.Match[str]) -> str:
    token = match.group()
    breaks = len(_ZERO_WIDTH_CHAR.findall(token))
    return _ZERO_WIDTH_CHAR.sub(" " if breaks >= 2 else "", token)


def clean(text: str) -> str:
    """``text`` with HTML entities decoded, blank cells as spaces, zero-width breaks deleted (or spaces,
    between words run together), invisible marks and controls removed, and NFKC applied when it holds a
    look-alike letter (fullwidth, circled and mathematical letters become plain ones)."""
    if "&" in text and ";" in text:
        text = html.unescape(text)  # "First&nbsp;we&nbsp;add" is three words, drawn with spaces
    if "%20" in text:
        text = text.replace("%20", " ")
    if text.isascii():
        return text
    if not _MAYBE_DISGUISED.search(text):
        return text
    if _MAYBE_INVISIBLE.search(text):
        if _MAYBE_SPELLED.search(text):
            text = text.translate(_SPELLED)
        text = _ZERO_WIDTH_TOKEN.sub(_zero_width, _BLANK.sub(" ", text))
        text = _LINE_BREAK.sub("\n", _MARK.sub("", text))
    return unicodedata.normalize("NFKC", text) if _LOOK_ALIKE.search(text) else text


_OPERATOR: Final = re.compile(r"[=<>{}\[\]()\\|^~@#$%&*+]|::|->")
_ANY_JOINER: Final = re.compile(r"[^\w'’]+|_+")
OPERATOR_JOINED_WORDS: Final = 3
"""A token with code operators is code, unless it is this many words or more of two letters or more joined
by them and nothing else (``First+we+add``, ``First(we)add``): then it is those words."""
# Any punctuation between letters but apostrophes and hyphens (``don't``, ``well-known``) joins two words.
_JOINERS: Final = re.compile(r"[^\w\s'’\-]+|_+|(?<=[a-z])(?=[A-Z])")
_LEET: Final = re.compile(r"[A-Za-z]+(?:\d[A-Za-z]+)*\d?")
_LEET_LETTERS: Final = str.maketrans("0123456789", "oizeasgtbg")


def _edges(token: str) -> tuple[str, str, str]:
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(token[end - 1])[0] in "PS":
        end -= 1
    return token[:start], token[start:end], token[end:]


def _read_digits(piece: str) -> str:
    """``F1rst`` -> ``First``: single digits between or after letters (at least two) stand for letters."""
    if not any(c.isdigit() for c in piece) or not _LEET.fullmatch(piece):
        return piece
    if sum(c.isalpha() for c in piece) < 2:
        return piece  # x1, v2: a variable or a version
    return piece.translate(_LEET_LETTERS)


@functools.lru_cache(maxsize=1 << 16)
def undisguise_token(token: str) -> str:
    """One whitespace token with its hidden words cut apart (see the module docstring)."""
    lead, core, trail = _edges(token)
    if not core:
        return token
    if _OPERATOR.search(core):
        joined = [piece for piece in _ANY_JOINER.split(core) if piece]
        if len(joined) >= OPERATOR_JOINED_WORDS and all(len(w) >= 2 and w.isalpha() for w in joined):
            return f"{lead}{' '.join(joined)}{trail}"
        return token
    pieces = [piece for piece in _JOINERS.split(core) if piece]
    words: list[str] = []
    for piece in pieces:
        parts = piece.split("-")
        words.extend([piece] if len(parts) <= 2 and len(pieces) == 1 else [p for p in parts if p])
    rewritten = " ".join(_read_digits(word) for word in words)
    return f"{lead}{rewritten}{trail}" if rewritten != core else token

