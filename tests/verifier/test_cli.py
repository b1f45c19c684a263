from __future__ import annotations

import json
from pathlib import Path

import pytest

from verifier.cli import main


def test_rewards_lists_the_builtin_rewards(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rewards"]) == 0
    out = capsys.readouterr().out
    assert "format" in out and "tag_count" in out and "soft_overlong" in out


def test_rewards_json_includes_params_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--allow", "format", "rewards", "--json"]) == 0
    listing = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listing["format"]["params_schema"]["properties"]["strict"]["default"] is False


def test_score_writes_one_result_per_line_in_order_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    lines = [
        {"id": "good", "completion": "<think>a</think>b"},
        {"id": "bad-format", "completion": "b"},
        {"id": "no-completion"},
        {"id": "bad-params", "completion": "x", "params": {"format": {"strict": "maybe"}}},
    ] * 3
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    target = tmp_path / "out.jsonl"
    code = main(["score", str(source), str(target), "--rewards", "format", "--batch-size", "5", "--quiet"])
    results = [json.loads(line) for line in target.read_text().splitlines()]
    assert code == 1  # some lines were rejected
    assert [r["line"] for r in results] == list(range(1, len(lines) + 2))
    assert [r.get("scores", {}).get("format") for r in results[:4]] == [1.0, 0.0, None, None]
    assert "completion" in results[2]["error"]
    assert "strict" in results[3]["error"]
    assert "error" in results[-1]
    summary = capsys.readouterr().err
    assert "scored 13 lines" in summary and "7 rejected" in summary
    assert "format" in summary and "0.5000" in summary


def test_score_with_weights_and_params(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"completion": "<think>a</think><answer>b</answer>"}) + "\n")
    target = tmp_path / "out.jsonl"
    code = main(
        [
            "score",
            str(source),
            str(target),
            "--rewards",
            '{"format": 2, "tag_count": 1}',
            "--params",
            '{"format": {"answer_tag": "answer"}, "tag_count": {"answer_tag": "answer"}}',
            "--quiet",
        ]
    )
    assert code == 0
    assert json.loads(target.read_text())["reward"] == 3.0


def test_unknown_plugin_in_allow_list_exits_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--allow", "nosuch", "rewards"]) == 2
    assert "nosuch" in capsys.readouterr().err
