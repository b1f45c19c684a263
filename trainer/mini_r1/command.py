"""``trainer mini-r1`` (also ``python -m trainer.mini_r1``): the mini R1 run on CPU, in a few minutes."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any


def add_command(sub: Any) -> None:
    parser = sub.add_parser("mini-r1", help="the mini R1 run: tiny model, SFT then GRPO against the verifier")
    add_arguments(parser)
    parser.set_defaults(run=main)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from trainer.mini_r1.run import MiniR1Config

    defaults = MiniR1Config()
    parser.add_argument("--out", type=Path, default=Path("runs/mini_r1"), help="output directory")
    parser.add_argument(
        "--verifier-url", help="a running verifier with math, format and language (default: start one)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--grpo-steps", type=int, default=defaults.grpo_steps)
    parser.add_argument("--sft-epochs", type=int, default=defaults.sft_epochs)
    parser.add_argument("--grpo-lr", type=float, default=defaults.grpo_learning_rate, help="Stage 2 learning rate")
    parser.add_argument("--beta", type=float, default=defaults.beta, help="weight of GRPO's KL term (0: none)")
    parser.add_argument(
        "--language-weights", type=_weights, default=defaults.language_weights,
        help="one Stage 2 per weight of the language reward, comma-separated; '' for none (default: %(default)s)",
    )
    parser.add_argument(
        "--stage1", type=Path, help="reuse this Stage 1 model (an earlier run's <out>/stage1, same seed)"
    )
    parser.add_argument("--plots-dir", type=Path, help="also write the PNG here as trainer_mini_r1_seed<S>.png")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch CPU threads")


def _weights(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())  # "": Stage 1 only
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated weights such as 0,0.5: {text!r}") from exc


def main(args: argparse.Namespace) -> int:
    from trainer.mini_r1.run import MiniR1Config, run, table

    config = dataclasses.replace(
        MiniR1Config(), seed=args.seed, grpo_steps=args.grpo_steps, sft_epochs=args.sft_epochs,
        threads=args.threads, beta=args.beta, grpo_learning_rate=args.grpo_lr, language_weights=args.language_weights,
    )
    result = run(config, args.out, verifier_url=args.verifier_url, stage1=args.stage1, plots_dir=args.plots_dir)
    print()
    print(table(result))
    print(f"curves: {result.plot}")
    print("seconds: " + ", ".join(f"{k} {v}" for k, v in result.seconds.items()))
    return 0
