"""The dataset layouts the ``code`` reward reads, each from its real row layout and run with a right and a
wrong program on real bubblewrap; and every malformed reference failing closed (null + an error naming the
accepted shapes), never read as "empty input, empty output"."""

from __future__ import annotations

import base64
import collections
import json
import math
import pickle
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from verifier_code import shapes
from verifier_code.shapes import parse_reference
from verifier_code.suite import AssertSuite, CallSuite, StdioSuite, UnusableReference

from tests.plugins.code.live import LiveReward, fenced, live_reward
from tests.system import needs_bwrap

pytestmark = needs_bwrap

ADD = "a, b = map(int, input().split())\nprint(a + b)"
SUB = "a, b = map(int, input().split())\nprint(a - b)"
SILENT = "pass"
ADD_CPP = "#include <iostream>\nint main(){ long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }"
SUB_CPP = "#include <iostream>\nint main(){ long a, b; std::cin >> a >> b; std::cout << a - b << '\\n'; }"


@pytest.fixture(scope="module")
def live() -> Iterator[LiveReward]:
    with live_reward({"backend": "process", "isolation": "bwrap"}) as reward:
        yield reward


# Rows in the layouts the datasets ship (problems written for these tests, fields as the datasets name them).

CODECONTESTS_ROW = {
    "name": "1000_A. Sum",
    "description": "Print the sum of two integers.",
    "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
    "private_tests": {"input": ["10 -4\n", "0 0\n"], "output": ["6\n", "0\n"]},
    "generated_tests": {"input": ["7 8\n"], "output": ["15\n"]},
    "source": 2,
    "difficulty": 7,
    "solutions": {"language": [3], "solution": [ADD]},
    "incorrect_solutions": {"language": [3], "solution": [SUB]},
    "cf_contest_id": 1000,
    "cf_index": "A",
    "cf_rating": 800,
    "cf_tags": ["math"],
    "time_limit": {"seconds": 1, "nanos": 0},
    "memory_limit_bytes": 256000000,
    "input_file": "",
    "output_file": "",
}

OPEN_R1_ROW = {
    "problem_id": "vfc_1",
    "source": "apps",
    "task_type": "verifiable_code",
    "in_source_id": "1",
    "prompt": "Print the sum of two integers.",
    "gold_standard_solution": f"```python\n{ADD}\n```",
    "verification_info": {
        "language": "python",
        "test_cases": [
            {"fn_name": None, "input": "1 2\n", "output": "3\n", "type": "stdin_stdout"},
            {"fn_name": None, "input": "10 -4\n", "output": "6\n", "type": "stdin_stdout"},
        ],
    },
    "metadata": {"difficulty": "introductory"},
}

LCB_FUNCTIONAL_TESTS = [
    {"input": "[2,7,11,15]\n9", "output": "[0, 1]", "testtype": "functional"},
    {"input": "[3,2,4]\n6", "output": "[1, 2]", "testtype": "functional"},
]
LCB_FUNCTIONAL_ROW = {
    "question_title": "two-sum",
    "question_content": "Return the indices of the two numbers that add up to target.",
    "platform": "leetcode",
    "question_id": "1",
    "contest_id": "weekly-contest-1",
    "contest_date": "2023-08-01T00:00:00",
    "starter_code": "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        ",
    "difficulty": "easy",
    "public_test_cases": json.dumps(LCB_FUNCTIONAL_TESTS[:1]),
    # LiveCodeBench's compressed form: base64(zlib(pickle(JSON text))).
    "private_test_cases": base64.b64encode(zlib.compress(pickle.dumps(json.dumps(LCB_FUNCTIONAL_TESTS[1:])))).decode(),
    "metadata": json.dumps({"func_name": "twoSum"}),
}
TWO_SUM = (
    "from typing import List\n"
    "class Solution:\n"
    "    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
    "        seen = {}\n"
    "        for i, x in enumerate(nums):\n"
    "            if target - x in seen:\n"
    "                return [seen[target - x], i]\n"
    "            seen[x] = i\n"
    "        return []\n"
)
# As LeetCode's starter code has it: List without an import (LiveCodeBench's grader provides typing).
TWO_SUM_NO_IMPORT = TWO_SUM.replace("from typing import List\n", "")
TWO_SUM_WRONG = "class Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]\n"

LCB_STDIN_ROW = {
    "question_title": "Sum",
    "platform": "atcoder",
    "starter_code": "",
    "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
    "private_test_cases": json.dumps([{"input": "10 -4\n", "output": "6\n", "testtype": "stdin"}]),
    "metadata": "{}",
}

MBPP_ROW = {
    "task_id": 9001,
    "text": "Write a function to find the larger of two numbers.",
    "code": "def larger(a, b):\n    return a if a > b else b",
    "test_list": ["assert larger(1, 2) == 2", "assert larger(5, -1) == 5", "assert larger(3, 3) == 3"],
    "test_setup_code": "",
    "challenge_test_list": [],
}
MBPP_SANITIZED_ROW = {
    "source_file": "Benchmark Questions Verification V2.ipynb",
    "task_id": 9002,
    "prompt": "Write a function to find the area of a circle.",
    "code": "import math\ndef circle_area(r):\n    return math.pi * r * r",
    "test_imports": ["import math"],
    "test_list": [
        "assert math.isclose(circle_area(1), 3.14159, rel_tol=0.001)",
        "assert math.isclose(circle_area(2), 12.566, rel_tol=0.001)",
    ],
}

APPS_ROW = {
    "problem_id": 1,
    "question": "Print the sum of two integers.",
    "solutions": json.dumps([ADD]),
    "input_output": json.dumps({"inputs": ["1 2\n", "10 -4\n"], "outputs": ["3\n", "6\n"]}),
    "difficulty": "introductory",
    "url": "https://example.invalid/problem/1",
    "starter_code": "",
}
TACO_CALL_ROW = {
    "question": "Add two numbers.",
    "solutions": ["def add(a, b):\n    return a + b"],
    "starter_code": "def add(a, b):\n\t",
    "input_output": {"fn_name": "add", "inputs": [[1, 2], [5, 5]], "outputs": [[3], [10]]},
    "difficulty": "EASY",
    "raw_tags": "['Mathematics']",
    "name": None,
    "source": "codewars",
    "tags": "['Mathematics']",
    "skill_types": "[]",
    "url": "https://example.invalid/kata/1",
    "Expected Auxiliary Space": None,
    "time_limit": None,
    "date": None,
    "picture_num": None,
    "memory_limit": None,
    "Expected Time Complexity": None,
}

HUMANEVAL_ROW = {
    "task_id": "HumanEval/9000",
    "prompt": 'def larger(a: int, b: int) -> int:\n    """The larger of a and b."""\n',
    "canonical_solution": "    return max(a, b)\n",
    "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n"
    "    assert candidate(1, 2) == 2\n    assert candidate(3, -3) == 3\n",
    "entry_point": "larger",
}


def test_codecontests_row_reads_all_three_splits(live: LiveReward) -> None:
    suite = parse_reference(CODECONTESTS_ROW)
    assert isinstance(suite, StdioSuite) and len(suite.cases) == 4 and suite.shape == "CodeContests"
    right, wrong = live.score_all((fenced(ADD), CODECONTESTS_ROW, {}), (fenced(SUB), CODECONTESTS_ROW, {}))
    assert right.value == 1.0 and right.details["shape"] == "CodeContests"
    assert wrong.value == 0.25  # only 0 0 -> 0 is right for a - b


def test_open_r1_verification_info_row_and_its_language(live: LiveReward) -> None:
    right, wrong, silent = live.score_all(
        (fenced(ADD), OPEN_R1_ROW, {}), (fenced(SUB), OPEN_R1_ROW, {}), (fenced(SILENT), OPEN_R1_ROW, {})
    )
    assert (right.value, wrong.value, silent.value) == (1.0, 0.0, 0.0)
    cpp_row = {**OPEN_R1_ROW, "verification_info": {**OPEN_R1_ROW["verification_info"], "language": "cpp"}}
    cpp_right, cpp_wrong, clash = live.score_all(
        (fenced(ADD_CPP, "cpp"), cpp_row, {}),
        (fenced(SUB_CPP, "cpp"), cpp_row, {}),
        (fenced(ADD), cpp_row, {"language": "python"}),
    )
    assert cpp_right.value == 1.0 and cpp_right.details["language"] == "cpp"
    assert cpp_wrong.value == 0.0
    assert clash.value is None and clash.error is not None and "cpp" in clash.error


def test_open_r1_verification_info_may_come_as_json_text(live: LiveReward) -> None:
    row = {**OPEN_R1_ROW, "verification_info": json.dumps(OPEN_R1_ROW["verification_info"])}
    assert live.score(fenced(ADD), row).value == 1.0


def test_livecodebench_functional_row_with_compressed_private_tests(live: LiveReward) -> None:
    suite = parse_reference(LCB_FUNCTIONAL_ROW)
    assert isinstance(suite, CallSuite) and suite.fn_name == "twoSum"
    # Each input line is one JSON argument, as LiveCodeBench's grader reads it.
    assert [c.args for c in suite.cases] == [[[2, 7, 11, 15], 9], [[3, 2, 4], 6]]
    assert [c.expected for c in suite.cases] == [[0, 1], [1, 2]]
    right, starter, wrong = live.score_all(
        (fenced(TWO_SUM), LCB_FUNCTIONAL_ROW, {}),
        (fenced(TWO_SUM_NO_IMPORT), LCB_FUNCTIONAL_ROW, {}),
        (fenced(TWO_SUM_WRONG), LCB_FUNCTIONAL_ROW, {}),
    )
    assert right.value == 1.0 and right.details["shape"] == "LiveCodeBench"
    assert starter.value == 1.0
    assert wrong.value == 0.5


def test_livecodebench_expected_list_is_not_unwrapped() -> None:
    # APPS/TACO wrap some expected values in a list; LiveCodeBench's expected value is exactly its output.
    suite = parse_reference({**LCB_FUNCTIONAL_ROW, "private_test_cases": "[]"})
    assert isinstance(suite, CallSuite) and not suite.unwrap_singleton


def test_livecodebench_stdin_row(live: LiveReward) -> None:
    right, wrong = live.score_all((fenced(ADD), LCB_STDIN_ROW, {}), (fenced(SUB), LCB_STDIN_ROW, {}))
    assert (right.value, wrong.value) == (1.0, 0.0)


def test_mbpp_rows_full_and_sanitized(live: LiveReward) -> None:
    suite = parse_reference(MBPP_ROW)
    assert isinstance(suite, AssertSuite) and suite.entry_point == "larger"
    assert parse_reference(MBPP_SANITIZED_ROW).entry_point == "circle_area"  # type: ignore[union-attr]
    scores = live.score_all(
        (fenced("def larger(a, b):\n    return a if a > b else b"), MBPP_ROW, {}),
        (fenced("def larger(a, b):\n    return a"), MBPP_ROW, {}),
        (fenced("import math\ndef circle_area(r):\n    return math.pi * r * r"), MBPP_SANITIZED_ROW, {}),
        (fenced("def circle_area(r):\n    return 3 * r * r"), MBPP_SANITIZED_ROW, {}),
    )
    assert [s.value for s in scores] == [1.0, 0.0, 1.0, 0.0]


def test_mbpp_results_go_through_the_plain_value_guard(live: LiveReward) -> None:
    cheat = "class Any:\n    def __eq__(self, other): return True\ndef larger(a, b):\n    return Any()"
    assert live.score(fenced(cheat), MBPP_ROW).value == 0.0


def test_mbpp_setup_code_runs_before_the_asserts(live: LiveReward) -> None:
    row = {
        "test_list": ["assert total(DATA) == 6"],
        "test_setup_code": "DATA = [1, 2, 3]",
        "challenge_test_list": [],
    }
    assert parse_reference(row).entry_point == "total"  # type: ignore[union-attr]
    right, wrong = live.score_all(
        (fenced("def total(xs):\n    return sum(xs)"), row, {}), (fenced("def total(xs):\n    return 0"), row, {})
    )
    assert (right.value, wrong.value) == (1.0, 0.0)


def test_apps_and_taco_rows(live: LiveReward) -> None:
    scores = live.score_all(
        (fenced(ADD), APPS_ROW, {}),
        (fenced(SUB), APPS_ROW, {}),
        (fenced("def add(a, b):\n    return a + b"), TACO_CALL_ROW, {}),
        (fenced("def add(a, b):\n    return a * 2"), TACO_CALL_ROW, {}),
    )
    assert [s.value for s in scores] == [1.0, 0.0, 1.0, 0.5]


def test_humaneval_row(live: LiveReward) -> None:
    right, wrong = live.score_all(("    return max(a, b)\n", HUMANEVAL_ROW, {}), ("    return a\n", HUMANEVAL_ROW, {}))
    assert (right.value, wrong.value) == (1.0, 0.0)


def test_reference_as_json_text() -> None:
    assert isinstance(parse_reference(json.dumps(CODECONTESTS_ROW)), StdioSuite)
    # Rows exported with each split as JSON text.
    row = {**CODECONTESTS_ROW, **{k: json.dumps(CODECONTESTS_ROW[k]) for k in ("public_tests", "private_tests")}}
    suite = parse_reference(row)
    assert isinstance(suite, StdioSuite) and len(suite.cases) == 4


BAD_REFERENCES: dict[str, Any] = {
    "fn_name_with_args_expected": {"fn_name": "f", "tests": [{"args": [1], "expected": 2}]},
    "args_expected": {"tests": [{"args": [1], "expected": 2}]},
    "stdin_stdout_keys": {"tests": [{"stdin": "1 2\n", "stdout": "3\n"}]},
    "no_output": {"tests": [{"input": "1 2\n"}]},
    "no_input": {"tests": [{"output": "3\n"}]},
    "no_tests": {"tests": []},
    "number_output": {"tests": [{"input": "1", "output": 2}]},
    "tests_not_a_list": {"tests": {"input": "1", "output": "2"}},
    "unknown_top_level_key": {"tests": [{"input": "1", "output": "1"}], "answers": ["1"]},
    "inputs_only": {"inputs": ["1 2\n"]},
    "input_output_empty": {"input_output": "{}"},
    "input_output_unknown_key": {"input_output": {"inputs": ["1"], "outputs": ["1"], "cases": 3}},
    "inputs_outputs_lengths": {"inputs": ["1", "2"], "outputs": ["1"]},
    "fn_name_not_identifier": {"fn_name": "a b", "inputs": [[1]], "outputs": [1]},
    "test_without_entry_point": {"test": "def check(candidate): pass"},
    "mbpp_empty": {"test_list": []},
    "mbpp_two_functions": {"test_list": ["assert f(1) == g(2)"]},
    "mbpp_not_python": {"test_list": ["assert f(1 =="]},
    "codecontests_lengths": {"public_tests": {"input": ["1"], "output": []}},
    "codecontests_unknown_key": {"public_tests": {"input": ["1"], "output": ["1"], "is_valid": [True]}},
    "codecontests_empty": {"public_tests": {"input": [], "output": []}},
    "lcb_unknown_testtype": {"public_test_cases": [{"input": "1", "output": "1", "testtype": "interactive"}]},
    "lcb_mixed_testtypes": {
        "public_test_cases": [
            {"input": "1", "output": "1", "testtype": "stdin"},
            {"input": "1", "output": "1", "testtype": "functional"},
        ]
    },
    "lcb_functional_without_func_name": {
        "public_test_cases": [{"input": "1", "output": "1", "testtype": "functional"}],
        "metadata": "{}",
    },
    "lcb_functional_bad_json": {
        "public_test_cases": [{"input": "[1,", "output": "1", "testtype": "functional"}],
        "metadata": {"func_name": "f"},
    },
    "lcb_missing_testtype": {"public_test_cases": [{"input": "1", "output": "1"}]},
    "lcb_private_garbage": {"private_test_cases": "not json and not base64 !!"},
    "open_r1_function_call": {
        "verification_info": {
            "language": "python",
            "test_cases": [{"input": "[1]", "output": "2", "type": "function_call", "fn_name": "f"}],
        }
    },
    "open_r1_unknown_key": {
        "verification_info": {"test_cases": [{"input": "1", "output": "1", "type": "stdin_stdout", "x": 1}]}
    },
    "open_r1_no_output": {"verification_info": {"test_cases": [{"input": "1", "type": "stdin_stdout"}]}},
    "two_shapes": {"tests": [{"input": "1", "output": "1"}], "inputs": ["1"], "outputs": ["1"]},
    "nothing": {"nothing": 1},
    "not_an_object": [1, 2],
    "not_json": "tests: 1 2 -> 3",
    "negative_weight": {"tests": [{"input": "1", "output": "1", "weight": -1}]},
    "nan_weight": {"tests": [{"input": "1", "output": "1", "weight": math.nan}]},
    "bool_weight": {"tests": [{"input": "1", "output": "1", "weight": True}]},
    "list_group": {"tests": [{"input": "1", "output": "1", "group": [1]}]},
    "group_weights_disagree": {
        "tests": [
            {"input": "1", "output": "1", "group": "a", "weight": 2},
            {"input": "2", "output": "2", "group": "a", "weight": 3},
        ]
    },
    "checker_bad_language": {
        "tests": [{"input": "1", "output": "1"}],
        "checker": {"language": "java", "source": "x", "convention": "testlib"},
    },
    "checker_bad_convention": {
        "tests": [{"input": "1", "output": "1"}],
        "checker": {"language": "python", "source": "x", "convention": "polygon"},
    },
    "checker_missing_source": {
        "tests": [{"input": "1", "output": "1"}],
        "checker": {"language": "python", "convention": "testlib"},
    },
    "checker_unknown_key": {
        "tests": [{"input": "1", "output": "1"}],
        "checker": {"language": "python", "source": "x", "convention": "cms", "args": []},
    },
    "checker_with_call_tests": {
        "fn_name": "f",
        "inputs": [[1]],
        "outputs": [1],
        "checker": {"language": "python", "source": "x", "convention": "cms"},
    },
}


@pytest.mark.parametrize("reference", BAD_REFERENCES.values(), ids=BAD_REFERENCES.keys())
def test_malformed_reference_is_an_error_naming_the_accepted_shapes(reference: Any) -> None:
    with pytest.raises(UnusableReference, match=r"accepted shapes: tests .*open-r1"):
        parse_reference(reference)


def test_unknown_shapes_are_null_with_error_not_a_pass_for_silent_programs(live: LiveReward) -> None:
    # Read as "empty input, empty output", these used to score 1.0 for a program that prints nothing.
    references = [BAD_REFERENCES["fn_name_with_args_expected"], BAD_REFERENCES["stdin_stdout_keys"]]
    scores = live.score_all(*[(fenced(SILENT), reference, {}) for reference in references])
    for result in scores:
        assert result.value is None
        assert result.error is not None and "accepted shapes" in result.error


def test_livecodebench_pickle_that_names_a_class_is_refused() -> None:
    # A pickle runs code through the classes and functions it names; only a pickled string is read.
    payload = base64.b64encode(zlib.compress(pickle.dumps(collections.OrderedDict(a=1)))).decode()
    with pytest.raises(UnusableReference, match=r"refers to collections\.OrderedDict"):
        parse_reference({"private_test_cases": payload, "metadata": "{}"})


def test_livecodebench_private_tests_cannot_inflate_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shapes, "MAX_DECOMPRESSED", 1000)
    tests = json.dumps([{"input": "x" * 5000, "output": "1", "testtype": "stdin"}])
    payload = base64.b64encode(zlib.compress(pickle.dumps(tests))).decode()
    with pytest.raises(UnusableReference, match="inflates past 1000 bytes"):
        parse_reference({"private_test_cases": payload})


def test_mbpp_program_cannot_shadow_a_builtin_the_asserts_use(live: LiveReward) -> None:
    row = {"test_list": ["assert set(common([1, 2], [2, 3])) == set([2])"], "test_setup_code": ""}
    cheat = (
        "class Same:\n    def __eq__(self, other): return True\n"
        "def set(*args): return Same()\n"
        "def common(a, b):\n    return []\n"
    )
    assert live.score(fenced(cheat), row).value == 0.0


def test_mbpp_program_cannot_hide_the_asserts_behind_its_own_exec_or_globals(live: LiveReward) -> None:
    row = {"test_list": ["assert common([1, 2], [2, 3]) == [2]"], "test_setup_code": ""}
    cheats = [
        "def exec(*args, **kwargs): pass\ndef common(a, b):\n    return []\n",
        "def globals(): return {}\ndef compile(*a, **k): return 'pass'\ndef common(a, b):\n    return []\n",
        "_B = None\n_TESTS = 'pass'\ndef common(a, b):\n    return []\n",
    ]
    assert [s.value for s in live.score_all(*[(fenced(c), row, {}) for c in cheats])] == [0.0, 0.0, 0.0]


def test_tests_that_need_a_class_the_solution_defines_get_no_verdict(live: LiveReward) -> None:
    # MBPP 601-style: the asserts build objects of a class the solution itself defines. The tests run in
    # a judge process apart from the program, so they cannot have the program's class: judging them would
    # mean running the tests beside the program again. Null + an error that says so, never a guess.
    row = {"test_list": ["assert longest([Pair(1, 2), Pair(5, 9)]) == 4"], "test_setup_code": ""}
    solution = (
        "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
        "def longest(pairs):\n    return max(p.b - p.a for p in pairs)\n"
    )
    score = live.score(fenced(solution), row)
    assert score.value is None
    assert score.error is not None and "name 'Pair' is not defined" in score.error
    # With the class in the reference's setup code, the same tests are judged, through plain data only:
    # a Pair crossing to the program is refused as unjudgeable too, so such tests give no verdict either.
    with_setup = {**row, "test_setup_code": solution.split("def longest")[0]}
    score = live.score(fenced(solution), with_setup)
    assert score.value is None and score.error is not None and "not plain data" in score.error


REBOUND_BUILTINS = (
    "import builtins\n"
    "class Same:\n    def __eq__(self, other): return True\n"
    "__builtins__ = dict(vars(builtins), abs=lambda x: 0, set=lambda *a: Same())\n"
)


def test_a_rebound_module_builtins_does_not_reach_the_tests(live: LiveReward) -> None:
    mbpp = {"test_list": ["assert set(common([1, 2], [2, 3])) == set([2])"], "test_setup_code": ""}
    humaneval = {
        "test": "def check(candidate):\n    assert abs(candidate(2) - 4.0) < 1e-9\n",
        "entry_point": "square",
    }
    scores = live.score_all(
        (fenced(REBOUND_BUILTINS + "def common(a, b):\n    return []\n"), mbpp, {}),
        (fenced(REBOUND_BUILTINS + "def square(x):\n    return 0.0\n"), humaneval, {}),
    )
    assert [s.value for s in scores] == [0.0, 0.0]


def test_text_no_file_can_hold_and_nesting_past_the_recursion_limit_fail_closed(live: LiveReward) -> None:
    lone = "\ud800"  # what JSON "\ud800" decodes to
    deep = "[" * 100_000 + "]" * 100_000
    scores = live.score_all(
        (fenced("print(1)"), {"tests": [{"input": lone, "output": "1"}]}, {}),
        (
            fenced("print(1)"),
            {
                "tests": [{"input": "", "output": "1"}],
                "checker": {"language": "python", "source": f"# {lone}", "convention": "testlib"},
            },
            {},
        ),
        (fenced("print(1)"), deep, {}),
        (fenced(f"print(1)  # {lone}"), {"tests": [{"input": "", "output": "1"}]}, {}),
    )
    assert [s.value for s in scores] == [None, None, None, 1.0]
    assert all(s.error is not None and "accepted shapes" in s.error for s in scores[:3])
