"""Unicode scripts: which writing system a run of letters is in, and what the script alone says.

Detectors are slow and unreliable on short text; the script is free and certain. Hangul is Korean, kana is
Japanese, Thai is Thai: for those scripts no detector is asked. Latin, Cyrillic, Arabic, Devanagari and
Bengali are shared by many languages and need the detector. The table covers whole Unicode blocks,
combining marks included, because Python's ``\\w`` leaves out the vowel signs of Indic scripts.
"""

from __future__ import annotations

import re
from typing import Final

# Script name -> character class body. Order matters only for readability; the ranges do not overlap.
SCRIPT_RANGES: Final[dict[str, str]] = {
    "latin": (
        "A-Za-z\u00aa\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0250-\u02af\u0300-\u036f"
        "\u1d00-\u1dbf\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff\uab30-\uab6f\ufb00-\ufb06\uff21-\uff3a\uff41-\uff5a"
    ),
    "greek": "\u0370-\u03ff\u1f00-\u1fff",
    "cyrillic": "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f",
    "armenian": "\u0531-\u058f\ufb13-\ufb17",
    "hebrew": "\u0591-\u05ff\ufb1d-\ufb4f",
    "arabic": "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc",
    "syriac": "\u0700-\u074f",
    "thaana": "\u0780-\u07bf",
    "devanagari": "\u0900-\u097f\ua8e0-\ua8ff",
    "bengali": "\u0980-\u09ff",
    "gurmukhi": "\u0a00-\u0a7f",
    "gujarati": "\u0a80-\u0aff",
    "oriya": "\u0b00-\u0b7f",
    "tamil": "\u0b80-\u0bff",
    "telugu": "\u0c00-\u0c7f",
    "kannada": "\u0c80-\u0cff",
    "malayalam": "\u0d00-\u0d7f",
    "sinhala": "\u0d80-\u0dff",
    "thai": "\u0e00-\u0e7f",
    "lao": "\u0e80-\u0eff",
    "tibetan": "\u0f00-\u0fff",
    "myanmar": "\u1000-\u109f\uaa60-\uaa7f",
    "georgian": "\u10a0-\u10ff\u1c90-\u1cbf\u2d00-\u2d2f",
    "hangul": "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uffa0-\uffdc",
    "ethiopic": "\u1200-\u139f\u2d80-\u2ddf",
    "khmer": "\u1780-\u17ff\u19e0-\u19ff",
    "mongolian": "\u1800-\u18af",
    "kana": "\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f",
    "han": (
        "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
        "\U00020000-\U0003134f"
    ),
}

CJK_SCRIPTS: Final = frozenset({"han", "kana"})
"""Written without spaces between words: counted by characters, not by whitespace tokens."""

UNSPACED_SCRIPTS: Final = frozenset({"thai", "lao", "khmer", "myanmar", "tibetan"})
"""Also written without spaces between words, but with longer words than Chinese (see ``words``)."""

ALPHABETS: Final = frozenset({"latin", "greek", "cyrillic"})
"""Scripts where a lone letter is usually a variable (``x``, ``α``), not a word."""

UNIQUE_LANGUAGE: Final[dict[str, str]] = {
    "hangul": "ko",
    "kana": "ja",
    "han": "zh",  # Han without kana; a short Han-only fragment inherits ``ja`` from Japanese neighbours
    "greek": "el",
    "hebrew": "he",
    "armenian": "hy",
    "georgian": "ka",
    "thai": "th",
    "lao": "lo",
    "khmer": "km",
    "myanmar": "my",
    "tibetan": "bo",
    "sinhala": "si",
    "ethiopic": "am",
    "gurmukhi": "pa",
    "gujarati": "gu",
    "oriya": "or",
    "tamil": "ta",
    "telugu": "te",
    "kannada": "kn",
    "malayalam": "ml",
    "thaana": "dv",
    "mongolian": "mn",
}
"""Scripts that, in practice, one language writes: the script alone decides, no detector is asked."""

SHARED_DEFAULT: Final[dict[str, str]] = {
    "cyrillic": "ru", "arabic": "ar", "devanagari": "hi", "bengali": "bn",
}
"""The most likely language of a shared script, used only when the detector gives no usable answer."""

UNKNOWN: Final = "und"
"""The label (BCP 47 "undetermined") of letters in a script no table here knows: never the target."""

OTHER_SCRIPT: Final = "other"

_SCRIPT_RE: Final = re.compile(
    "|".join(f"(?P<{name}>[{body}]+)" for name, body in SCRIPT_RANGES.items())
    + rf"|(?P<{OTHER_SCRIPT}>[^\W\d_]+)"
)


def script_runs(token: str) -> list[tuple[str, str]]:
    """The maximal runs of one script's letters in ``token``, as ``(script, run)``; other characters drop.

    Letters outside every known block come back as script ``"other"``.
    """
    return [(match.lastgroup or OTHER_SCRIPT, match.group()) for match in _SCRIPT_RE.finditer(token)]


def family(script: str) -> str:
    """Scripts whose fragments may inherit each other's language: Han and kana mix within Japanese."""
    return "cjk" if script in CJK_SCRIPTS else script
