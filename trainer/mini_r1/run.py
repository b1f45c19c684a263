"""The mini R1 run: a tiny model learns to add in two stages, rewarded by the verifier.

1. Stage 1, cold-start SFT (``trainer.sft``) on a few hundred formatted chains of thought that mix English and
   Chinese step words, as R1-Zero's reasoning mixed languages;
2. Stage 2, GRPO (``trainer.grpo``) from that one Stage 1 model, once per ``language`` weight: the verifier's
   ``math`` and ``format`` rewards, plus its ``language`` reward (R1's language-consistency reward, target the
   prompt's language) at that weight; at weight 0.0 the language score is logged but not rewarded. GRPO's KL
   term to the Stage 1 model has weight ``beta``;
3. held-out accuracy, format rate and language score after each stage, a table, and a PNG of the curves.

The stages run from recipes written to the output directory, through the same code as ``trainer sft`` and
``trainer grpo`` (rerun one with ``trainer grpo --config <out>/grpo_language_1.yaml``).
"""

from __future__ import annotations

import json
import logging
import resource
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainer.grpo import train_grpo
from trainer.mini_r1.evaluate import Evaluation, chat_prompt, evaluate
from trainer.mini_r1.serve import local_verifier
from trainer.mini_r1.task import Problem, TaskSpec, WordedTaskSpec, corpus, make_splits
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

    # 3 digits; "add" or "加" opening each step, the Chinese word on the 40% of steps that add 6 or more
    task: TaskSpec = field(default_factory=WordedTaskSpec)
    model: TinyModelSpec = field(default_factory=TinyModelSpec)
    seed: int = 0
    n_sft: int = 300
    n_held_out: int = 200
    sft_epochs: int = 12
    sft_learning_rate: float = 3e-3
    sft_batch_size: int = 16
    grpo_steps: int = 30  # 100 at lr 1e-4 (the first version of the run) did not fit a loaded 2-core machine
    grpo_prompts_per_step: int = 8
    num_generations: int = 8
    grpo_learning_rate: float = 3e-4  # 1e-4 for 20 steps moved neither the language score nor accuracy
    temperature: float = 1.0
    reward_weights: dict[str, float] = field(default_factory=lambda: {"math": 1.0, "format": 0.2})
    # One Stage 2 per weight of the language reward, all from the same Stage 1; 0.0 measures it, rewards nothing.
    # 1.0: R1 summed accuracy and language consistency as they are; 0.5 moved nothing in 20 steps at lr 1e-4.
    language_weights: tuple[float, ...] = (0.0, 1.0)
    beta: float = 0.04  # GRPO's KL term to the reference model, the Stage 1 model (DeepSeekMath's 0.04)
    max_new_tokens: int = 48
    threads: int = 1  # 2 per run, 3 runs on 2 loaded cores: Stage 1 steps took 25 s against 4-5 s with 1


@dataclass(frozen=True)
class Stage2Result:
    """One Stage 2 run from the Stage 1 model."""

    name: str  # language_<weight>: its recipe grpo_<name>.yaml, its model stage2_<name>/
    rewards: dict[str, float]  # the weights, the language reward's included
    beta: float
    after: Evaluation
    curves: dict[str, list[tuple[int, float]]]  # curve name (see CURVES) -> (step, value)
    kl: float | None  # mean logged KL over the last 10 steps; None with beta 0 (TRL logs none)


@dataclass(frozen=True)
class MiniR1Result:
    before: Evaluation  # after Stage 1, before Stage 2
    stage2: list[Stage2Result]
    seconds: dict[str, float]  # wall time per phase; cpu: this process's CPU time, cpu_children: the verifier's
    plot: Path | None


# Curves read from TRL's log: the mean reward per component, the completions' mean length in tokens, the KL.
CURVES = {
    "math": "rewards/math/mean",
    "format": "rewards/format/mean",
    "language": "rewards/language/mean",
    "length": "completions/mean_length",
    "kl": "kl",
}


def run(
    config: MiniR1Config,
    out_dir: Path,
    verifier_url: str | None = None,
    plot: bool = True,
    stage1: Path | None = None,
    plots_dir: Path | None = None,
) -> MiniR1Result:
    """The whole run; starts its own verifier on 127.0.0.1 unless ``verifier_url`` is given.

    ``stage1``: a Stage 1 model directory of an earlier run with the same config and seed; Stage 1 is skipped.
    ``plots_dir``: also write the PNG there, as ``trainer_mini_r1_seed<seed>.png``.
    """
    import torch
    from transformers import set_seed

    torch.set_num_threads(config.threads)
    set_seed(config.seed)
    cpu_started = time.process_time()
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = make_splits(config.task, n_sft=config.n_sft, n_held_out=config.n_held_out, seed=config.seed)
    seconds: dict[str, float] = {}
    runs: list[Stage2Result] = []
    with _verifier(verifier_url) as url, VerifierPool(url) as pool:
        with _timed(seconds, "build"):
            _write_jsonl(out_dir / "sft.jsonl", [_sft_row(p) for p in splits.sft])
            _write_jsonl(out_dir / "grpo.jsonl", [_grpo_row(p) for p in splits.grpo])
            if stage1 is None:
                texts = corpus(config.task.all_problems())
                model0 = build_model_dir(out_dir / "model0", texts, config.model, config.seed)
        if stage1 is None:
            stage1 = out_dir / "stage1"
            with _timed(seconds, "stage1_sft"):
                train_sft(_write_recipe(out_dir / "sft.yaml", sft_recipe(config, model0, out_dir), SFTRecipe))
        with _timed(seconds, "eval_before"):
            before = _evaluate(config, stage1, splits.held_out, pool)
        for weight in config.language_weights:
            set_seed(config.seed)  # every Stage 2 starts from the same state, whatever ran before it
            name = f"language_{weight:g}"
            rewards = {**config.reward_weights, "language": weight}
            log.info("Stage 2 %s: rewards %s, beta %g", name, rewards, config.beta)
            with _timed(seconds, f"stage2_{name}"):
                raw = grpo_recipe(config, stage1, out_dir / f"stage2_{name}", url, rewards)
                trainer = train_grpo(_write_recipe(out_dir / f"grpo_{name}.yaml", raw, GRPORecipe))
            with _timed(seconds, f"eval_{name}"):
                after = _evaluate(config, out_dir / f"stage2_{name}", splits.held_out, pool)
            curves = read_curves(trainer.state.log_history)
            runs.append(Stage2Result(name, rewards, config.beta, after, curves, _last_mean(curves["kl"], 10)))
    seconds["cpu"] = round(time.process_time() - cpu_started, 1)
    seconds["cpu_children"] = round(_children_cpu(), 1)
    png = None
    if plot:
        from trainer.mini_r1.plot import plot_runs

        png = plot_runs(runs, out_dir / "curves.png", f"mini R1, seed {config.seed}, beta {config.beta:g}")
        if plots_dir is not None:
            plots_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, plots_dir / f"trainer_mini_r1_seed{config.seed}.png")
    result = MiniR1Result(before=before, stage2=runs, seconds=seconds, plot=png)
    (out_dir / "result.json").write_text(json.dumps(asdict(result), default=str, indent=2))
    return result


def load_result(path: Path) -> MiniR1Result:
    """A run's ``result.json`` read back."""
    raw = json.loads(path.read_text())

    def evaluation(data: dict[str, Any]) -> Evaluation:
        return Evaluation(**{**data, "samples": tuple(data["samples"])})

    stage2 = [
        Stage2Result(
            name=r["name"], rewards=r["rewards"], beta=r["beta"], after=evaluation(r["after"]),
            curves={name: [(int(s), float(v)) for s, v in points] for name, points in r["curves"].items()},
            kl=r["kl"],
        )
        for r in raw["stage2"]
    ]
    plot = Path(raw["plot"]) if raw["plot"] is not None else None
    return MiniR1Result(before=evaluation(raw["before"]), stage2=stage2, seconds=raw["seconds"], plot=plot)


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


def grpo_recipe(
    config: MiniR1Config, model_dir: Path, output_dir: Path, verifier_url: str, rewards: dict[str, float]
) -> dict[str, Any]:
    return {
        "model": str(model_dir),
        "dataset": {"path": str(output_dir.parent / "grpo.jsonl")},
        "output_dir": str(output_dir),
        "verifier": {"urls": [verifier_url]},
        "rewards": {
            name: {"weight": weight, "params": MATH_PARAMS if name == "math" else None}
            for name, weight in rewards.items()
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
            "beta": config.beta,
            "seed": config.seed,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": "none",
            "activation_checkpointing": False,
            "use_cpu": not _cuda(),
            "dataloader_num_workers": 0,
        },
    }


def read_curves(log_history: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """The ``CURVES`` TRL logged, per step; a curve TRL did not log (``kl`` with beta 0) is empty."""
    curves: dict[str, list[tuple[int, float]]] = {name: [] for name in CURVES}
    for entry in log_history:
        for name, key in CURVES.items():
            value = entry.get(key)
            if value is not None:
                curves[name].append((int(entry["step"]), float(value)))
    return curves


def table(result: MiniR1Result) -> str:
    rows: list[tuple[str, Evaluation, float | None]] = [("after Stage 1 (SFT)", result.before, None)]
    rows += [(f"after Stage 2 {_label(r)}", r.after, r.kl) for r in result.stage2]
    head = f"held-out (n={result.before.n})"
    lines = [f"{head:<46}{'accuracy':>10}{'format':>10}{'language':>10}{'KL':>10}"]
    for label, e, kl in rows:
        language = f"{e.language:.3f}" if e.language is not None else "-"
        lines.append(f"{label:<46}{e.accuracy:>10.1%}{e.format_rate:>10.1%}{language:>10}"
                     f"{(f'{kl:.4f}' if kl is not None else '-'):>10}")
    return "\n".join(lines)


def _label(stage2: Stage2Result) -> str:
    rewarded = "+".join(f"{name}" for name, weight in stage2.rewards.items() if weight)
    return f"({rewarded}, beta {stage2.beta:g})"


def _last_mean(points: list[tuple[int, float]], n: int) -> float | None:
    values = [value for _, value in points[-n:]]
    return sum(values) / len(values) if values else None


def _children_cpu() -> float:
    """CPU time of the finished subprocesses (the verifier and its workers), once they have been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _evaluate(config: MiniR1Config, model_dir: Path, problems: list[Problem], pool: VerifierPool) -> Evaluation:
    return evaluate(str(model_dir), problems, pool, MATH_PARAMS, config.max_new_tokens, language=True)


@contextmanager
def _verifier(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    with local_verifier(("math", "format", "language")) as started:
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
