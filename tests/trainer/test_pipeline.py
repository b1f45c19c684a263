"""``trainer pipeline``: config checks (fast), and a shortened miniature run of all four stages with a real
verifier, real model servers for the policy and the judge, and resume (slow)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("trl")

from trainer.cli import main
from trainer.errors import RecipeError
from trainer.pipeline import parse_pipeline, run_pipeline
from trainer.pipeline_config import STAGES, check_config

RECIPES = Path(__file__).resolve().parents[2] / "trainer" / "recipes"


def miniature(output_dir: Path) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((RECIPES / "r1-mini.yaml").read_text())
    raw["output_dir"] = str(output_dir)
    return raw


def short(output_dir: Path) -> dict[str, Any]:
    """The shipped miniature config, cut down to seconds per stage: one GRPO step, two rejection prompts."""
    raw = miniature(output_dir)
    raw["miniature"] = {
        "seed": 0,
        "task": {"n_terms": 2, "low": 0, "high": 4},
        "model": {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
        "n_sft": 8, "n_reasoning": 4, "n_rejection": 2, "n_all_scenario": 4,
    }  # fmt: skip
    stages = raw["stages"]
    stages["cold_start"]["sft"].update(num_train_epochs=1, per_device_train_batch_size=8)
    for name in ("reasoning", "all_scenario"):
        stages[name]["grpo"] = {
            **stages[name]["grpo"], "max_steps": 1, "per_device_train_batch_size": 4, "num_generations": 4,
            "max_completion_length": 12,
        }  # fmt: skip
    sampling = stages["rejection"]["sampling"]
    sampling.update(k=2, max_tokens=12)
    # An untrained tiny model is never right: keep everything the verifier scores, so SFT has data.
    sampling["tasks"]["math"].update(thresholds={"format": 0.0}, reject_truncated=False)
    stages["rejection"]["sft"].update(num_train_epochs=1)
    return raw


def refused(raw: dict[str, Any]) -> str:
    with pytest.raises(RecipeError) as caught:
        check_config(parse_pipeline(raw))
    return str(caught.value)


def test_miniature_recipe_passes_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    recipe = RECIPES / "r1-mini.yaml"
    assert main(["pipeline", str(recipe), "--check"]) == 0
    assert capsys.readouterr().out.strip() == f"{recipe}: ok"


def test_gpu_recipe_is_valid_but_for_the_device(tmp_path: Path) -> None:
    raw = yaml.safe_load((RECIPES / "r1.yaml").read_text())
    # TRL refuses its bf16 default on a CPU machine: everything else in the recipe must pass.
    stages = raw["stages"]
    for section in (stages["cold_start"]["sft"], stages["reasoning"]["grpo"], stages["rejection"]["sft"],
                    stages["all_scenario"]["grpo"]):
        section["use_cpu"] = True
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "non_reasoning.jsonl").write_text("")
    stages["rejection"]["extra_data"] = [str(tmp_path / "data" / "non_reasoning.jsonl")]
    check_config(parse_pipeline(raw))


def test_serve_command_with_an_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    raw = miniature(tmp_path)
    raw["stages"]["rejection"]["policy"]["serve_command"] = "vllm serve {model} --port {prot}"
    with pytest.raises(RecipeError, match=r"rejection\.policy\.serve_command: Value error, unknown placeholder"):
        parse_pipeline(raw)


def test_unknown_stage_field_is_refused_with_its_key(tmp_path: Path) -> None:
    raw = miniature(tmp_path)
    raw["stages"]["reasoning"]["learning_rate"] = 1e-6
    assert "stages.reasoning.learning_rate: Extra inputs are not permitted" in refused(raw)


def test_misspelt_trl_field_of_a_stage_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    raw = miniature(tmp_path)
    raw["stages"]["all_scenario"]["grpo"]["learning_rat"] = 1e-6
    message = refused(raw)
    assert "stages.all_scenario.grpo.learning_rat" in message
    assert "did you mean 'learning_rate'" in message


def test_stage_referencing_a_missing_model_is_refused(tmp_path: Path) -> None:
    raw = miniature(tmp_path)
    raw["stages"]["reasoning"]["model"] = str(tmp_path / "nowhere")
    message = refused(raw)
    assert message.startswith("stages.reasoning.model:")
    assert "nowhere" in message
    assert "neither 'base', a stage (cold_start, reasoning, rejection, all_scenario) nor" in message


def test_stage_referencing_a_later_stage_is_refused(tmp_path: Path) -> None:
    raw = miniature(tmp_path)
    raw["stages"]["rejection"]["train_from"] = "all_scenario"
    message = refused(raw)
    assert message.startswith("stages.rejection.train_from: 'all_scenario' does not run before this")
    assert "base, cold_start, reasoning" in message


def test_judge_reward_without_a_judge_is_refused(tmp_path: Path) -> None:
    raw = miniature(tmp_path)
    del raw["judge"]
    assert refused(raw).startswith("stages.all_scenario.rewards: the judge reward needs a `judge` section")


def test_judge_served_from_the_stage_that_uses_it_is_refused(tmp_path: Path) -> None:
    raw = miniature(tmp_path)
    raw["judge"]["serve"] = "all_scenario"
    assert refused(raw).startswith("judge.serve: 'all_scenario' does not run before this")


def test_sampling_fields_the_pipeline_sets_are_refused(tmp_path: Path) -> None:
    raw = miniature(tmp_path)
    raw["stages"]["rejection"]["sampling"]["policy_url"] = "http://127.0.0.1:1"
    assert "stages.rejection.sampling.policy_url: set by the pipeline" in refused(raw)


def test_a_stage_without_data_needs_a_miniature(tmp_path: Path) -> None:
    raw = miniature(tmp_path)
    del raw["miniature"]
    raw["model"] = "Qwen/Qwen2.5-0.5B-Instruct"
    assert refused(raw).startswith("stages.cold_start.dataset: required")


def test_cli_reports_a_bad_config_with_exit_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = miniature(tmp_path)
    raw["stages"]["cold_start"]["model"] = "reasoning"
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert main(["pipeline", str(config)]) == 2
    error = capsys.readouterr().err
    assert "trainer: bad recipe: stages.cold_start.model: 'reasoning' does not run before this" in error
    assert not (tmp_path / "cold_start").exists()


def test_unfinished_stage_is_emptied_but_keeps_rejection_samples_of_the_same_settings(tmp_path: Path) -> None:
    from trainer.pipeline import _clear_unfinished

    stage = tmp_path / "rejection"
    for settings, kept in (("same", True), ("other", False)):
        (stage / "samples").mkdir(parents=True, exist_ok=True)
        (stage / "samples" / "accepted.jsonl.ledger.jsonl").write_text("{}\n")
        (stage / "model").mkdir(exist_ok=True)
        (stage / "sft.jsonl").write_text("")
        (stage / "started.json").write_text(json.dumps({"fingerprint": "same"}))
        _clear_unfinished(stage, settings)
        assert sorted(p.name for p in stage.iterdir()) == (["samples", "started.json"] if kept else ["started.json"])
        assert json.loads((stage / "started.json").read_text()) == {"fingerprint": settings}


@pytest.mark.slow
def test_miniature_runs_every_stage_and_a_rerun_resumes(tmp_path: Path) -> None:
    raw = short(tmp_path)
    # what a crash mid-stage leaves: a directory without a marker (the stage restarts from scratch)
    (tmp_path / "cold_start" / "model").mkdir(parents=True)
    (tmp_path / "cold_start" / "model" / "half-written").write_text("")
    result = run_pipeline(parse_pipeline(raw))

    assert [(o.name, o.status) for o in result.stages.values()] == [(name, "ran") for name in STAGES]
    inputs = [str(tmp_path / "miniature" / "model")] + [str(tmp_path / name / "model") for name in STAGES[:-1]]
    for name, given in zip(STAGES, inputs, strict=True):
        marker = json.loads((tmp_path / name / "done.json").read_text())
        assert marker["input_model"] == given  # each stage starts from the one before
        assert (tmp_path / name / "model" / "model.safetensors").is_file()
        assert (tmp_path / name / "recipe.yaml").is_file()
    stats = json.loads((tmp_path / "rejection" / "samples" / "accepted.jsonl.stats.json").read_text())
    assert stats["tasks"]["math"]["prompts"] == 2
    assert stats["tasks"]["math"]["candidates"] == 4
    rejection = result.stages["rejection"].marker
    assert rejection["sft_rows"] == stats["accepted"] >= 1
    # the policy was sampled from a real model server, and stage 4 asked the judge on another one
    assert "POST /v1/chat/completions" in (tmp_path / "rejection" / "policy-server.log").read_text()
    assert "POST /v1/chat/completions" in (tmp_path / "judge-server.log").read_text()
    assert not (tmp_path / "cold_start" / "model" / "half-written").exists()
    metrics = result.stages["all_scenario"].marker["metrics"]
    assert {"rewards/math/mean", "rewards/format/mean", "rewards/language/mean", "rewards/judge/mean"} <= set(metrics)
    markers = {name: (tmp_path / name / "done.json").read_text() for name in STAGES}

    again = run_pipeline(parse_pipeline(raw))
    assert [o.status for o in again.stages.values()] == ["skipped"] * 4
    assert {name: (tmp_path / name / "done.json").read_text() for name in STAGES} == markers

    # a finished stage whose settings changed is not silently reused
    changed = copy.deepcopy(raw)
    changed["stages"]["reasoning"]["grpo"]["learning_rate"] *= 2
    with pytest.raises(RecipeError, match="--restart-from reasoning"):
        run_pipeline(parse_pipeline(changed))
