"""Rejection sampling against real servers: the CPU model server (tiny model) as the policy, a real verifier."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from trainer.errors import RecipeError, SamplingUnavailableError
from trainer.mini_r1.task import TaskSpec, corpus
from trainer.mini_r1.tiny import TinyModelSpec, build_model_dir
from trainer.rejection import (
    RejectionConfig,
    TaskRules,
    load_config,
    rejection_sample,
)
from trainer.serving import create_app

K = 4
DIGITS = 0.15


class CountingApp:
    """Counts chat-completion requests reaching the wrapped ASGI app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.chats = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/chat/completions":
            self.chats += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = TinyModelSpec(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    return build_model_dir(
        tmp_path_factory.mktemp("rejection") / "tiny", corpus(TaskSpec(n_terms=2).all_problems()), spec, seed=0
    )


@pytest.fixture
def policy(live_server: Callable[[Any], str], tiny_model: Path) -> tuple[str, CountingApp]:
    app = CountingApp(create_app(tiny_model, model_name="tiny"))
    return live_server(app), app


def write_prompts(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def config(tmp_path: Path, policy_url: str, verifier_url: str, **overrides: Any) -> RejectionConfig:
    base: dict[str, Any] = {
        "prompts": tmp_path / "prompts.jsonl",
        "output": tmp_path / "out" / "sft.jsonl",
        "policy_url": policy_url,
        "policy_model": "tiny",
        "verifier_urls": [verifier_url],
        "k": K,
        "n": 2,
        "max_tokens": 12,
        "concurrency": 2,
        "backoff_s": 0.0,
        "progress": False,
        "tasks": {
            "digits": TaskRules(thresholds={"digits": DIGITS}, reject_truncated=False),
            "any": TaskRules(thresholds={"digits": 0.0}, reject_truncated=False),
            "formatted": TaskRules(thresholds={"format": 1.0}, reject_truncated=False),
            "exact": TaskRules(thresholds={"exact": 1.0}, needs_reference=True),
        },
        "default_task": "any",
    }
    return RejectionConfig(**(base | overrides))


def dataset(cfg: RejectionConfig) -> list[dict[str, Any]]:
    return [json.loads(line) for line in cfg.output.read_text().splitlines()]


def digit_share(text: str) -> float:
    return sum(ch.isdigit() for ch in text) / max(len(text), 1)


def test_keeps_candidates_that_pass_and_reports_every_rejection_and_bad_prompt(
    tmp_path: Path, policy: tuple[str, CountingApp], verifier_url: str
) -> None:
    cfg = config(tmp_path, policy[0], verifier_url)
    write_prompts(
        cfg.prompts,
        [
            {"id": "a", "prompt": "3+4=?", "task": "digits"},
            {"id": "b", "prompt": [{"role": "user", "content": "5+1=?"}], "task": "digits"},
            {"id": "c", "prompt": "2+2=?", "task": "formatted"},
            {"id": "d", "prompt": "1+1=?", "task": "exact"},
            {"id": "e", "prompt": "1+1=?", "task": "poetry"},
            "this line is not JSON",
            {"id": "f", "prompt": "9+9=?\n" * 40, "task": "digits"},
            {"id": "a", "prompt": "3+4=?", "task": "digits"},
            {"id": "g", "task": "digits"},
        ],
    )
    stats = rejection_sample(cfg)
    assert stats.errors == {
        "missing_reference": 1, "unknown_task": 1, "invalid_json": 1, "sampling_refused": 1, "duplicate_id": 1,
        "missing_prompt": 1,
    }
    digits, formatted = stats.tasks["digits"], stats.tasks["formatted"]
    assert digits.prompts == 5 and digits.candidates == 2 * K and formatted.candidates == K
    assert digits.accepted + sum(digits.rejections.values()) >= 2 * K  # a candidate may fail for several reasons
    assert formatted.accepted + formatted.rejections["format:below_threshold"] == K
    samples = dataset(cfg)
    assert len(samples) == stats.accepted
    for sample in samples:
        *prompt, answer = sample["messages"]
        assert answer["role"] == "assistant" and prompt[-1]["role"] == "user"
        if sample["task"] == "digits":
            assert digit_share(answer["content"]) >= DIGITS and sample["scores"]["digits"] >= DIGITS
    assert max(sum(s["prompt_id"] == p for s in samples) for p in "abc") <= 2  # at most n per prompt
    report = json.loads(cfg.stats_path.read_text())
    assert report == json.loads(json.dumps(stats.to_dict()))
    assert report["tasks"]["digits"]["acceptance_rate"] == digits.accepted / (2 * K)


def test_resume_samples_no_prompt_twice_and_restores_samples_lost_in_a_crash(
    tmp_path: Path, policy: tuple[str, CountingApp], verifier_url: str
) -> None:
    url, counter = policy
    cfg = config(tmp_path, url, verifier_url)
    write_prompts(cfg.prompts, [{"id": "a", "prompt": "3+4=?"}, {"id": "b", "prompt": "5+1=?"}])
    first = rejection_sample(cfg)
    assert counter.chats == 2 and first.accepted == 4
    complete = cfg.output.read_text()
    # A crash: the last accepted sample never reached the dataset, and a ledger line was cut short.
    cfg.output.write_text("".join(complete.splitlines(keepends=True)[:-1]))
    with cfg.ledger.open("a") as ledger:
        ledger.write('{"prompt_id": "x", "tas')
    write_prompts(cfg.prompts, [{"id": "a", "prompt": "3+4=?"}, {"id": "b", "prompt": "5+1=?"},
                                {"id": "c", "prompt": "2+2=?"}])
    second = rejection_sample(cfg)
    assert counter.chats == 3  # only c was sampled
    assert second.skipped == 2 and second.sampled == 1 and second.restored == 1 and second.accepted == 6
    lines = cfg.output.read_text().splitlines(keepends=True)
    assert sorted(lines[:4]) == sorted(complete.splitlines(keepends=True))
    assert [json.loads(line)["prompt_id"] for line in lines[4:]] == ["c", "c"]
    assert len(cfg.ledger.read_text().splitlines()) == 3


def test_same_seed_same_dataset(tmp_path: Path, policy: tuple[str, CountingApp], verifier_url: str) -> None:
    rows = [{"id": str(i), "prompt": f"{i}+1=?"} for i in range(3)]
    outputs = []
    for run, seed in (("one", 5), ("two", 5), ("three", 6)):
        cfg = config(tmp_path / run, policy[0], verifier_url, seed=seed)
        cfg.prompts.parent.mkdir(parents=True)
        write_prompts(cfg.prompts, rows)
        rejection_sample(cfg)
        outputs.append(sorted(cfg.output.read_text().splitlines()))
    assert outputs[0] == outputs[1] and outputs[0] != outputs[2]


def test_unreachable_policy_stops_the_run_and_marks_nothing_done(
    tmp_path: Path, verifier_url: str, dead_url: str
) -> None:
    cfg = config(tmp_path, dead_url, verifier_url, retries=1)
    write_prompts(cfg.prompts, [{"id": "a", "prompt": "3+4=?"}])
    with pytest.raises(SamplingUnavailableError, match="did not answer"):
        rejection_sample(cfg)
    assert cfg.ledger.read_text() == "" and cfg.output.read_text() == ""


def test_missing_prompts_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="does not exist"):
        rejection_sample(config(tmp_path, "http://127.0.0.1:1", "http://127.0.0.1:1"))


def test_config_file_paths_are_relative_to_it_and_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rs.yaml"
    path.write_text("prompts: p.jsonl\noutput: out/sft.jsonl\npolicy_url: http://x\npolicy_model: m\n"
                    "verifier_urls: [http://y]\nk: 2\n")
    cfg = load_config(path)
    assert cfg.prompts == tmp_path / "p.jsonl" and cfg.k == 2 and set(cfg.tasks) == {"math", "general"}
    path.write_text("prompts: p.jsonl\noutput: o.jsonl\npolicy_url: http://x\npolicy_model: m\n"
                    "verifier_urls: [http://y]\nkk: 2\n")
    with pytest.raises(RecipeError, match="kk"):
        load_config(path)


def test_general_prompts_go_through_the_judge_and_an_unusable_judgment_rejects(
    tmp_path: Path, policy: tuple[str, CountingApp], live_server: Callable[[Any], str]
) -> None:
    import verifier_judge

    from verifier.http import create_app as create_verifier
    from verifier.registry import create_plugin_manager
    from verifier.settings import Settings

    # The tiny model is the judge as well: its random text holds no score, so every candidate is unscored.
    judge = {"endpoints": [{"url": policy[0]}], "model": "tiny", "templates": {"short": {"user": "{answer}"}},
             "default_template": "short", "max_tokens": 8, "seed": 0}
    pm = create_plugin_manager(load_entrypoints=False, plugins={"judge": verifier_judge})
    verifier_url = live_server(create_verifier(Settings(plugin_options={"judge": judge}), plugin_manager=pm))
    general_rules = TaskRules(thresholds={"judge": 0.7}, reject_truncated=False)
    cfg = config(tmp_path, policy[0], verifier_url, tasks={"general": general_rules}, default_task="general",
                 max_tokens=8)
    write_prompts(cfg.prompts, [{"id": "a", "prompt": "1+2=?"}])
    stats = rejection_sample(cfg)
    general = stats.tasks["general"]
    assert general.candidates == K and general.accepted == 0
    assert general.rejections == {"judge:unscored": K}
