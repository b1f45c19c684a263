"""Reading the tests out of a ``reference`` in the layouts datasets ship, strictly.

A reference (or a JSON string holding one) is recognised by the keys that mark one shape; none, or the
markers of two shapes, is an error, and so is an unknown key in a test case, a test without input or
output (output may be omitted only with a checker or an interactor) or a value of the wrong type. Every error names the
accepted shapes. Reading something as "empty stdin, empty expected output" would pass every program that
prints nothing, so nothing is ever defaulted. Dataset rows may carry other columns (descriptions,
solutions); those are ignored, but the test objects themselves are read field by field.
"""

from __future__ import annotations

import ast
import base64
import binascii
import builtins
import io
import json
import keyword
import pickle
import zlib
from collections.abc import Callable
from typing import Any, NoReturn

from verifier_code.suite import (
    AssertSuite,
    CallCase,
    CallSuite,
    Checker,
    Interactor,
    StdioCase,
    StdioSuite,
    Suite,
    UnusableReference,
    check_group,
    check_weight,
    groups_of,
)

ACCEPTED = (
    "tests {'tests': [{'input', 'output', 'group'?, 'weight'?}], 'checker'? | 'interactor'?}; "
    "APPS/TACO {'inputs', 'outputs', 'fn_name'?} (or under 'input_output'); "
    "HumanEval {'prompt'?, 'test', 'entry_point'}; "
    "MBPP {'test_list', 'test_setup_code'?, 'test_imports'?, 'entry_point'?}; "
    "CodeContests {'public_tests' / 'private_tests' / 'generated_tests': {'input': [...], 'output': [...]}}; "
    "LiveCodeBench {'public_test_cases' / 'private_test_cases': [{'input', 'output', 'testtype'}], "
    "'metadata': {'func_name'}}; "
    "open-r1 {'verification_info': {'language', 'test_cases': [{'input', 'output', 'type': 'stdin_stdout'}]}}"
)
"""Named in every error, so a caller sees what would have worked (docs/code.md has the details)."""

CASE_KEYS = frozenset({"input", "output", "group", "weight"})
CHECKER_KEYS = frozenset({"language", "source", "convention"})
INTERACTOR_KEYS = frozenset({"language", "source"})
CODECONTESTS_SPLITS = ("public_tests", "private_tests", "generated_tests")
LCB_SPLITS = ("public_test_cases", "private_test_cases")
MAX_DECOMPRESSED = 256 * 1024 * 1024
# LiveCodeBench's grader runs LeetCode solutions after star imports (their starter code uses List, Optional
# without importing them); these are the ones such code leans on, in its order (builtins after math, so
# math.pow does not replace pow).
LCB_PRELUDE = (
    "from collections import *\nfrom heapq import *\nfrom bisect import *\nfrom itertools import *\n"
    "from functools import *\nfrom math import *\nfrom builtins import *\nfrom typing import *\n"
    "import collections, heapq, bisect, itertools, functools, math, string, re, json, sys\n"
)


def parse_reference(reference: Any) -> Suite:
    """The tests of ``reference``; ``UnusableReference`` (naming the accepted shapes) when there are none."""
    try:
        return _parse(reference)
    except UnusableReference as exc:
        raise UnusableReference(f"{exc} (accepted shapes: {ACCEPTED})") from None
    except RecursionError:
        raise UnusableReference(f"reference nested too deeply (accepted shapes: {ACCEPTED})") from None


def _fail(message: str) -> NoReturn:
    raise UnusableReference(message)


def _json(value: Any, what: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        _fail(f"{what} is a string but not JSON: {exc}")


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(f"{what} must be an object, got {type(value).__name__}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(f"{what} must be a list, got {type(value).__name__}")
    return value


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        _fail(f"{what} must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800" in JSON): no file can hold it
        _fail(f"{what} is not valid Unicode text: {exc.reason} at {exc.start}")
    return value


def _text(value: Any, what: str) -> str:
    """Program input or output: a string, or a list of lines (APPS stores some that way)."""
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "\n".join(value)
    return _string(value, what)


def _only(obj: dict[str, Any], allowed: frozenset[str] | set[str], what: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        _fail(f"{what} has unknown keys {unknown} (known: {sorted(allowed)})")


SHAPES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "tests": lambda r: "tests" in r,
    "APPS/TACO": lambda r: bool({"input_output", "inputs", "outputs", "fn_name"} & r.keys()),
    "HumanEval": lambda r: "test" in r,
    "MBPP": lambda r: "test_list" in r,
    "CodeContests": lambda r: any(k in r for k in CODECONTESTS_SPLITS),
    "LiveCodeBench": lambda r: any(k in r for k in LCB_SPLITS),
    "open-r1": lambda r: "verification_info" in r or "test_cases" in r,
}


def _parse(reference: Any) -> Suite:
    reference = _object(_json(reference, "reference"), "reference")
    matched = [name for name, marks in SHAPES.items() if marks(reference)]
    if not matched:
        _fail(f"reference has no tests (keys: {sorted(reference)[:20]})")
    if len(matched) > 1:
        _fail(f"reference mixes the keys of several shapes ({', '.join(matched)}); give one")
    [shape] = matched
    checker = _checker(reference["checker"]) if "checker" in reference else None
    if "interactor" in reference:
        if shape != "tests" or checker is not None:
            _fail("an 'interactor' goes with a 'tests' reference (and no 'checker': the interactor decides)")
        return _interactive(reference)
    suite = PARSERS[shape](reference, checker)
    if checker is not None and not isinstance(suite, StdioSuite):
        _fail(f"a checker judges stdin/stdout tests; this {shape} reference has {type(suite).__name__} tests")
    if isinstance(suite, StdioSuite | CallSuite):
        if not suite.cases:
            _fail("no test cases")
        groups_of(suite.cases)  # the groups' weights agree
    return suite


def _checker(value: Any) -> Checker:
    spec = _object(value, "'checker'")
    _only(spec, CHECKER_KEYS, "'checker'")
    missing = sorted(CHECKER_KEYS - spec.keys())
    if missing:
        _fail(f"'checker' lacks {missing}")
    language, convention = spec["language"], spec["convention"]
    if language not in ("python", "cpp"):
        _fail(f"'checker.language' must be 'python' or 'cpp', got {language!r}")
    if convention not in ("testlib", "cms"):
        _fail(f"'checker.convention' must be 'testlib' or 'cms', got {convention!r}")
    source = _string(spec["source"], "'checker.source'")
    if not source.strip():
        _fail("'checker.source' is empty")
    return Checker(language, source, convention)


def _interactive(reference: dict[str, Any]) -> Suite:
    _only(reference, {"tests", "interactor"}, "an interactive 'tests' reference")
    spec = _object(reference["interactor"], "'interactor'")
    _only(spec, INTERACTOR_KEYS, "'interactor'")
    missing = sorted(INTERACTOR_KEYS - spec.keys())
    if missing:
        _fail(f"'interactor' lacks {missing}")
    language = spec["language"]
    if language not in ("python", "cpp"):
        _fail(f"'interactor.language' must be 'python' or 'cpp', got {language!r}")
    source = _string(spec["source"], "'interactor.source'")
    if not source.strip():
        _fail("'interactor.source' is empty")
    tests = _list(reference["tests"], "'tests'")
    cases = [_stdio_case(t, f"tests[{i}]", None, answer_optional=True) for i, t in enumerate(tests)]
    if not cases:
        _fail("no test cases")
    groups_of(cases)
    return StdioSuite(cases, "tests", interactor=Interactor(language, source))


def _stdio_case(raw: Any, where: str, checker: Checker | None, *, answer_optional: bool = False) -> StdioCase:
    case = _object(raw, where)
    _only(case, CASE_KEYS, where)
    if "input" not in case:
        _fail(f"{where} has no 'input'")
    if "output" not in case and checker is None and not answer_optional:
        _fail(f"{where} has no 'output' (only problems with a checker or an interactor may omit it)")
    output = _text(case["output"], f"{where}.output") if "output" in case else None
    group = check_group(case["group"], where) if "group" in case else None
    weight = check_weight(case["weight"], where) if "weight" in case else None
    return StdioCase(_text(case["input"], f"{where}.input"), output, group, weight)


def _tests(reference: dict[str, Any], checker: Checker | None) -> Suite:
    _only(reference, {"tests", "checker"}, "a 'tests' reference")
    tests = _list(reference["tests"], "'tests'")
    return StdioSuite([_stdio_case(t, f"tests[{i}]", checker) for i, t in enumerate(tests)], "tests", checker)


def _apps(reference: dict[str, Any], checker: Checker | None) -> Suite:
    if "input_output" in reference:
        # A dataset row (APPS, TACO): other columns are the problem's text and solutions.
        inner = _object(_json(reference["input_output"], "'input_output'"), "'input_output'")
        where = "'input_output'"
    else:
        _only(reference, {"inputs", "outputs", "fn_name", "checker"}, "an APPS/TACO reference")
        inner, where = reference, "an APPS/TACO reference"
    _only(inner, {"inputs", "outputs", "fn_name"}, where)
    if "inputs" not in inner or "outputs" not in inner:
        _fail(f"{where} needs both 'inputs' and 'outputs'")
    inputs, outputs = _list(inner["inputs"], "'inputs'"), _list(inner["outputs"], "'outputs'")
    if len(inputs) != len(outputs):
        _fail(f"'inputs' and 'outputs' differ in length ({len(inputs)} and {len(outputs)})")
    fn_name = inner.get("fn_name")
    if fn_name is not None:
        name = _identifier(fn_name, "'fn_name'")
        calls = [CallCase(i if isinstance(i, list) else [i], o) for i, o in zip(inputs, outputs, strict=True)]
        return CallSuite(name, calls, "APPS/TACO")
    cases = [
        StdioCase(_text(i, f"inputs[{n}]"), _text(o, f"outputs[{n}]"))
        for n, (i, o) in enumerate(zip(inputs, outputs, strict=True))
    ]
    return StdioSuite(cases, "APPS/TACO", checker)


def _identifier(value: Any, what: str) -> str:
    name = _string(value, what)
    if not name.isidentifier() or keyword.iskeyword(name):
        _fail(f"{what} must be a Python identifier, got {name!r}")
    return name


def _humaneval(reference: dict[str, Any], checker: Checker | None) -> Suite:
    if "entry_point" not in reference:
        _fail("a HumanEval reference needs 'entry_point' with its 'test'")
    prompt = _string(reference.get("prompt", ""), "'prompt'")
    test = _string(reference["test"], "'test'")
    return AssertSuite(test, _identifier(reference["entry_point"], "'entry_point'"), prompt, "HumanEval")


def _mbpp(reference: dict[str, Any], checker: Checker | None) -> Suite:
    asserts = [_string(t, f"test_list[{i}]") for i, t in enumerate(_list(reference["test_list"], "'test_list'"))]
    if not asserts:
        _fail("'test_list' is empty")
    setup = _string(reference.get("test_setup_code", ""), "'test_setup_code'")
    imports = [_string(t, "'test_imports'") for t in _list(reference.get("test_imports", []), "'test_imports'")]
    prelude = "\n".join([*imports, setup])
    if "entry_point" in reference:
        entry_point = _identifier(reference["entry_point"], "'entry_point'")
    else:
        entry_point = _called_function(asserts, prelude)
    return AssertSuite(_mbpp_check(prelude + "\n" + "\n".join(asserts), entry_point), entry_point, "", "MBPP")


def _mbpp_check(tests: str, entry_point: str) -> str:
    """A HumanEval-style ``check(candidate)`` running MBPP's setup and asserts in a namespace of their own,
    in the judge's process: the function's name is the candidate (the proxy to the program's process)."""
    return (
        f"_TESTS = {tests!r}\n\n\n"
        "def check(candidate):\n"
        f"    env = {{'__name__': '__mbpp__', {entry_point!r}: candidate}}\n"
        "    exec(compile(_TESTS, 'mbpp_tests.py', 'exec'), env)\n"
    )


def _called_function(asserts: list[str], prelude: str) -> str:
    """The one function every assert calls, outermost (``f(Pair(1, 2))`` is ``f``), that neither Python nor
    the setup code defines."""
    try:
        known = set(dir(builtins)) | _defined_names(ast.parse(prelude))
        trees = [ast.parse(line) for line in asserts]
    except SyntaxError as exc:
        _fail(f"the MBPP tests are not valid Python: {exc}")
    common: set[str] | None = None
    for tree in trees:
        called = _outermost_calls(tree, known)
        common = called if common is None else common & called
    if not common or len(common) != 1:
        _fail(f"cannot tell which function the MBPP tests call ({sorted(common or [])}); give 'entry_point'")
    return common.pop()


def _outermost_calls(node: ast.AST, known: set[str]) -> set[str]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in known:
        return {node.func.id}
    found: set[str] = set()
    for child in ast.iter_child_nodes(node):
        found |= _outermost_calls(child, known)
    return found


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def _codecontests(reference: dict[str, Any], checker: Checker | None) -> Suite:
    cases: list[StdioCase] = []
    for split in CODECONTESTS_SPLITS:
        if split not in reference:
            continue
        tests = _object(_json(reference[split], f"'{split}'"), f"'{split}'")
        _only(tests, {"input", "output"}, f"'{split}'")
        inputs = _list(tests.get("input", []), f"'{split}.input'")
        outputs = _list(tests.get("output", []), f"'{split}.output'")
        if len(inputs) != len(outputs):
            _fail(f"'{split}' has {len(inputs)} inputs and {len(outputs)} outputs")
        cases += [
            StdioCase(_string(i, f"{split}.input[{n}]"), _string(o, f"{split}.output[{n}]"))
            for n, (i, o) in enumerate(zip(inputs, outputs, strict=True))
        ]
    return StdioSuite(cases, "CodeContests", checker)


def _livecodebench(reference: dict[str, Any], checker: Checker | None) -> Suite:
    tests: list[tuple[str, dict[str, Any]]] = []
    for split in LCB_SPLITS:
        if split in reference:
            raw = reference[split]
            value = _lcb_private(raw) if split == "private_test_cases" else _json(raw, f"'{split}'")
            tests += [(f"{split}[{i}]", _object(t, f"{split}[{i}]")) for i, t in enumerate(_list(value, split))]
    kinds = set()
    for where, test in tests:
        _only(test, {"input", "output", "testtype"}, where)
        if not {"input", "output", "testtype"} <= test.keys():
            _fail(f"{where} needs 'input', 'output' and 'testtype'")
        kinds.add(test["testtype"])
    if kinds - {"stdin", "functional"}:
        _fail(f"LiveCodeBench 'testtype' must be 'stdin' or 'functional', got {sorted(map(str, kinds))}")
    if kinds == {"stdin", "functional"}:
        _fail("LiveCodeBench tests mix 'stdin' and 'functional'")
    if kinds != {"functional"}:
        cases = [StdioCase(_string(t["input"], where), _string(t["output"], where)) for where, t in tests]
        return StdioSuite(cases, "LiveCodeBench", checker)
    metadata = _object(_json(reference.get("metadata", {}), "'metadata'"), "'metadata'")
    name = metadata.get("func_name", metadata.get("fn_name"))
    if name is None:
        _fail("functional LiveCodeBench tests need 'metadata.func_name'")
    # LiveCodeBench's own grader: each input line is one JSON argument, the output one JSON value.
    calls = [CallCase(_json_lines(t["input"], where), _json_value(t["output"], where)) for where, t in tests]
    name = _identifier(name, "'metadata.func_name'")
    return CallSuite(name, calls, "LiveCodeBench", unwrap_singleton=False, prelude=LCB_PRELUDE)


def _json_value(text: Any, where: str) -> Any:
    try:
        return json.loads(_string(text, where))
    except ValueError as exc:
        _fail(f"{where}: not JSON: {exc}")


def _json_lines(text: Any, where: str) -> list[Any]:
    lines = _string(text, where).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return [_json_value(line, f"{where} line {n + 1}") for n, line in enumerate(lines)]


class _NoGlobals(pickle.Unpickler):
    """LiveCodeBench ships private tests as base64(zlib(pickle(json text))). A pickle that names any
    class or function (the way a pickle runs code) is refused: only the plain string is read."""

    def find_class(self, module: str, name: str) -> NoReturn:
        _fail(f"'private_test_cases' pickle refers to {module}.{name}; only a pickled string is read")


def _lcb_private(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        packed = base64.b64decode(raw.encode("ascii"), validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, MAX_DECOMPRESSED)
        if inflater.unconsumed_tail:
            _fail(f"'private_test_cases' inflates past {MAX_DECOMPRESSED} bytes")
        text = _NoGlobals(io.BytesIO(data)).load()
    except (ValueError, binascii.Error, zlib.error, pickle.UnpicklingError, EOFError) as exc:
        _fail(f"'private_test_cases' is neither JSON nor LiveCodeBench's compressed form: {exc}")
    return _json(_string(text, "the unpickled 'private_test_cases'"), "'private_test_cases'")


def _open_r1(reference: dict[str, Any], checker: Checker | None) -> Suite:
    info = reference
    if "verification_info" in reference:
        info = _object(_json(reference["verification_info"], "'verification_info'"), "'verification_info'")
    _only(info, {"language", "test_cases"} | ({"checker"} if info is reference else set()), "'verification_info'")
    language = info.get("language")
    if language is not None:
        language = _string(language, "'verification_info.language'")
    cases = []
    for i, raw in enumerate(_list(info.get("test_cases"), "'test_cases'")):
        where = f"test_cases[{i}]"
        test = _object(raw, where)
        _only(test, {"input", "output", "type", "fn_name"}, where)
        if test.get("type") != "stdin_stdout":
            _fail(f"{where}: 'type' must be 'stdin_stdout' (the only type open-r1 runs), got {test.get('type')!r}")
        if test.get("fn_name") is not None:
            _fail(f"{where}: a stdin_stdout test with fn_name {test['fn_name']!r} is not supported")
        if "input" not in test or "output" not in test:
            _fail(f"{where} needs 'input' and 'output'")
        cases.append(StdioCase(_string(test["input"], where), _string(test["output"], where)))
    return StdioSuite(cases, "open-r1", checker, language)


PARSERS: dict[str, Callable[[dict[str, Any], Checker | None], Suite]] = {
    "tests": _tests,
    "APPS/TACO": _apps,
    "HumanEval": _humaneval,
    "MBPP": _mbpp,
    "CodeContests": _codecontests,
    "LiveCodeBench": _livecodebench,
    "open-r1": _open_r1,
}
