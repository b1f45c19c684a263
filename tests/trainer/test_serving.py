"""The CPU model server (trainer.serving) on a real uvicorn server with the tiny model of the mini R1 run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from trainer.mini_r1.task import TaskSpec, corpus  # noqa: E402
from trainer.mini_r1.tiny import TinyModelSpec, build_model_dir  # noqa: E402
from trainer.serving import create_app  # noqa: E402

SPEC = TinyModelSpec(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_dir(
        tmp_path_factory.mktemp("serving") / "tiny", corpus(TaskSpec(n_terms=2).all_problems()), SPEC, seed=0
    )


@pytest.fixture
def server(live_server: Callable[[Any], str], tiny_model: Path) -> str:
    return live_server(create_app(tiny_model, model_name="tiny"))


def chat(url: str, **body: Any) -> httpx.Response:
    payload = {"model": "tiny", "messages": [{"role": "user", "content": "3+4=?"}]} | body
    return httpx.post(f"{url}/v1/chat/completions", json=payload, timeout=60)


def test_models_lists_the_served_model(server: str) -> None:
    data = httpx.get(f"{server}/v1/models").json()
    assert data["object"] == "list" and [m["id"] for m in data["data"]] == ["tiny"]


def test_greedy_completion_is_what_transformers_generate_returns(server: str, tiny_model: Path) -> None:
    response = chat(server, temperature=0, max_tokens=20)
    assert response.status_code == 200
    choice = response.json()["choices"][0]

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    prompt = prompt_ids(tokenizer)
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=20, do_sample=False)
    expected = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert choice["message"] == {"role": "assistant", "content": expected}


def prompt_ids(tokenizer: Any) -> list[int]:
    """The prompt as the server must build it: the model's chat template, or the text when it has none."""
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": "3+4=?"}], add_generation_prompt=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    return list(tokenizer("3+4=?\n", add_special_tokens=False)["input_ids"])


def test_n_choices_with_usage_counted(server: str, tiny_model: Path) -> None:
    body = chat(server, n=3, temperature=1.0, max_tokens=16, seed=1).json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert all(c["finish_reason"] in {"stop", "length"} for c in body["choices"])
    usage = body["usage"]
    assert usage["prompt_tokens"] == len(prompt_ids(transformers.AutoTokenizer.from_pretrained(tiny_model)))
    assert 3 <= usage["completion_tokens"] <= 3 * 16
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_same_seed_same_samples(server: str) -> None:
    first = chat(server, n=2, temperature=1.0, max_tokens=16, seed=7).json()["choices"]
    second = chat(server, n=2, temperature=1.0, max_tokens=16, seed=7).json()["choices"]
    assert [c["message"]["content"] for c in first] == [c["message"]["content"] for c in second]


def test_stop_string_cuts_the_completion(server: str) -> None:
    text = chat(server, temperature=0, max_tokens=30).json()["choices"][0]["message"]["content"]
    if len(text) < 2:
        pytest.skip("the random model ended at once; nothing to cut")
    stop = text[1]
    choice = chat(server, temperature=0, max_tokens=30, stop=[stop]).json()["choices"][0]
    assert choice["message"]["content"] == text[: text.index(stop)] and choice["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "other"}, 404, "model"),
        ({"n": 0}, 400, "n"),
        ({"temperature": -1}, 400, "temperature"),
        ({"messages": []}, 400, "messages"),
        ({"response_format": {"type": "json_object"}}, 400, "response_format"),
        ({"stream": True}, 400, "stream"),
        ({"max_tokens": 100_000}, 400, "messages"),
    ],
)
def test_bad_requests_answer_in_openai_error_shape(server: str, body: dict[str, Any], status: int, param: str) -> None:
    response = chat(server, **body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param and error["message"]


def test_prompt_longer_than_the_context_is_refused(server: str) -> None:
    response = chat(server, messages=[{"role": "user", "content": "1+2=?\n" * 40}])
    assert response.status_code == 400 and "maximum context length is 128" in response.json()["error"]["message"]


def test_pooling_is_refused_for_a_generative_model(server: str) -> None:
    response = httpx.post(f"{server}/pooling", json={"model": "tiny", "input": "1+1=?"})
    assert response.status_code == 400 and "generative model" in response.json()["error"]["message"]
