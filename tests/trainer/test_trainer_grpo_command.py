"""A tiny ``trainer grpo`` run from a YAML recipe against a real verifier, and what ``on_error`` does mid-run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("trl")

from tests.trainer.conftest import CountingApp
from trainer.cli import main
from trainer.grpo import train_grpo
from trainer.mini_r1.task import TaskSpec, corpus
from trainer.mini_r1.tiny import TinyModelSpec, build_model_dir
from trainer.recipe import GRPORecipe, parse_recipe

pytestmark = pytest.mark.slow

StartVerifier = Callable[..., tuple[str, CountingApp]]
STEPS = 2
GENERATIONS = 4


@pytest.fixture
def model_and_data(tmp_path: Path) -> tuple[Path, Path]:
    spec = TaskSpec(n_terms=2, high=9)
    model = build_model_dir(
        tmp_path / "tiny",
        corpus(spec.all_problems()),
        TinyModelSpec(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2),
        seed=0,
    )
    data = tmp_path / "train.jsonl"
    rows = [{"question": p.prompt, "solution": str(p.answer)} for p in spec.all_problems()[:8]]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return model, data


def recipe(model: Path, data: Path, out: Path, urls: list[str], **verifier: Any) -> dict[str, Any]:
    return {
        "model": str(model),
        "dataset": {"path": str(data), "prompt_column": "question"},
        "output_dir": str(out),
        "verifier": {"urls": urls, **verifier},
        "rewards": {"exact": 1.0, "format": {"weight": 0.5, "params": {"format": {"strict": False}}}},
        "vllm": "auto",
        "grpo": {
            "max_steps": STEPS,
            "per_device_train_batch_size": 2 * GENERATIONS,
            "num_generations": GENERATIONS,
            "max_completion_length": 8,
            "learning_rate": 1e-3,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": "none",
            "use_cpu": True,
            "seed": 0,
            "dataloader_num_workers": 0,
        },
    }


def test_grpo_command_trains_from_a_yaml_recipe_against_the_verifier(
    start_verifier: StartVerifier, model_and_data: tuple[Path, Path], tmp_path: Path
) -> None:
    url, app = start_verifier()
    model, data = model_and_data
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe(model, data, tmp_path / "out", [url])))
    assert main(["grpo", "--config", str(path)]) == 0
    # one request per reward function per step, each with every completion of the step
    assert app.verify_requests == 2 * STEPS
    assert app.item_counts == [2 * GENERATIONS] * (2 * STEPS)
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_verifier_lost_mid_run_stops_training_with_a_clear_error(
    dead_url: str, model_and_data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = model_and_data
    path = tmp_path / "recipe.yaml"
    # check: false skips the startup check, as if the verifier went away after it
    raw = recipe(model, data, tmp_path / "out", [dead_url], check=False, retries=0)
    path.write_text(yaml.safe_dump(raw))
    assert main(["grpo", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"trainer: no verifier answered at {dead_url}" in err
    assert "Training stops here rather than run on missing rewards" in err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_on_error_skip_trains_on_with_the_batches_scored_none(
    dead_url: str, model_and_data: tuple[Path, Path], tmp_path: Path
) -> None:
    model, data = model_and_data
    raw = recipe(model, data, tmp_path / "out", [dead_url], check=False, retries=0, on_error="skip")
    trainer = train_grpo(parse_recipe(raw, GRPORecipe))
    logged = [h for h in trainer.state.log_history if "verifier/exact/skipped_fraction" in h]
    assert len(logged) == STEPS
    assert all(h["verifier/exact/skipped_fraction"] == 1.0 for h in logged)
    assert all(h["verifier/format/skipped_fraction"] == 1.0 for h in logged)
