"""A shortened mini R1 run: both stages, its own ``verifier serve`` subprocess (real math and format rewards),
the evaluation table and the reward-curve PNG. The full run takes minutes and is documented in docs/trainer.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

from trainer.mini_r1.run import MiniR1Config, run, table
from trainer.mini_r1.task import TaskSpec
from trainer.mini_r1.tiny import TinyModelSpec

pytestmark = pytest.mark.slow

SMOKE = MiniR1Config(
    task=TaskSpec(n_terms=2, low=0, high=4),
    model=TinyModelSpec(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2),
    n_sft=8,
    n_held_out=5,
    sft_epochs=1,
    sft_batch_size=8,
    grpo_steps=2,
    grpo_prompts_per_step=2,
    num_generations=4,
    max_new_tokens=12,
)


def test_mini_r1_smoke_run_trains_both_stages_and_reports(tmp_path: Path) -> None:
    result = run(SMOKE, tmp_path)

    assert result.before.n == result.after.n == SMOKE.n_held_out
    for evaluation in (result.before, result.after):
        assert 0.0 <= evaluation.accuracy <= 1.0
        assert 0.0 <= evaluation.format_rate <= 1.0
    assert [step for step, _ in result.reward_curves["math"]] == [1, 2]
    assert [step for step, _ in result.reward_curves["format"]] == [1, 2]
    assert result.plot is not None
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = table(result).splitlines()
    assert lines[0].split()[-2:] == ["accuracy", "format"]
    assert lines[1].startswith("after Stage 1 (SFT)")
    assert lines[2].startswith("after Stage 2 (GRPO)")
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["after"]["accuracy"] == result.after.accuracy
    # the stages ran from recipes a user can rerun with `trainer sft|grpo --config`
    assert (tmp_path / "sft.yaml").is_file()
    assert (tmp_path / "grpo.yaml").is_file()
    assert (tmp_path / "stage2" / "model.safetensors").is_file()
