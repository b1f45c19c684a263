"""Counting words and cutting the chain of thought into segments for detection.

What counts as a word (see docs/language.md for the reasons):
- space-delimited scripts: a whitespace token with at least one letter, after leading and trailing
  punctuation is stripped; a lone Latin, Greek or Cyrillic letter is a variable, not a word;
- a word longer than ``LONG_WORD_LETTERS`` letters counts for more than one (words run together);
- Chinese: ``characters / ZH_CHARS_PER_WORD``; Japanese (a run with kana): ``characters / JA_CHARS_PER_WORD``;
  Thai, Lao, Khmer, Myanmar, Tibetan: ``characters / UNSPACED_CHARS_PER_WORD``. The CJK ratios are measured
  on parallel sentences (tests/plugins/language/data/parallel.jsonl) so that a sentence and its English
  translation count about the same;
- words in disguise are read as words (``disguise.undisguise_token``): ``first_we_add``, ``and/or``,
  ``firstWeAdd``, ``first-we-add.the-sum`` are several words, ``F1rst`` is ``First``;
- never counted: numbers and any other token with a digit, lone letters (``a.b_c`` is three), tokens with
  code or math symbols (``=<>{}[]()\\|^~@#$%&*+``), punctuation, common unit symbols (``cm``, ``kg``: the same
  in every language). Code, math and URLs were already blanked by ``text.mask``.

A segment is a run of words of one script family inside one sentence (or clause ending in ``;`` or ``:``)
of one line: a language switch inside a sentence almost always comes with a script switch, and a sentence
is long enough for a detector to be right.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Final

from verifier_language.disguise import undisguise_token
from verifier_language.scripts import (
    ALPHABETS,
    SCRIPT_RANGES,
    UNSPACED_SCRIPTS,
    family,
    script_runs,
)

ZH_CHARS_PER_WORD: Final = 1.5
"""Han characters per English word, measured on parallel sentences (docs/language.md)."""
JA_CHARS_PER_WORD: Final = 2.0
"""Japanese characters (kanji and kana) per English word, measured on the same sentences."""
UNSPACED_CHARS_PER_WORD: Final = 4.0
"""Thai and its neighbours: an estimate of the average word length, not measured here."""
LONG_WORD_LETTERS: Final = 15
"""Longer words of space-delimited scripts count for more than one (``spaced_weight``); the longest words of
the test sentences have 14 letters."""
LETTERS_PER_EXTRA_WORD: Final = 6.0
"""Beyond ``LONG_WORD_LETTERS``, each this many letters count one more word (English words average under
five letters, so words run together still count at least two thirds of what they hold)."""

_CJK = SCRIPT_RANGES["han"] + SCRIPT_RANGES["kana"]
_STOPS = "。！？；：…．｡"
_UNIT: Final = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<stop>[{_STOPS}]+)|(?P<token>[^\s{_CJK}{_STOPS}]+)")
_KANA: Final = re.compile(f"[{SCRIPT_RANGES['kana']}]")
_CODE_LIKE: Final = re.compile(r"[_=<>{}\[\]()\\|^~@#$%&*+/]|\d|[a-z][A-Z]|\w\.\w{2,}|::|->")
UNITS: Final = frozenset({
    "mm", "cm", "dm", "km", "nm", "mg", "kg", "ml", "mL", "Hz", "kHz", "MHz", "GHz", "kW", "kWh", "MW", "kJ",
    "kPa", "MPa", "mol", "mmol", "rad", "lb", "lbs", "oz", "ft", "mph", "kph", "ms", "ns", "hr", "hrs", "sec",
})
"""Unit symbols: written the same in every language (``5 cm``, ``$3\\text{ kg}$``), so never a word."""
_CLOSERS: Final = "\"'”’»)]}*_`"
_SENTENCE_END: Final = tuple(".!?;:…")


@dataclass(slots=True)
class Segment:
    """Words of one script family from one sentence of one line, in order.

    ``text`` is the stretch of the (masked) line from the first word to the last, as written: detectors
    also need the words that are not counted (the Portuguese article ``a``) and the accents in place.
    """

    script: str
    line: int
    text: str = ""
    words: list[str] = field(default_factory=list)
    weight: float = 0.0
    disguised: bool = False  # a token was undisguised: the detector reads the undisguised text


def _strip_punctuation(token: str) -> str:
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(token[end - 1])[0] in "PS":
        end -= 1
    return token[start:end]


def _cjk_word(run: str) -> tuple[str, str, float]:
    if _KANA.search(run):
        return "kana", run, len(run) / JA_CHARS_PER_WORD
    return "han", run, len(run) / ZH_CHARS_PER_WORD


@functools.lru_cache(maxsize=1 << 16)  # words repeat: a chain of thought says "the" and "we" many times
def token_words(token: str) -> tuple[tuple[str, str, float], ...]:
    """The counted words in one whitespace token without CJK characters: ``(script, word, weight)``.

    Usually one entry; a token mixing scripts (``Москва-city``) gives one per script, a token hiding several
    words (``first_we_add``) one per word.
    """
    plain = undisguise_token(token)
    if plain != token:
        return tuple(entry for part in plain.split() for entry in _plain_words(part))
    return _plain_words(token)


def spaced_weight(letters: int) -> float:
    """One word, or more for a run longer than ``LONG_WORD_LETTERS`` letters: words run together
    (``Firstweaddthetwonumbers``) count about as many words as they hold, a long honest word a little more
    than one."""
    return 1.0 + max(0, letters - LONG_WORD_LETTERS) / LETTERS_PER_EXTRA_WORD


def _plain_words(token: str) -> tuple[tuple[str, str, float], ...]:
    core = _strip_punctuation(token)
    if not core or _CODE_LIKE.search(core) or core in UNITS:
        return ()
    runs = script_runs(core)
    if not runs:
        return ()
    if len(runs) == 1 and len(core) == 1 and runs[0][0] in ALPHABETS:
        return ()  # a lone letter: a variable such as x or α
    by_script: dict[str, str] = {}
    for script, run in runs:
        by_script[script] = by_script.get(script, "") + run
    if len(by_script) > 1 and set(by_script) <= ALPHABETS and "-" not in core:
        # Latin, Greek and Cyrillic mixed in one word are look-alike letters ("Fіrst" with a Cyrillic і):
        # the word is in the script most of its letters are in.
        main = max(by_script, key=lambda script: (len(by_script[script]), script))
        by_script = {main: "".join(by_script.values())}
    if len(by_script) == 1:
        script = next(iter(by_script))
        if script in UNSPACED_SCRIPTS:
            return ((script, core, len(by_script[script]) / UNSPACED_CHARS_PER_WORD),)
        return ((script, core, spaced_weight(len(by_script[script]))),)
    return tuple(
        (script, letters,
         len(letters) / UNSPACED_CHARS_PER_WORD if script in UNSPACED_SCRIPTS else spaced_weight(len(letters)))
        for script, letters in by_script.items()
    )


def segments(masked_text: str) -> list[Segment]:
    """Cut masked prose into segments (see the module docstring); segments without words are dropped."""
    result: list[Segment] = []
    for line_number, line in enumerate(masked_text.split("\n")):
        current: Segment | None = None
        start = end = 0
        lead: int | None = None  # where uncounted tokens before a segment's first word begin ("A soma")
        for match in _UNIT.finditer(line):
            kind, text = match.lastgroup, match.group()
            pieces: tuple[tuple[str, str, float], ...]
            if kind == "stop":
                _close(result, current, line, start, end)
                current, lead = None, None
                continue
            if kind == "cjk":
                pieces, ends_sentence, disguised = (_cjk_word(text),), False, False
            else:
                pieces = token_words(text)
                disguised = bool(pieces) and undisguise_token(text) != text
                ends_sentence = text.rstrip(_CLOSERS).endswith(_SENTENCE_END)
                if not pieces and current is None and lead is None:
                    lead = match.start()
            for script, word, weight in pieces:
                if current is not None and family(current.script) != family(script):
                    _close(result, current, line, start, end)
                    current = None
                if current is None:
                    current, start = Segment(script, line_number), match.start() if lead is None else lead
                    lead = None
                elif script == "kana":
                    current.script = "kana"  # a Han run beside kana is Japanese
                current.words.append(word)
                current.weight += weight
                current.disguised = current.disguised or disguised
                end = match.end()
            if ends_sentence:
                _close(result, current, line, start, end)
                current, lead = None, None
        _close(result, current, line, start, end)
    return result


def _close(result: list[Segment], segment: Segment | None, line: str, start: int, end: int) -> None:
    if segment is not None and segment.words:
        text = line[start:end]
        segment.text = " ".join(undisguise_token(token) for token in text.split()) if segment.disguised else text
        result.append(segment)


def count_words(masked_text: str) -> float:
    """Counted words in masked prose, by the rules above."""
    return sum(segment.weight for segment in segments(masked_text))
