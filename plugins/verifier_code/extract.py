"""Finding the program in a completion: the last fenced block of the requested language."""

from __future__ import annotations

import re
from typing import Literal

from sandbox.languages import Language

ExtractMode = Literal["auto", "last_block", "first_block", "whole"]

_FENCE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE
)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced code block as ``(info string lower-cased, code)``, in order."""
    return [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]


def extract_program(text: str, language: Language, mode: ExtractMode = "auto") -> str | None:
    """The program to run from ``text`` (the completion's answer, after the reasoning: see
    ``verifier.split_reasoning``), or None when it holds none.

    ``auto``: the last block tagged with the language (or untagged), else the whole answer when it has
    no fences at all (raw code, as HumanEval completions are).
    """
    answer = text
    if mode == "whole":
        return answer if answer.strip() else None
    tags = {language.name, *language.aliases, *language.fence_tags}
    blocks = fenced_blocks(answer)
    matching = [code for tag, code in blocks if tag in tags]
    if not matching:
        matching = [code for tag, code in blocks if tag == ""]
    if matching:
        return matching[0] if mode == "first_block" else matching[-1]
    if mode == "auto" and not blocks and "```" not in answer and answer.strip():
        return answer
    return None
