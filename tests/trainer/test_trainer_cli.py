"""``trainer grpo`` / ``trainer sft``: recipes are checked before anything heavy loads, with errors naming the key;
a tiny ``trainer grpo`` run from a YAML recipe trains against a real verifier."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from trainer.cli import main
from trainer.errors import RecipeError
from trainer.recipe import GRPORecipe, parse_recipe

pytest.importorskip("trl")


def write_dataset(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(
        tmp_path / "train.jsonl",
        [{"question": f"{a}+{b}=?\n", "solution": str(a + b)} for a in range(3) for b in range(3)],
    )


def grpo_recipe(tmp_path: Path, data: Path, url: str, **changes: Any) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "model": str(tmp_path / "no-model-needed-before-the-checks"),
        "dataset": {"path": str(data), "prompt_column": "question"},
        "output_dir": str(tmp_path / "out"),
        "verifier": {"urls": [url], "retries": 0, "backoff": 0.01},
        "rewards": {"exact": 1.0, "format": {"weight": 0.5}},
        "vllm": False,
        "grpo": {"learning_rate": 1e-3, "use_cpu": True},
    }
    recipe.update(changes)
    return recipe


def run_cli(
    tmp_path: Path, command: str, recipe: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    status = main([command, "--config", str(path)])
    return status, capsys.readouterr().err


def test_unknown_grpo_field_is_refused_with_the_closest_spelling(
    tmp_path: Path, dataset: Path, verifier_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = grpo_recipe(tmp_path, dataset, verifier_url, grpo={"learning_rat": 1e-5})
    status, err = run_cli(tmp_path, "grpo", recipe, capsys)
    assert status == 2
    assert "grpo.learning_rat: GRPOConfig has no field 'learning_rat' (did you mean 'learning_rate'?)" in err


def test_grpo_fields_the_recipe_sets_elsewhere_are_refused(
    tmp_path: Path, dataset: Path, verifier_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = grpo_recipe(tmp_path, dataset, verifier_url, grpo={"reward_weights": [1.0, 2.0]})
    status, err = run_cli(tmp_path, "grpo", recipe, capsys)
    assert status == 2
    assert "grpo.reward_weights: set it with the `weight` of each entry under `rewards`" in err


def test_invalid_grpo_value_is_a_recipe_error(
    tmp_path: Path, dataset: Path, verifier_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # TRL refuses a batch that is not a multiple of num_generations
    grpo = {"use_cpu": True, "per_device_train_batch_size": 3, "num_generations": 2}
    status, err = run_cli(tmp_path, "grpo", grpo_recipe(tmp_path, dataset, verifier_url, grpo=grpo), capsys)
    assert status == 2
    assert "grpo: GRPOConfig refused these settings" in err


def test_missing_prompt_column_names_the_columns_there_are(
    tmp_path: Path, dataset: Path, verifier_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = grpo_recipe(tmp_path, dataset, verifier_url, dataset={"path": str(dataset), "prompt_column": "problem"})
    status, err = run_cli(tmp_path, "grpo", recipe, capsys)
    assert status == 2
    assert "no column 'problem' (dataset.prompt_column); the dataset has 'question', 'solution'" in err


def test_column_mapped_by_a_reward_must_exist(
    tmp_path: Path, dataset: Path, verifier_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rewards = {"exact": {"columns": {"answer": "reference"}}}
    status, err = run_cli(tmp_path, "grpo", grpo_recipe(tmp_path, dataset, verifier_url, rewards=rewards), capsys)
    assert status == 2
    assert "no column 'answer' (rewards.exact.columns maps it)" in err


def test_unreachable_verifier_stops_before_training(
    tmp_path: Path, dataset: Path, dead_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run_cli(tmp_path, "grpo", grpo_recipe(tmp_path, dataset, dead_url), capsys)
    assert status == 1
    assert f"no verifier answered at {dead_url}" in err
    assert not (tmp_path / "out").exists()


def test_reward_the_verifier_lacks_is_named_with_what_it_offers(
    tmp_path: Path, dataset: Path, verifier_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rewards = {"accuracy": {"rewards": {"exact": 1.0, "nope": 1.0}}}
    status, err = run_cli(tmp_path, "grpo", grpo_recipe(tmp_path, dataset, verifier_url, rewards=rewards), capsys)
    assert status == 2
    assert "rewards.accuracy: the verifier at" in err
    assert "has no reward 'nope'; it offers" in err
    assert "exact" in err


def test_vllm_true_without_a_gpu_is_refused(
    tmp_path: Path, dataset: Path, verifier_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    status, err = run_cli(tmp_path, "grpo", grpo_recipe(tmp_path, dataset, verifier_url, vllm=True), capsys)
    assert status == 2
    assert "vllm: true needs a CUDA GPU and the vllm package" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rewards": {}}, "rewards: Dictionary should have at least 1 item"),
        ({"rewards": {"exact": "heavy"}}, "rewards.exact.float: Input should be a valid number"),
        ({"dataset": {"path": "a.jsonl", "name": "b/c"}}, "give exactly one of `path`"),
        ({"learning_rate": 1e-5}, "learning_rate: Extra inputs are not permitted"),
        ({"verifier": {"on_error": "ignore"}}, "verifier.on_error: Input should be 'raise' or 'skip'"),
    ],
)
def test_malformed_recipe_names_the_key(change: dict[str, Any], message: str, tmp_path: Path) -> None:
    raw = grpo_recipe(tmp_path, tmp_path / "d.jsonl", "http://127.0.0.1:1", **change)
    with pytest.raises(RecipeError, match="recipe: ") as info:
        parse_recipe(raw, GRPORecipe)
    assert message in str(info.value)


def test_missing_or_broken_recipe_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grpo", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml does not exist" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    assert main(["sft", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "is not valid YAML" in capsys.readouterr().err


def test_sft_needs_chat_data(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = {"model": "unused", "dataset": {"path": str(dataset)}, "sft": {"use_cpu": True}}
    status, err = run_cli(tmp_path, "sft", recipe, capsys)
    assert status == 2
    assert "no column 'prompt' (dataset.prompt_column)" in err
    recipe["dataset"] = {"path": str(dataset), "prompt_column": "question"}
    status, err = run_cli(tmp_path, "sft", recipe, capsys)
    assert status == 2
    assert "SFT needs a 'messages' column (chat format) or 'prompt' and 'completion' columns" in err


def test_unknown_sft_field_is_refused(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = {"model": "unused", "dataset": {"path": str(dataset)}, "sft": {"max_seq_length": 64}}
    status, err = run_cli(tmp_path, "sft", recipe, capsys)
    assert status == 2
    assert "sft.max_seq_length: SFTConfig has no field 'max_seq_length'" in err


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "--help"], capture_output=True, text=True, check=True, timeout=120
    )
    for command in ("grpo", "sft", "mini-r1"):
        assert command in done.stdout
