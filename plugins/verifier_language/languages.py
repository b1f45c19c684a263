"""Language codes: the targets this plugin accepts and the script each language is written in."""

from __future__ import annotations

from typing import Final

from verifier_language.scripts import UNIQUE_LANGUAGE

_DETECTED = (
    "af ar bg bn ca cs cy da de el en es et fa fi fr gu he hi hr hu id it ja kn ko lt lv mk ml mr ne nl no "
    "pa pl pt ro ru sk sl so sq sv sw ta te th tl tr uk ur vi zh"
)
DETECTED_LANGUAGES: Final = frozenset(_DETECTED.split())
"""Languages both detectors label (langdetect's 55 profiles, its zh-cn and zh-tw merged into zh)."""

SUPPORTED_TARGETS: Final = DETECTED_LANGUAGES | frozenset(UNIQUE_LANGUAGE.values())
"""Valid ``target`` codes: what a detector can label, plus what a script alone identifies.

The set is the same whichever detector the service runs, so a request means the same thing everywhere.
"""

_LATIN = (
    "af als an ast az bar bcl br bs ca ceb co cs cy da de diq dsb en eo es et eu fi fr frr fy ga gd gl gn gv "
    "hif hr hsb ht hu ia id ie ilo io is it jbo jv kw la lb li lmo lt lv mg min ms mt mwl nah nap nds nl nn "
    "no oc pam pl pms pt qu rm ro sc scn sco sh sk sl so sq su sv sw tk tl tr uz vec vep vi vls vo wa war yo"
)
_CYRILLIC = "ba be bg bxr ce cv kk krc kv ky lez mhr mk mn mrj myv os ru rue sah sr tg tt tyv uk xal"
_ARABIC = "ar arz azb ckb fa lrc mzn pnb ps sd ug ur"
_DEVANAGARI = "bh dty gom hi mai mr ne new sa"
_BENGALI = "as bn bpy"

LANGUAGE_SCRIPT: Final[dict[str, str]] = {
    **{code: "latin" for code in _LATIN.split()},
    **{code: "cyrillic" for code in _CYRILLIC.split()},
    **{code: "arabic" for code in _ARABIC.split()},
    **{code: "devanagari" for code in _DEVANAGARI.split()},
    **{code: "bengali" for code in _BENGALI.split()},
    **{language: script for script, language in UNIQUE_LANGUAGE.items() if script != "han"},
    "zh": "han", "wuu": "han", "yue": "han", "gan": "han", "ja": "kana", "yi": "hebrew",
}
"""The script a language is written in (fastText's lid.176 labels and langdetect's): a detector's guess in
another script than the text's is impossible and skipped. Labels missing here are not filtered."""

_ALIASES: Final = {"zh-cn": "zh", "zh-tw": "zh", "zh-hans": "zh", "zh-hant": "zh", "nb": "no", "iw": "he",
                   "in": "id", "wuu": "zh", "yue": "zh", "gan": "zh", "sh": "hr"}


def normalise(code: str) -> str:
    """A detector label or a BCP 47 tag as a bare ISO 639-1 code: ``zh-TW`` -> ``zh``, ``pt_BR`` -> ``pt``."""
    code = code.strip().lower().replace("_", "-")
    if code in _ALIASES:
        return _ALIASES[code]
    primary = code.split("-", 1)[0]
    return _ALIASES.get(primary, primary)


def writes_in(language: str, script: str, *, unknown: bool = True) -> bool:
    """Whether ``language`` is written in ``script`` (Japanese in Han and kana); ``unknown`` answers for
    languages the table does not list."""
    expected = LANGUAGE_SCRIPT.get(language)
    if expected is None:
        return unknown
    if language == "ja":
        return script in ("kana", "han")
    return expected == script
