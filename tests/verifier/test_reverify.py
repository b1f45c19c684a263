"""``verifier score --compare``: stored results re-scored, changed verdicts reported with their versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from verifier.cli import main
from verifier.runtime import build_registry
from verifier.settings import Settings

ITEMS = [
    {"id": "a", "completion": "<think>working</think> The answer is 4."},
    {"id": "b", "completion": "The answer is 4."},
    {"id": "c", "completion": "<think>working</think> 5"},
]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


@pytest.fixture
def scored(tmp_path: Path) -> list[dict[str, Any]]:
    """The items scored now by ``format``, each line holding the item and its result."""
    target = tmp_path / "scored.jsonl"
    source = _write(tmp_path / "items.jsonl", ITEMS)
    assert (
        main(["--allow", "format", "score", str(source), str(target), "--rewards", "format", "--with-items", "--quiet"])
        == 0
    )
    return _lines(target)


def test_score_with_items_writes_the_item_its_result_and_the_versions(scored: list[dict[str, Any]]) -> None:
    version = build_registry(Settings(plugins_allow=["format"])).get("format").plugin.version
    assert [row["completion"] for row in scored] == [item["completion"] for item in ITEMS]
    assert [row["scores"]["format"] for row in scored] == [1.0, 0.0, 1.0]
    assert all(row["versions"] == {"format": version} for row in scored)


def test_compare_reports_each_changed_verdict_with_old_and_new_versions(
    tmp_path: Path, scored: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    version = scored[0]["versions"]["format"]
    old = [dict(row) for row in scored]
    old[0] = {**old[0], "scores": {"format": 0.0}, "versions": {"format": "0.0.1"}}  # an older verifier's verdict
    old[1] = {k: v for k, v in old[1].items() if k != "versions"}  # stored before results carried versions
    old_path = _write(tmp_path / "old.jsonl", [*old, "{not json", {"id": "d", "completion": "x"}])
    new_path, report_path = tmp_path / "new.jsonl", tmp_path / "report.json"

    code = main(
        [
            "--allow",
            "format",
            "score",
            "--compare",
            str(old_path),
            str(new_path),
            "--report",
            str(report_path),
            "--quiet",
        ]
    )

    assert code == 1  # two lines could not be re-scored
    report = json.loads(report_path.read_text())
    assert report["rewards"] == {
        "format": {
            "compared": 3,
            "changed": 1,
            "failed": 0,
            "old_versions": {"0.0.1": 1, "unrecorded": 1, version: 1},
            "new_versions": {version: 3},
        }
    }
    assert report["changes"] == [
        {
            "line": 1,
            "id": "a",
            "reward": "format",
            "old": 0.0,
            "new": 1.0,
            "old_version": "0.0.1",
            "new_version": version,
        }
    ]
    assert [r["line"] for r in report["rejected"]] == [4, 5]
    assert "no 'scores'" in report["rejected"][1]["error"]
    err = capsys.readouterr().err
    assert "1 verdicts changed in 1 items" in err and "2 lines rejected" in err

    # The new file is itself a stored result: compared with what this verifier says, nothing moved.
    assert [row["scores"]["format"] for row in _lines(new_path)] == [1.0, 0.0, 1.0]
    assert (
        main(["--allow", "format", "score", "--compare", str(new_path), "--report", str(report_path), "--quiet"]) == 0
    )
    again = json.loads(report_path.read_text())
    assert again["changes"] == [] and again["rewards"]["format"]["compared"] == 3


def test_compare_takes_the_rewards_from_the_stored_lines(tmp_path: Path, scored: list[dict[str, Any]]) -> None:
    old_path = _write(tmp_path / "old.jsonl", scored)
    assert main(["--allow", "format", "score", "--compare", str(old_path), "--rewards", "format", "--quiet"]) == 2


def test_score_without_an_output_file_is_refused_unless_comparing(tmp_path: Path) -> None:
    source = _write(tmp_path / "items.jsonl", ITEMS)
    assert main(["--allow", "format", "score", str(source), "--rewards", "format", "--quiet"]) == 2
