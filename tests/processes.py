"""Host process trees read from /proc, for tests that check nothing a run or a server started outlives it."""

from __future__ import annotations

import os
from pathlib import Path


def process_tree() -> dict[int, list[int]]:
    """Parent pid -> child pids, for every process visible now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    return children


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (children first, then theirs)."""
    tree = process_tree()
    found: list[int] = []
    todo = [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
