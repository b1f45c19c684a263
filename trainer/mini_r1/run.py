"""The mini R1 run: a tiny model learns to add in two stages, rewarded by the verifier.

1. Stage 1, cold-start SFT (``trainer.sft``) on a few hundred formatted chains of thought;
2. Stage 2, GRPO (``trainer.grpo``) with the verifier's ``math`` and ``format`` rewards;
3. held-out accuracy and format rate before and after Stage 2, a table, and a PNG of the reward curves.

Both stages run from recipes written to the output directory, through the same code as ``trainer sft`` and
``trainer grpo`` (rerun one with ``trainer grpo --config <out>/grpo.yaml``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainer.grpo import train_grpo
from trainer.mini_r1.evaluate import Evaluation, chat_prompt, evaluate
from trainer.mini_r1.serve import local_verifier
from trainer.mini_r1.task import Problem, TaskSpec, corpus, make_splits
from trainer.mini_r1.tiny import TinyModelSpec, build_model_dir
from trainer.recipe import GRPORecipe, SFTRecipe, parse_recipe
from trainer.sft import train_sft
from trainer.transport import VerifierPool

log = logging.getLogger(__name__)

# Only a boxed answer counts: the task asks for one, and a stray number elsewhere must not earn reward.
MATH_PARAMS: dict[str, Any] = {"math": {"extract": ["boxed"]}}


@dataclass(frozen=True)
class MiniR1Config:
    """Every knob of the run; the defaults are the configuration documented in docs/trainer.md."""

    task: TaskSpec = field(default_factory=lambda: TaskSpec(n_terms=3, low=0, high=9))
    model: TinyModelSpec = field(default_factory=TinyModelSpec)
    seed: int = 0
    n_sft: int = 300
    n_held_out: int = 200
    sft_epochs: int = 12
    sft_learning_rate: float = 3e-3
    sft_batch_size: int = 16
    grpo_steps: int = 100
    grpo_prompts_per_step: int = 8
    num_generations: int = 8
    grpo_learning_rate: float = 1e-4
    temperature: float = 1.0
    reward_weights: dict[str, float] = field(default_factory=lambda: {"math": 1.0, "format": 0.2})
    max_new_tokens: int = 48
    threads: int = 2


@dataclass(frozen=True)
class MiniR1Result:
    before: Evaluation  # after Stage 1, before Stage 2
    after: Evaluation  # after Stage 2
    reward_curves: dict[str, list[tuple[int, float]]]  # reward name -> (step, mean reward)
    seconds: dict[str, float]
    plot: Path | None


def run(config: MiniR1Config, out_dir: Path, verifier_url: str | None = None, plot: bool = True) -> MiniR1Result:
    """The whole run; starts its own verifier on 127.0.0.1 unless ``verifier_url`` is given."""
    import torch
    from transformers import set_seed

    torch.set_num_threads(config.threads)
    set_seed(config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = make_splits(config.task, n_sft=config.n_sft, n_held_out=config.n_held_out, seed=config.seed)
    seconds: dict[str, float] = {}
    with _verifier(verifier_url) as url, VerifierPool(url) as pool:
        with _timed(seconds, "build"):
            model0 = build_model_dir(out_dir / "model0", corpus(config.task.all_problems()), config.model, config.seed)
            _write_jsonl(out_dir / "sft.jsonl", [_sft_row(p) for p in splits.sft])
            _write_jsonl(out_dir / "grpo.jsonl", [_grpo_row(p) for p in splits.grpo])
        with _timed(seconds, "stage1_sft"):
            train_sft(_write_recipe(out_dir / "sft.yaml", sft_recipe(config, model0, out_dir), SFTRecipe))
        with _timed(seconds, "eval_before"):
            before = _evaluate(config, out_dir / "stage1", splits.held_out, pool)
        with _timed(seconds, "stage2_grpo"):
            recipe = _write_recipe(out_dir / "grpo.yaml", grpo_recipe(config, out_dir, url), GRPORecipe)
            trainer = train_grpo(recipe)
        with _timed(seconds, "eval_after"):
            after = _evaluate(config, out_dir / "stage2", splits.held_out, pool)
    curves = reward_curves(trainer.state.log_history, list(config.reward_weights))
    png = None
    if plot:
        from trainer.mini_r1.plot import plot_reward_curves

        png = plot_reward_curves(curves, out_dir / "reward_curves.png")
    result = MiniR1Result(before=before, after=after, reward_curves=curves, seconds=seconds, plot=png)
    (out_dir / "result.json").write_text(json.dumps(asdict(result), default=str, indent=2))
    return result


def sft_recipe(config: MiniR1Config, model_dir: Path, out_dir: Path) -> dict[str, Any]:
    return {
        "model": str(model_dir),
        "dataset": {"path": str(out_dir / "sft.jsonl")},
        "output_dir": str(out_dir / "stage1"),
        "sft": {
            "num_train_epochs": config.sft_epochs,
            "per_device_train_batch_size": config.sft_batch_size,
            "learning_rate": config.sft_learning_rate,
            "lr_scheduler_type": "constant_with_warmup",
            "warmup_steps": 10,
            "seed": config.seed,
            "logging_steps": 10,
            "save_strategy": "no",
            "report_to": "none",
            "activation_checkpointing": False,
            "use_cpu": not _cuda(),
            "dataloader_num_workers": 0,
            "max_length": 128,
        },
    }


def grpo_recipe(config: MiniR1Config, out_dir: Path, verifier_url: str) -> dict[str, Any]:
    return {
        "model": str(out_dir / "stage1"),
        "dataset": {"path": str(out_dir / "grpo.jsonl")},
        "output_dir": str(out_dir / "stage2"),
        "verifier": {"urls": [verifier_url]},
        "rewards": {
            name: {"weight": weight, "params": MATH_PARAMS if name == "math" else None}
            for name, weight in config.reward_weights.items()
        },
        "vllm": False,
        "grpo": {
            "max_steps": config.grpo_steps,
            "per_device_train_batch_size": config.grpo_prompts_per_step * config.num_generations,
            "num_generations": config.num_generations,
            "max_completion_length": config.max_new_tokens,
            "temperature": config.temperature,
            "learning_rate": config.grpo_learning_rate,
            "lr_scheduler_type": "constant",
            "seed": config.seed,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": "none",
            "activation_checkpointing": False,
            "use_cpu": not _cuda(),
            "dataloader_num_workers": 0,
        },
    }


def reward_curves(log_history: list[dict[str, Any]], rewards: list[str]) -> dict[str, list[tuple[int, float]]]:
    """TRL's logged ``rewards/<name>/mean`` per step."""
    curves: dict[str, list[tuple[int, float]]] = {name: [] for name in rewards}
    for entry in log_history:
        for name in rewards:
            value = entry.get(f"rewards/{name}/mean")
            if value is not None:
                curves[name].append((int(entry["step"]), float(value)))
    return curves


def table(result: MiniR1Result) -> str:
    rows = [
        ("after Stage 1 (SFT)", result.before),
        ("after Stage 2 (GRPO)", result.after),
    ]
    lines = [f"{'held-out (n=' + str(result.before.n) + ')':<24}{'accuracy':>10}{'format':>10}"]
    lines += [f"{label:<24}{e.accuracy:>10.1%}{e.format_rate:>10.1%}" for label, e in rows]
    return "\n".join(lines)


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _evaluate(config: MiniR1Config, model_dir: Path, problems: list[Problem], pool: VerifierPool) -> Evaluation:
    return evaluate(str(model_dir), problems, pool, MATH_PARAMS, config.max_new_tokens)


@contextmanager
def _verifier(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    with local_verifier(("math", "format")) as started:
        log.info("started a verifier at %s", started)
        yield started


@contextmanager
def _timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    seconds[name] = round(time.perf_counter() - started, 1)
    log.info("%s took %.1fs", name, seconds[name])


def _write_recipe(path: Path, raw: dict[str, Any], kind: type[Any]) -> Any:
    import yaml

    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return parse_recipe(raw, kind, source=str(path))


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _sft_row(problem: Problem) -> dict[str, Any]:
    return {"prompt": chat_prompt(problem), "completion": [{"role": "assistant", "content": problem.completion()}]}


def _grpo_row(problem: Problem) -> dict[str, Any]:
    return {"prompt": chat_prompt(problem), "solution": str(problem.answer)}
