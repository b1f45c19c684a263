"""``trainer <command>``: the training command line.

Each command lives in its own module, which exposes one function, ``add_command(subparsers)``: it adds the
command's parser and sets ``run`` (``args -> exit status``). Adding a command is adding its module to
``COMMANDS``. Modules import torch and TRL inside their functions, so ``trainer --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from trainer.errors import RecipeError, TrainerError

COMMANDS = (
    "trainer.grpo",
    "trainer.sft",
    "trainer.rejection",
    "trainer.serving",
    "trainer.pipeline",
    "trainer.mini_r1.command",
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="trainer", description="R1-style training against the verifier.")
    sub = top.add_subparsers(required=True, metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).add_command(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per reward request drowns the training log
    try:
        return int(args.run(args))
    except RecipeError as exc:
        print(f"trainer: bad recipe: {exc}", file=sys.stderr)
        return 2
    except TrainerError as exc:
        print(f"trainer: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
