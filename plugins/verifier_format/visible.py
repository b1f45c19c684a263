"""Whether text shows anything: reasoning and answers made of invisible characters are empty.

``str.strip()`` removes only whitespace, so ``<think>\\u200b</think>\\u200b`` (zero-width spaces), the Braille
blank U+2800 or a Hangul filler would pass for content. A character is visible when it is a letter, digit,
punctuation mark or symbol (Unicode categories L, N, P, S) and not one of the characters below that those
categories hold although nothing is drawn. Format controls (Cf: zero-width space and joiners, word joiner,
BOM, soft hyphen, bidi controls, tag characters), spaces and separators (Z), combining marks on their own (M:
variation selectors, the combining grapheme joiner), private-use, surrogate and unassigned code points are
never visible.
"""

from __future__ import annotations

import unicodedata
from typing import Final

BLANK_GRAPHICS: Final = frozenset(
    {
        "\u2800",  # BRAILLE PATTERN BLANK (So)
        "\u3164",  # HANGUL FILLER (Lo)
        "\u115f",  # HANGUL CHOSEONG FILLER (Lo)
        "\u1160",  # HANGUL JUNGSEONG FILLER (Lo)
        "\uffa0",  # HALFWIDTH HANGUL FILLER (Lo)
        "\u17b4",  # KHMER VOWEL INHERENT AQ (Mn in recent Unicode, Lo in older ones)
        "\u17b5",  # KHMER VOWEL INHERENT AA
        "\u2062",  # INVISIBLE TIMES (Cf, listed for older Unicode tables)
        "\ufeff",  # ZERO WIDTH NO-BREAK SPACE / BOM
    }
)
"""Characters whose category says letter or symbol although they draw nothing."""

_VISIBLE_CATEGORIES: Final = frozenset("LNPS")


def is_visible(char: str) -> bool:
    """Whether one character draws something on its own."""
    return unicodedata.category(char)[0] in _VISIBLE_CATEGORIES and char not in BLANK_GRAPHICS


def has_visible(text: str) -> bool:
    """Whether ``text`` has at least one visible character."""
    return any(is_visible(char) for char in text)
