"""``trainer grpo --config recipe.yaml``: GRPO on TRL, rewarded by the verifier through ``RemoteReward``.

The recipe is validated, the dataset's columns checked and the verifier asked for its rewards before the
model loads, so a typo fails in seconds rather than after a model download.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from typing import Any

from trainer.data import load_dataset, rename_prompt, require_columns
from trainer.errors import RecipeError
from trainer.recipe import GRPORecipe, load_recipe, trl_config
from trainer.reward import RemoteReward
from trainer.transport import VerifierPool

log = logging.getLogger(__name__)


def add_command(sub: Any) -> None:
    parser = sub.add_parser("grpo", help="GRPO training with rewards from the verifier")
    parser.add_argument("--config", required=True, help="YAML recipe (see docs/trainer.md)")
    parser.set_defaults(run=_main)


def _main(args: argparse.Namespace) -> int:
    train_grpo(load_recipe(args.config, GRPORecipe))
    return 0


def build_rewards(recipe: GRPORecipe) -> tuple[list[RemoteReward], list[float]]:
    """One ``RemoteReward`` per entry of ``rewards``, and their TRL ``reward_weights``."""
    functions, weights = [], []
    v = recipe.verifier
    for name, spec in recipe.reward_specs().items():
        try:
            function = RemoteReward(
                spec.rewards if spec.rewards is not None else name,
                v.urls,
                name=name,
                params=spec.params,
                columns=spec.columns,
                chunk_size=v.chunk_size,
                timeout=v.timeout,
                retries=v.retries,
                backoff=v.backoff,
                on_error=v.on_error,
                send_prompt=spec.send_prompt,
            )
        except ValueError as exc:
            raise RecipeError(f"rewards.{name}: {exc}") from exc
        functions.append(function)
        weights.append(spec.weight)
    return functions, weights


def check_verifier(recipe: GRPORecipe, functions: list[RemoteReward]) -> None:
    """Fail before training when the verifier is unreachable or lacks a reward the recipe names."""
    v = recipe.verifier
    with VerifierPool(v.urls, timeout=v.timeout, retries=v.retries, backoff=v.backoff) as pool:
        offered = {info.name for info in pool.rewards()}  # raises VerifierUnreachableError
    for function in functions:
        missing = [r for r in function.reward_names if r not in offered]
        if missing:
            raise RecipeError(
                f"rewards.{function.__name__}: the verifier at {', '.join(v.urls)} has no reward "
                f"{', '.join(repr(m) for m in missing)}; it offers {', '.join(sorted(offered))}"
            )


def use_vllm(setting: bool | str) -> bool:
    """``auto``: vLLM generation only when a GPU and the vllm package are both present."""
    available = importlib.util.find_spec("vllm") is not None and _cuda()
    if setting == "auto":
        return available
    if setting and not available:
        raise RecipeError("vllm: true needs a CUDA GPU and the vllm package (pip install 'r1-verifier[vllm]')")
    return bool(setting)


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def prepare(recipe: GRPORecipe) -> tuple[Any, Any, list[RemoteReward]]:
    """Everything but the model: the GRPOConfig, the dataset and the reward functions (all checked)."""
    from trl.trainer.grpo_config import GRPOConfig

    functions, weights = build_rewards(recipe)
    managed: dict[str, Any] = {
        "output_dir": recipe.output_dir,
        "reward_weights": weights,
        "use_vllm": use_vllm(recipe.vllm),
    }
    args = trl_config(GRPOConfig, recipe.grpo, "grpo", **managed)
    dataset = rename_prompt(load_dataset(recipe.dataset), recipe.dataset.prompt_column)
    for function in functions:
        explicit = recipe.reward_specs()[function.__name__].columns or {}
        require_columns(dataset, explicit, f"rewards.{function.__name__}.columns maps it")
    if recipe.verifier.check:
        check_verifier(recipe, functions)
    return args, dataset, functions


def train_grpo(recipe: GRPORecipe, callbacks: list[Any] | None = None) -> Any:
    """Run GRPO as the recipe says; save the model to ``output_dir``; return the TRL trainer."""
    from trl.trainer.grpo_trainer import GRPOTrainer

    args, dataset, functions = prepare(recipe)
    tokenizer = load_tokenizer(recipe.model)
    trainer = GRPOTrainer(
        model=recipe.model,
        reward_funcs=list[Any](functions),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    try:
        trainer.train()
    finally:
        for function in functions:
            function.close()
    trainer.save_model(recipe.output_dir)
    return trainer


def load_tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model)
    except OSError as exc:
        raise RecipeError(
            f"model: {model!r} is neither a local model directory nor loadable from the hub here: {exc}"
        ) from exc
