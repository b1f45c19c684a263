"""A shortened mini R1 run: Stage 1, then Stage 2 twice from it (without and with the language reward, KL term
on), its own ``verifier serve`` subprocess (real math, format and language rewards), the table and the PNG. The
full run takes minutes and is documented in docs/trainer.md; nothing here checks an improvement."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

from trainer.mini_r1.plot import main as plot_main
from trainer.mini_r1.run import MiniR1Config, load_result, run, table
from trainer.mini_r1.task import WordedTaskSpec
from trainer.mini_r1.tiny import TinyModelSpec

pytestmark = pytest.mark.slow

SMOKE = MiniR1Config(
    # terms of 3 or 4 get the Chinese step word, so the cold-start set mixes languages
    task=WordedTaskSpec(n_terms=2, low=0, high=4, step_word="add", mixed_word="加", mixed_from=3),
    model=TinyModelSpec(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2),
    n_sft=8,
    n_held_out=5,
    sft_epochs=1,
    sft_batch_size=8,
    grpo_steps=2,
    grpo_prompts_per_step=2,
    num_generations=4,
    max_new_tokens=16,
    language_weights=(0.0, 0.5),
    beta=0.04,
)


def test_mini_r1_smoke_run_trains_both_stages_and_reports(tmp_path: Path) -> None:
    result = run(SMOKE, tmp_path, plots_dir=tmp_path / "docs")

    assert [r.name for r in result.stage2] == ["language_0", "language_0.5"]
    for evaluation in (result.before, *(r.after for r in result.stage2)):
        assert evaluation.n == SMOKE.n_held_out
        assert 0.0 <= evaluation.accuracy <= 1.0
        assert 0.0 <= evaluation.format_rate <= 1.0
        assert evaluation.language is not None and 0.0 <= evaluation.language <= 1.0
    for stage2 in result.stage2:
        # every reward, the unweighted language one included, came from the verifier at every step, and so did KL
        for curve in ("math", "format", "language", "length", "kl"):
            assert [step for step, _ in stage2.curves[curve]] == [1, 2], curve
        assert stage2.beta == 0.04
        assert stage2.kl is not None
    assert result.stage2[0].rewards["language"] == 0.0
    assert result.stage2[1].rewards["language"] == 0.5
    assert result.plot is not None
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "docs" / "trainer_mini_r1_seed0.png").read_bytes() == result.plot.read_bytes()
    lines = table(result).splitlines()
    assert lines[0].split()[-4:] == ["accuracy", "format", "language", "KL"]
    assert lines[1].startswith("after Stage 1 (SFT)")
    assert lines[2].startswith("after Stage 2 (math+format, beta 0.04)")
    assert lines[3].startswith("after Stage 2 (math+format+language, beta 0.04)")
    saved = json.loads((tmp_path / "result.json").read_text())
    assert load_result(tmp_path / "result.json") == result
    assert plot_main([str(tmp_path / "result.json"), "--out", str(tmp_path / "again.png")]) == 0
    assert (tmp_path / "again.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved["stage2"][1]["after"]["language"] == result.stage2[1].after.language
    assert saved["stage2"][1]["beta"] == 0.04
    # the stages ran from recipes a user can rerun with `trainer sft|grpo --config`
    assert (tmp_path / "sft.yaml").is_file()
    assert (tmp_path / "grpo_language_0.5.yaml").is_file()
    assert (tmp_path / "stage2_language_0.5" / "model.safetensors").is_file()


def test_mini_r1_reruns_stage2_from_a_saved_stage1(tmp_path: Path) -> None:
    config = dataclasses.replace(SMOKE, language_weights=(0.5,), beta=0.0)
    first = run(config, tmp_path / "first", plot=False)
    again = run(config, tmp_path / "again", plot=False, stage1=tmp_path / "first" / "stage1")

    assert not (tmp_path / "again" / "stage1").exists()
    assert again.before == first.before  # the same Stage 1 model, evaluated again
    assert "stage1_sft" not in again.seconds
    assert again.stage2[0].kl is None and again.stage2[0].curves["kl"] == []  # beta 0: no KL term, none logged
