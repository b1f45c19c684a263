"""The ``reward_model`` reward: a real sequence-classification model on the CPU server, faults, vLLM on a GPU."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from verifier_judge.reward_model import pooled_value

from tests.plugins.judge.conftest import score_batches

ITEM = {"prompt": "3+4=?", "completion": "<think>3+4=7</think>7"}


def rm_options(*urls: str, **extra: Any) -> dict[str, Any]:
    return {"reward_model": {"endpoints": [{"url": u} for u in urls], "model": "rm", "backoff_s": 0.0} | extra}


def score_rm(options: dict[str, Any], *batches: list[dict[str, Any]]) -> list[list[Any]]:
    return score_batches(options, *batches, reward_name="reward_model")


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama sequence classifier (one label: a reward head) with the mini R1 tokenizer."""
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoTokenizer, LlamaForSequenceClassification

    from trainer.mini_r1.task import TaskSpec, corpus
    from trainer.mini_r1.tiny import TinyModelSpec, build_model_dir

    spec = TinyModelSpec(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    base = build_model_dir(tmp_path_factory.mktemp("rm") / "lm", corpus(TaskSpec(n_terms=2).all_problems()), spec, 0)
    config = AutoConfig.from_pretrained(base)
    config.num_labels = 1
    config.architectures = ["LlamaForSequenceClassification"]
    torch.manual_seed(1)
    out = base.parent / "rm"
    LlamaForSequenceClassification(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def expected_logit(model_dir: Path, prompt: str, answer: str) -> tuple[float, int]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], tokenize=True
    )
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits
    return float(logits[0, 0]), len(ids)


def test_cpu_reward_model_score_is_the_sigmoid_of_the_models_logit(
    live_server: Callable[[Any], str], classifier_dir: Path
) -> None:
    from trainer.serving import create_app

    url = live_server(create_app(classifier_dir, model_name="rm"))
    first, second = score_rm(rm_options(url), [ITEM], [ITEM])
    logit, tokens = expected_logit(classifier_dir, "3+4=?", "7")  # the final answer only, by default
    assert first[0].value == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-5)
    assert first[0].details["raw"] == pytest.approx(logit, abs=1e-5)
    assert first[0].details["usage"]["prompt_tokens"] == tokens and first[0].details["cached"] is False
    assert second[0].value == first[0].value and second[0].details["cached"] is True


def test_cpu_server_refuses_the_wrong_api_for_its_model(
    live_server: Callable[[Any], str], classifier_dir: Path
) -> None:
    from trainer.serving import create_app

    url = live_server(create_app(classifier_dir, model_name="rm"))
    response = httpx.post(f"{url}/v1/chat/completions", json={"model": "rm", "messages": [{"role": "user",
                                                                                           "content": "hi"}]})
    assert response.status_code == 400 and "sequence classifier" in response.json()["error"]["message"]
    texts = httpx.post(f"{url}/pooling", json={"model": "rm", "input": ["1+1=?", "2+2=?"]}).json()
    assert [d["index"] for d in texts["data"]] == [0, 1] and all(len(d["data"]) == 1 for d in texts["data"])


def test_unreachable_reward_model_is_null_and_an_error(dead_url: str) -> None:
    [[result]] = score_rm(rm_options(dead_url, retries=0), [ITEM])
    assert result.value is None and "ConnectError" in (result.error or "")


def test_unconfigured_reward_model_is_null_and_says_where_to_configure() -> None:
    [[result]] = score_rm({}, [ITEM])
    assert result.value is None and "plugin_options.judge.reward_model.endpoints" in (result.error or "")


@pytest.mark.parametrize(
    ("data", "label_index", "raw"),
    [
        (0.5, -1, 0.5),
        ([2.0], -1, 2.0),
        ([0.2, 0.8], -1, 0.8),
        ([0.2, 0.8], 0, 0.2),
        ([[0.1], [0.3], [0.7]], -1, 0.7),
        ([[0.1, 0.9], [0.6, 0.4]], -1, 0.4),
    ],
)
def test_pooled_output_shapes(data: Any, label_index: int, raw: float) -> None:
    body = {"data": [{"index": 0, "object": "pooling", "data": data}], "usage": {"prompt_tokens": 3}}
    assert pooled_value(body, label_index) == (raw, {"prompt_tokens": 3})


@pytest.mark.parametrize("data", [None, [], ["x"], [[]], [1.0, 2.0, 3.0, 4.0], float("nan"), True])
def test_pooled_output_that_is_not_a_reward_is_refused(data: Any) -> None:
    with pytest.raises(ValueError):
        pooled_value({"data": [{"data": data}]}, label_index=7 if data == [1.0, 2.0, 3.0, 4.0] else -1)


@pytest.mark.gpu
def test_vllm_reward_model_prefers_the_right_answer() -> None:
    """Run where ``vllm serve <reward model>`` is up: R1_RM_VLLM_URL=http://host:8000 R1_RM_VLLM_MODEL=<model>."""
    url, model = os.environ.get("R1_RM_VLLM_URL"), os.environ.get("R1_RM_VLLM_MODEL")
    if not url or not model:
        pytest.skip("set R1_RM_VLLM_URL and R1_RM_VLLM_MODEL to a running vllm serve with a reward model")
    options = {"reward_model": {"endpoints": [{"url": url}], "model": model, "timeout_s": 120.0}}
    question = "What is the capital of France?"
    [right, wrong] = score_rm(options, [{"prompt": question, "completion": "The capital of France is Paris."},
                                        {"prompt": question, "completion": "The capital of France is Berlin."}])[0]
    assert right.value is not None and wrong.value is not None, (right, wrong)
    assert right.value > wrong.value
