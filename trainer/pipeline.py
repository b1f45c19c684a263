"""``trainer pipeline r1.yaml``: DeepSeek-R1's four stages from one config, each resumable.

1. ``cold_start``: SFT on chains of thought (``trainer.sft``);
2. ``reasoning``: GRPO with rule-based rewards from the verifier (accuracy, format, language; ``trainer.grpo``);
3. ``rejection``: k samples per prompt from the stage-2 model behind an OpenAI-compatible endpoint (vLLM, or
   ``trainer.serving`` started here on 127.0.0.1), kept when the verifier passes them (``trainer.rejection``),
   then SFT on the kept samples;
4. ``all_scenario``: GRPO with rule-based rewards plus the ``judge`` reward.

Each stage writes ``<output_dir>/<stage>/`` (the model in ``model/``, the exact ``trainer sft|grpo`` recipe it ran
in ``recipe.yaml``) and, last and atomically, ``done.json``. A re-run skips a stage whose ``done.json`` matches
its settings and input models, restarts a half-finished one from scratch (rejection samples drawn under the same
settings excepted: their ledger resumes), and refuses to reuse a finished stage whose settings or input models
changed. Without ``verifier.urls`` the pipeline starts ``verifier serve`` on 127.0.0.1 for each stage that needs
it (``trainer.pipeline_local``). The config's schema and checks: ``trainer.pipeline_config``; docs/pipeline.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainer.errors import RecipeError, TrainerError
from trainer.pipeline_config import (
    BASE,
    STAGES,
    GRPOStage,
    PipelineConfig,
    check_config,
    load_pipeline,
    parse_pipeline,
    resolve,
    stage_dir,
    uses_judge,
)
from trainer.pipeline_local import (
    MARKER,
    Services,
    fingerprint,
    model_server,
    prepare_miniature,
    read_marker,
    write_marker,
)
from trainer.recipe import GRPORecipe, RewardSpec, SFTRecipe, parse_recipe

__all__ = ["PipelineConfig", "PipelineResult", "StageOutcome", "load_pipeline", "parse_pipeline", "run_pipeline"]

log = logging.getLogger(__name__)


@dataclass
class StageOutcome:
    name: str
    status: Literal["ran", "skipped"]
    model: Path
    marker: dict[str, Any]


@dataclass
class PipelineResult:
    stages: dict[str, StageOutcome] = field(default_factory=dict)
    evaluation: dict[str, dict[str, float]] | None = None  # miniature: held-out accuracy per model


def run_pipeline(config: PipelineConfig, *, restart_from: str | None = None) -> PipelineResult:
    """Run (or resume) the four stages; each stage's model is the next one's input unless it names another."""
    check_config(config)
    if config.threads is not None:
        import torch

        torch.set_num_threads(config.threads)
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    if restart_from is not None:
        if restart_from not in STAGES:
            raise RecipeError(f"--restart-from: {restart_from!r} is not a stage ({', '.join(STAGES)})")
        for name in STAGES[STAGES.index(restart_from) :]:
            shutil.rmtree(stage_dir(config, name), ignore_errors=True)
    # What each model reference stands for, in the fingerprints: a stage by the run that produced its model.
    versions = {BASE: prepare_miniature(config) or str(config.model)}
    with Services(config) as services:
        result = _run_stages(config, services, versions)
        if config.miniature is not None and config.miniature.n_held_out:
            result.evaluation = evaluate_miniature(config, services)
    return result


def _run_stages(config: PipelineConfig, services: Services, versions: dict[str, str]) -> PipelineResult:
    result = PipelineResult()
    previous = BASE
    for index, name in enumerate(STAGES):
        stage = getattr(config.stages, name)
        ref = stage.model or previous
        model = resolve(config, ref, index, f"stages.{name}.model")
        refs = [ref, *([stage.train_from] if getattr(stage, "train_from", None) else [])]
        if uses_judge(stage) and config.judge is not None and config.judge.serve is not None:
            refs.append(config.judge.serve)
        outside = _services(config, uses_judge(stage)) if name != "cold_start" else None
        settings = fingerprint(name, stage.model_dump(), {r: versions.get(r, r) for r in refs}, outside)
        directory = stage_dir(config, name)
        marker = read_marker(directory)
        if marker is not None and marker.get("fingerprint") != settings:
            raise RecipeError(
                f"stages.{name}: finished earlier with other settings or another input model "
                f"({directory / MARKER}); delete {directory} and the stages after it to rerun them, or run "
                f"with --restart-from {name}"
            )
        if marker is not None:
            log.info("stage %s: finished earlier, skipped (%s)", name, directory / MARKER)
            result.stages[name] = StageOutcome(name, "skipped", directory / "model", marker)
        else:
            _clear_unfinished(directory, settings)
            log.info("stage %s: starting from %s", name, model)
            started = time.perf_counter()
            if name == "rejection":
                details = _rejection_stage(config, services, directory, model)
            elif isinstance(stage, GRPOStage):
                details = _grpo_stage(config, services, name, stage, directory, model)
            else:
                details = _sft(directory, model, _dataset(config, stage.dataset, "cold_start.jsonl"), stage.sft)
            _release_memory()  # a GPU server of the next stage (vLLM) needs what training held
            marker = {"stage": name, "fingerprint": settings, "run_id": uuid.uuid4().hex, "input_model": str(model),
                      "model": str(directory / "model"), "seconds": round(time.perf_counter() - started, 1),
                      "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **details}
            write_marker(directory, marker)
            log.info("stage %s: done in %.1fs", name, marker["seconds"])
            result.stages[name] = StageOutcome(name, "ran", directory / "model", marker)
        versions[name] = str(marker["run_id"])
        previous = name
    return result


def _services(config: PipelineConfig, judged: bool) -> Any:
    """What outside the stages changes what a stage computes (not where the servers are, nor timeouts)."""
    judge = config.judge.model_dump(exclude={"url"}) if config.judge and judged else None
    return {"plugin_options": config.verifier.plugin_options, "judge": judge}


def _release_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _clear_unfinished(directory: Path, settings: str) -> None:
    """A half-finished stage restarts; only rejection samples drawn under the same settings are kept."""
    started = directory / "started.json"
    keep_samples = False
    with contextlib.suppress(OSError, ValueError):
        keep_samples = json.loads(started.read_text(encoding="utf-8")).get("fingerprint") == settings
    if directory.exists():
        for child in directory.iterdir():
            if keep_samples and child.name == "samples":
                log.info("keeping the rejection samples of the unfinished run in %s (their ledger resumes)", child)
            elif child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    started.write_text(json.dumps({"fingerprint": settings}) + "\n", encoding="utf-8")


def _write_recipe(directory: Path, raw: dict[str, Any], kind: type[Any]) -> Any:
    import yaml

    (directory / "recipe.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return parse_recipe(raw, kind, source=str(directory / "recipe.yaml"))


def _dataset(config: PipelineConfig, spec: Any, miniature_file: str) -> dict[str, Any]:
    if spec is not None:
        return dict(spec.model_dump(exclude_none=True))
    return {"path": str(Path(config.output_dir) / "miniature" / miniature_file)}


def _sft(directory: Path, model: Path | str, dataset: dict[str, Any], sft: dict[str, Any]) -> dict[str, Any]:
    from trainer.sft import train_sft

    raw = {"model": str(model), "dataset": dataset, "output_dir": str(directory / "model"), "sft": sft}
    trainer = train_sft(_write_recipe(directory, raw, SFTRecipe))
    losses = [e["train_loss"] for e in trainer.state.log_history if "train_loss" in e]
    return {"train_loss": losses[-1] if losses else None}


def _grpo_stage(config: PipelineConfig, services: Services, name: str, stage: GRPOStage, directory: Path,
                model: Path | str) -> dict[str, Any]:
    from trainer.grpo import train_grpo

    judge_for = STAGES.index(name) if uses_judge(stage) else None
    with services.stage(judge_for=judge_for) as urls:
        transport = config.verifier.model_dump(exclude={"urls", "plugins", "plugin_options", "start_timeout_s"})
        raw = {
            "model": str(model),
            "dataset": _dataset(config, stage.dataset, f"{name}.jsonl"),
            "output_dir": str(directory / "model"),
            "verifier": {**transport, "urls": urls},
            "rewards": {k: v.model_dump(exclude_none=True) if isinstance(v, RewardSpec) else v
                        for k, v in stage.rewards.items()},
            "vllm": stage.vllm,
            "grpo": stage.grpo,
        }
        trainer = train_grpo(_write_recipe(directory, raw, GRPORecipe))
    return {"metrics": _metric_summary(trainer.state.log_history)}


def _metric_summary(log_history: list[dict[str, Any]]) -> dict[str, Any]:
    """First and last logged value of each ``rewards/<name>/mean`` and ``verifier/...`` metric (None: no score)."""
    series: dict[str, list[float | None]] = {}
    for entry in log_history:
        for key, value in entry.items():
            if (key.startswith("rewards/") and key.endswith("/mean")) or key.startswith("verifier/"):
                series.setdefault(key, []).append(float(value) if isinstance(value, int | float) else None)
    return {key: {"first": values[0], "last": values[-1], "steps": len(values)} for key, values in series.items()}


def _rejection_stage(config: PipelineConfig, services: Services, directory: Path, model: Path | str) -> dict[str, Any]:
    from trainer.rejection import RejectionConfig, rejection_sample

    index = STAGES.index("rejection")
    stage = config.stages.rejection
    samples = directory / "samples" / "accepted.jsonl"
    prompts = Path(stage.prompts) if stage.prompts else Path(config.output_dir) / "miniature" / "rejection.jsonl"
    local, policy_url = [], stage.policy.url
    if policy_url is None:
        launch, policy_url = model_server(model, stage.policy.model, directory / "policy-server.log",
                                          serve_command=stage.policy.serve_command)
        local.append(launch)
    with services.stage(judge_for=index if uses_judge(stage) else None, local=local) as urls:
        rejection = RejectionConfig.model_validate(
            {**stage.sampling, "prompts": prompts, "output": samples, "policy_url": policy_url,
             "policy_model": stage.policy.model, "policy_api_key": stage.policy.api_key, "verifier_urls": urls}
        )
        stats = rejection_sample(rejection)
    rows = [json.dumps({"messages": json.loads(line)["messages"]}, ensure_ascii=False)
            for line in samples.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(rows) < stage.min_accepted:
        raise TrainerError(
            f"stages.rejection: {len(rows)} samples accepted, fewer than min_accepted ({stage.min_accepted}); "
            f"see {rejection.stats_path}. The stage stays unfinished: loosen sampling.tasks, or train stage 2 longer"
        )
    for extra in stage.extra_data:
        rows += [line for line in Path(extra).read_text(encoding="utf-8").splitlines() if line.strip()]
    sft_file = directory / "sft.jsonl"
    sft_file.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    train_from = resolve(config, stage.train_from, index, "stages.rejection.train_from") if stage.train_from else model
    details = _sft(directory, train_from, {"path": str(sft_file)}, stage.sft)
    return {**details, "trained_from": str(train_from), "sft_rows": len(rows), "stats_file": str(rejection.stats_path),
            "sampling": stats.to_dict()}


def evaluate_miniature(config: PipelineConfig, services: Services) -> dict[str, dict[str, float]]:
    """Held-out accuracy and format rate of the base model and of each stage's model (greedy, by the verifier)."""
    from trainer.mini_r1.evaluate import evaluate
    from trainer.mini_r1.task import TaskSpec, make_splits
    from trainer.transport import VerifierPool

    spec = config.miniature
    assert spec is not None
    held_out = make_splits(TaskSpec(**spec.task), n_sft=spec.n_sft, n_held_out=spec.n_held_out,
                           seed=spec.seed).held_out
    models = {BASE: resolve(config, BASE, 0, "base"), **{n: stage_dir(config, n) / "model" for n in STAGES}}
    table: dict[str, dict[str, float]] = {}
    with services.stage() as urls, VerifierPool(urls) as pool:
        for name, model in models.items():
            result = evaluate(str(model), held_out, pool, {"math": {"extract": ["boxed"]}}, spec.eval_max_new_tokens)
            table[name] = {"accuracy": result.accuracy, "format_rate": result.format_rate, "n": result.n}
            log.info("held-out %s: accuracy %.3f, format %.3f", name, result.accuracy, result.format_rate)
    (Path(config.output_dir) / "evaluation.json").write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return table


def summary(result: PipelineResult) -> str:
    lines = [f"{'stage':<14}{'status':<9}{'seconds':>9}  model"]
    for name, outcome in result.stages.items():
        lines.append(f"{name:<14}{outcome.status:<9}{outcome.marker.get('seconds', 0):>9}  {outcome.model}")
    if result.evaluation:
        lines += ["", f"{'held-out':<14}{'accuracy':>9}{'format':>9}"]
        lines += [f"{name:<14}{e['accuracy']:>9.1%}{e['format_rate']:>9.1%}" for name, e in result.evaluation.items()]
    return "\n".join(lines)


def add_command(sub: Any) -> None:
    """``trainer pipeline CONFIG``: for ``trainer.cli.COMMANDS``."""
    parser = sub.add_parser("pipeline", help="the four R1 stages from one config (resumable)")
    parser.add_argument("config", type=Path, help="YAML pipeline config (see docs/pipeline.md)")
    parser.add_argument("--restart-from", choices=STAGES, help="discard this stage and the later ones, then run")
    parser.add_argument("--check", action="store_true", help="only validate the config")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    config = load_pipeline(args.config)
    if args.check:
        print(f"{args.config}: ok")
        return 0
    print(summary(run_pipeline(config, restart_from=args.restart_from)))
    return 0
