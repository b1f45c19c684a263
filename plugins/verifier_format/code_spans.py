"""Where a completion quotes code: tags written inside code are quoted, not used.

A policy that prints ``<think>...</think>`` inside a fenced block (or inline code) has shown the format, not
followed it. Fenced blocks (``` and ~~~, from a line that opens them to the line that closes them or to the
end) and inline code spans (matching backtick runs on one line) are found here, so that the tag rewards can
refuse tags inside them.
"""

from __future__ import annotations

import bisect
import re
from typing import Final

# An info string holding markup ("```</think>", a closing fence glued to the tag) opens no block here,
# although CommonMark would let it: reading it as an opener would swallow the rest of the completion.
_FENCE: Final = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[^\n<`]*(?:\n.*?(?:^[ \t]*\1[ \t]*$|\Z)|\Z)", re.DOTALL | re.MULTILINE
)
_INLINE_CODE: Final = re.compile(r"(?<!`)(`+)(?!`)[^\n]+?(?<!`)\1(?!`)")


class CodeSpans:
    """The code regions of one text, as sorted ``[start, end)`` intervals."""

    def __init__(self, text: str) -> None:
        spans: list[tuple[int, int]] = []
        last = 0
        for fence in _FENCE.finditer(text):
            spans.extend(_inline(text, last, fence.start()))
            spans.append(fence.span())
            last = fence.end()
        spans.extend(_inline(text, last, len(text)))
        self._starts = [start for start, _ in spans]
        self._spans = spans

    def __bool__(self) -> bool:
        return bool(self._spans)

    def contains(self, position: int) -> bool:
        """Whether ``position`` lies inside a code region."""
        index = bisect.bisect_right(self._starts, position) - 1
        return index >= 0 and position < self._spans[index][1]


def _inline(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [match.span() for match in _INLINE_CODE.finditer(text, start, end)]
