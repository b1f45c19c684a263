"""A real TRL GRPOTrainer step on a tiny model, rewarded by RemoteReward through a real verifier.

The rewards and advantages TRL logs for the step must be exactly what the verifier returns for the same
completions (re-scored afterwards, with ``group_size`` for the advantages).
"""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from datasets import Dataset  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402
from trl.trainer.utils import get_callable_name  # noqa: E402

from trainer import RemoteReward  # noqa: E402
from trainer.mini_r1.task import TaskSpec, corpus  # noqa: E402
from trainer.mini_r1.tiny import TinyModelSpec, build_model_dir  # noqa: E402
from verifier.client import VerifierClient  # noqa: E402

pytestmark = pytest.mark.slow

GENERATIONS = 4


def test_grpo_step_logs_the_verifier_rewards_and_advantages(verifier_url: str, tmp_path: Path) -> None:
    spec = TaskSpec(n_terms=2, high=9)
    model_dir = build_model_dir(
        tmp_path / "tiny",
        corpus(spec.all_problems()),
        TinyModelSpec(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2),
        seed=0,
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    problems = spec.all_problems()[:2]
    dataset = Dataset.from_list([{"prompt": p.prompt, "solution": str(p.answer)} for p in problems])
    digits = RemoteReward("digits", verifier_url)
    form = RemoteReward("format", verifier_url)
    assert [get_callable_name(f) for f in (digits, form)] == ["digits", "format"]
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=2 * GENERATIONS,
        num_generations=GENERATIONS,
        max_completion_length=12,
        reward_weights=[1.0, 0.5],
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        log_completions=True,
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(
        model=str(model_dir),
        reward_funcs=[digits, form],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()

    logs = trainer._logs
    completions = list(logs["completion"])
    assert len(completions) == 2 * GENERATIONS
    with VerifierClient(verifier_url) as client:
        rescored = client.verify(
            [{"completion": c} for c in completions],
            rewards={"digits": 1.0, "format": 0.5},
            group_size=GENERATIONS,
        ).results
    assert list(logs["rewards"]["digits"]) == pytest.approx([r.scores["digits"] for r in rescored], abs=1e-6)
    assert list(logs["rewards"]["format"]) == pytest.approx([r.scores["format"] for r in rescored], abs=1e-6)
    assert list(logs["advantages"]) == pytest.approx([r.advantage for r in rescored], abs=1e-4)

    step = next(h for h in trainer.state.log_history if "rewards/digits/mean" in h)
    mean_digits = sum(r.scores["digits"] or 0.0 for r in rescored) / len(rescored)
    assert step["rewards/digits/mean"] == pytest.approx(mean_digits, abs=1e-6)
    assert "verifier/digits/seconds" in step

    # The verifier's details reach TRL's completions table.
    import pandas as pd

    table = pd.read_parquet(glob.glob(str(tmp_path / "out" / "completions" / "*.parquet"))[0])
    assert list(table["format details"]) == [_format_details(r.details) for r in rescored]


def _format_details(details: dict[str, dict[str, object]]) -> str:
    import orjson

    shown = {"format": details["format"]} if details.get("format") else {}
    return orjson.dumps(shown).decode() if shown else ""
