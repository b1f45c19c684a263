"""``trainer sft --config recipe.yaml``: the cold-start supervised stage (TRL SFTTrainer) on chain-of-thought data.

The dataset is chat format: a ``messages`` column (a list of ``{"role", "content"}``), or conversational
``prompt`` and ``completion`` columns (then only the completion is trained on). Any SFTConfig field goes under
``sft:`` in the recipe.
"""

from __future__ import annotations

import argparse
from typing import Any

from trainer.data import load_dataset, rename_prompt
from trainer.errors import RecipeError
from trainer.grpo import load_tokenizer
from trainer.recipe import SFTRecipe, load_recipe, trl_config


def add_command(sub: Any) -> None:
    parser = sub.add_parser("sft", help="supervised fine-tuning on chat-format chains of thought")
    parser.add_argument("--config", required=True, help="YAML recipe (see docs/trainer.md)")
    parser.set_defaults(run=_main)


def _main(args: argparse.Namespace) -> int:
    train_sft(load_recipe(args.config, SFTRecipe))
    return 0


def prepare(recipe: SFTRecipe) -> tuple[Any, Any]:
    """The SFTConfig and the dataset, both checked."""
    from trl.trainer.sft_config import SFTConfig

    args = trl_config(SFTConfig, recipe.sft, "sft", output_dir=recipe.output_dir)
    dataset = load_dataset(recipe.dataset)
    columns = dataset.column_names
    if "messages" not in columns:
        dataset = rename_prompt(dataset, recipe.dataset.prompt_column)
        if "completion" not in dataset.column_names:
            raise RecipeError(
                "dataset: SFT needs a 'messages' column (chat format) or 'prompt' and 'completion' columns; "
                f"the dataset has {', '.join(repr(c) for c in columns)}"
            )
    return args, dataset


def train_sft(recipe: SFTRecipe, callbacks: list[Any] | None = None) -> Any:
    """Run SFT as the recipe says; save the model and tokenizer to ``output_dir``; return the TRL trainer."""
    from trl.trainer.sft_trainer import SFTTrainer

    args, dataset = prepare(recipe)
    tokenizer = load_tokenizer(recipe.model)
    if getattr(tokenizer, "chat_template", None) is None:
        raise RecipeError(f"model: the tokenizer of {recipe.model!r} has no chat template for chat-format data")
    trainer = SFTTrainer(
        model=recipe.model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks
    )
    trainer.train()
    trainer.save_model(recipe.output_dir)
    return trainer
