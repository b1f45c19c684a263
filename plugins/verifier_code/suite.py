"""Reading the tests out of an item's ``reference``: stdin/stdout cases, assert-style, function calls.

Accepted shapes (a JSON string holding one of these is parsed first):

- stdin/stdout: ``{"tests": [{"input": "1 2\\n", "output": "3\\n"}, ...]}`` or APPS/TACO's
  ``{"inputs": [...], "outputs": [...]}`` (an ``"input_output"`` key holding it is unwrapped);
- function calls (LeetCode/TACO ``fn_name``):
  ``{"fn_name": "add", "inputs": [[1, 2], ...], "outputs": [3, ...]}``;
- assert-style (HumanEval): ``{"test": "def check(candidate): ...", "entry_point": "add", "prompt": "..."}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class UnusableReference(ValueError):
    """The reference holds no tests this reward understands (the item gets no verdict, not a 0.0)."""


@dataclass(frozen=True)
class StdioCase:
    input: str
    output: str


@dataclass(frozen=True)
class CallCase:
    args: list[Any]
    expected: Any


@dataclass(frozen=True)
class StdioSuite:
    cases: list[StdioCase]


@dataclass(frozen=True)
class CallSuite:
    fn_name: str
    cases: list[CallCase]


@dataclass(frozen=True)
class AssertSuite:
    test: str
    entry_point: str
    prompt: str = ""


Suite = StdioSuite | CallSuite | AssertSuite


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def parse_reference(reference: Any) -> Suite:
    if isinstance(reference, str):
        try:
            reference = json.loads(reference)
        except ValueError as exc:
            raise UnusableReference(f"reference is a string but not JSON: {exc}") from exc
    if not isinstance(reference, dict):
        raise UnusableReference(f"reference must be an object with tests, got {type(reference).__name__}")
    if "input_output" in reference:
        inner = reference["input_output"]
        return parse_reference(inner if isinstance(inner, dict | str) else {})
    if "test" in reference and "entry_point" in reference:
        return AssertSuite(
            str(reference["test"]), str(reference["entry_point"]), str(reference.get("prompt", ""))
        )
    if "tests" in reference:
        tests = reference["tests"]
        if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
            raise UnusableReference("'tests' must be a list of {input, output} objects")
        cases = [StdioCase(_text(t.get("input", "")), _text(t.get("output", ""))) for t in tests]
    elif "inputs" in reference and "outputs" in reference:
        inputs, outputs = reference["inputs"], reference["outputs"]
        if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
            raise UnusableReference("'inputs' and 'outputs' must be lists of the same length")
        if reference.get("fn_name"):
            calls = [
                CallCase(i if isinstance(i, list) else [i], o) for i, o in zip(inputs, outputs, strict=True)
            ]
            if not calls:
                raise UnusableReference("no test cases")
            return CallSuite(str(reference["fn_name"]), calls)
        cases = [StdioCase(_text(i), _text(o)) for i, o in zip(inputs, outputs, strict=True)]
    else:
        raise UnusableReference(
            "reference has no tests ('tests', 'inputs'/'outputs', or 'test'+'entry_point')"
        )
    if not cases:
        raise UnusableReference("no test cases")
    return StdioSuite(cases)
