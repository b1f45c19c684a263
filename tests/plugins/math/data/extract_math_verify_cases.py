"""Regenerate ``math_verify_cases.jsonl`` from a checkout of huggingface/Math-Verify (its ``tests/`` folder).

    python tests/plugins/math/data/extract_math_verify_cases.py GIT_DIR [COMMIT] > math_verify_cases.jsonl

Reads each test module with ``ast`` (nothing of it is imported or run): every ``pytest.mark.parametrize`` table
whose test calls ``compare_strings(gold, pred, ...)`` or ``verify(parse(gold), parse(pred))``, and every such
call written with literal arguments, becomes one row per case with the options the test passes. The tables are
literals except one f-string of ``math.sqrt``, evaluated with only ``math`` in scope.
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from typing import Any

FILES = (
    "tests/test_all.py",
    "tests/test_boxed.py",
    "tests/test_numina_cases.py",
    "tests/test_open_thoughts.py",
    "tests/test_strict.py",
    "tests/test_yujianll.py",
)
OPTION_NAMES = ("match_types", "precision", "strict", "allow_set_relation_comp")
DEFAULTS: dict[str, Any] = {
    "match_types": ["latex", "expr"],
    "precision": 6,
    "strict": True,
    "allow_set_relation_comp": False,
}


def _value(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return eval(compile(ast.Expression(node), "<case>", "eval"), {"__builtins__": {}, "math": math})


def _is_case_call(call: ast.Call) -> bool:
    name = getattr(call.func, "id", None)
    parsed = all(isinstance(a, ast.Call) and getattr(a.func, "id", "") == "parse" for a in call.args)
    return name == "compare_strings" or (name == "verify" and bool(call.args) and parsed)


def _call_options(call: ast.Call, params: dict[str, Any]) -> dict[str, Any]:
    """The options of a ``compare_strings`` or ``verify(parse(..), parse(..))`` call."""
    if getattr(call.func, "id", None) == "verify":
        return dict(DEFAULTS)
    options = dict(DEFAULTS)
    for keyword in call.keywords:
        if keyword.arg in OPTION_NAMES:
            value = keyword.value
            options[keyword.arg] = params[value.id] if isinstance(value, ast.Name) else _value(value)
    return options


def _cases(path: str, source: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef):
            continue
        calls = [c for c in ast.walk(function) if isinstance(c, ast.Call) and _is_case_call(c)]
        if not calls:
            continue
        tables = [
            d
            for d in function.decorator_list
            if isinstance(d, ast.Call) and getattr(d.func, "attr", None) == "parametrize"
        ]
        if tables:
            names = [n.strip() for n in _value(tables[0].args[0]).split(",")]
            for index, case in enumerate(_value(tables[0].args[1])):
                params = dict(zip(names, case, strict=True))
                options = _call_options(calls[0], params)
                expected = params.get("expected", params.get("result"))
                rows.append(_row(path, function.name, index, params["gold"], params["pred"], expected, options))
        else:  # literal calls: compare_strings("gold", "pred", ...) == 1
            for index, call in enumerate(c for c in calls if getattr(c.func, "id", None) == "compare_strings"):
                parent = next(n for n in ast.walk(function) if isinstance(n, ast.Compare) and n.left is call)
                options = _call_options(call, {})
                gold, pred = (_value(a) for a in call.args[:2])
                rows.append(_row(path, function.name, index, gold, pred, _value(parent.comparators[0]), options))
    return rows


def _row(
    path: str, test: str, index: int, gold: str, pred: str, expected: Any, options: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": f"{path.removeprefix('tests/').removesuffix('.py')}::{test}[{index}]",
        "gold": gold,
        "pred": pred,
        "expected": bool(expected),
        "options": options,
    }


def main() -> None:
    git_dir = sys.argv[1]
    commit = sys.argv[2] if len(sys.argv) > 2 else "HEAD"
    commit = subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-parse", commit], capture_output=True, text=True, check=True
    ).stdout.strip()
    for path in FILES:
        source = subprocess.run(
            ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"], capture_output=True, text=True, check=True
        ).stdout
        for row in _cases(path, source):
            row["source"] = {"repo": "huggingface/Math-Verify", "commit": commit, "file": path}
            print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
