"""Copy the licensed rows of the shared math corpus into ``math_cases_public.jsonl``.

    python tests/plugins/math/data/copy_public_corpus.py ../shared/eval/math_cases_public.jsonl \
        > tests/plugins/math/data/math_cases_public.jsonl

Keeps every row, byte for byte, whose upstream states a licence (hendrycks/math: MIT; NVIDIA/NeMo-Skills:
Apache-2.0); drops the MARIO-Math-Reasoning/MARIO_EVAL rows, whose repository has no licence file.
"""

from __future__ import annotations

import json
import sys

LICENSED = ("hendrycks/math@", "NVIDIA/NeMo-Skills@")


def main(path: str) -> None:
    with open(path, encoding="utf-8") as corpus:
        for line in corpus:
            if line.strip() and json.loads(line)["source"].startswith(LICENSED):
                sys.stdout.write(line)


if __name__ == "__main__":
    main(sys.argv[1])
