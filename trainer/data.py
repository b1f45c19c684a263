"""Loading a recipe's dataset and checking its columns before a model is loaded."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trainer.errors import RecipeError
from trainer.recipe import DatasetSpec

_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def load_dataset(spec: DatasetSpec) -> Any:
    """The split the recipe names, as a ``datasets.Dataset``."""
    import datasets

    if spec.path is not None:
        path = Path(spec.path)
        builder = _FORMATS.get(path.suffix.lower())
        if builder is None:
            raise RecipeError(f"dataset.path: {path.suffix or 'no suffix'} is not one of {', '.join(_FORMATS)}")
        if not path.is_file():
            raise RecipeError(f"dataset.path: {path} does not exist")
        try:
            dataset = datasets.load_dataset(builder, data_files=str(path), split="train")
        except Exception as exc:  # datasets raises many types for a malformed file
            raise RecipeError(f"dataset.path: cannot read {path}: {exc}") from exc
    else:
        try:
            dataset = datasets.load_dataset(spec.name, spec.config, split=spec.split)
        except Exception as exc:  # offline, unknown name, unknown split...
            raise RecipeError(f"dataset.name: cannot load {spec.name!r} (split {spec.split!r}): {exc}") from exc
    if spec.limit is not None:
        dataset = dataset.select(range(min(spec.limit, len(dataset))))
    return dataset


def require_columns(dataset: Any, needed: Iterable[str], why: str) -> None:
    missing = [c for c in needed if c not in dataset.column_names]
    if missing:
        raise RecipeError(
            f"dataset: no column {', '.join(repr(c) for c in missing)} ({why}); "
            f"the dataset has {', '.join(repr(c) for c in dataset.column_names)}"
        )


def rename_prompt(dataset: Any, prompt_column: str) -> Any:
    """Rename the recipe's prompt column to TRL's ``prompt``."""
    require_columns(dataset, [prompt_column], "dataset.prompt_column")
    if prompt_column == "prompt":
        return dataset
    if "prompt" in dataset.column_names:
        raise RecipeError(
            f"dataset: prompt_column is {prompt_column!r} but a 'prompt' column exists too; drop one of them"
        )
    return dataset.rename_column(prompt_column, "prompt")
