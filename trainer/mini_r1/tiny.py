"""A tiny causal LM and its tokenizer, built here from a config: no hub download anywhere.

The tokenizer is character level (trained with the ``tokenizers`` library on the task's own texts), with the
reasoning tags as single tokens; the model is a few-layer Llama with random weights. Both are saved as an
ordinary Hugging Face model directory, so the stages load them as they would load a model from the hub.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SPECIAL_TOKENS = ["<pad>", "<eos>", "<unk>"]
TAG_TOKENS = ["<think>", "</think>", "\\boxed{"]
ROLE_TOKENS = ["<user>", "<assistant>"]
# A minimal chat template: the prompt rendered alone (with the generation prompt) is a prefix of the prompt
# rendered with its completion, as TRL's SFT and GRPO trainers need; {% generation %} marks what the assistant
# says, for SFT's assistant_only_loss on ``messages`` data.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "<assistant>{% generation %}{{ message['content'] }}<eos>{% endgeneration %}"
    "{%- else -%}<user>{{ message['content'] }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<assistant>{%- endif -%}"
)


@dataclass(frozen=True)
class TinyModelSpec:
    """Sized to train in minutes on two CPU cores."""

    hidden_size: int = 96
    intermediate_size: int = 256
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    max_position_embeddings: int = 128


def build_tokenizer(texts: Iterable[str]) -> object:
    """A character-level ``PreTrainedTokenizerFast`` covering every character of ``texts``, with a chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    # Every character is its own token; the tags are added tokens, matched before this split.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, min_frequency=1)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.add_tokens(TAG_TOKENS + ROLE_TOKENS)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="<eos>",
        unk_token="<unk>",
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model_dir(out_dir: Path, texts: Iterable[str], spec: TinyModelSpec, seed: int) -> Path:
    """Write a randomly initialised tiny Llama and its tokenizer to ``out_dir``; return it."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(texts)
    pad_id = tokenizer.pad_token_id  # type: ignore[attr-defined]
    eos_id = tokenizer.eos_token_id  # type: ignore[attr-defined]
    config = LlamaConfig(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        pad_token_id=pad_id, eos_token_id=eos_id, bos_token_id=None
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)  # type: ignore[attr-defined]
    return out_dir
