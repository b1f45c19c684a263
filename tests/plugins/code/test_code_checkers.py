"""Special judges on real bubblewrap: testlib and CMS conventions, Python and C++ checkers, one compile per
distinct checker per batch, cached verdicts, checker time reported apart, and every checker failure null +
error. The problem: print two positive integers that sum to n (many right answers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from verifier_code.checker import CheckerJudge
from verifier_code.suite import Checker

from tests.plugins.code.live import LiveReward, fenced, live_reward
from tests.system import needs_bwrap

pytestmark = needs_bwrap

TESTLIB_PY = """\
import sys
inp, out, ans = sys.argv[1:4]
n = int(open(inp).read())
tokens = open(out).read().split()
if len(tokens) != 2:
    sys.stderr.write(f"expected 2 numbers, found {len(tokens)}")
    sys.exit(2)
try:
    a, b = map(int, tokens)
except ValueError:
    sys.stderr.write("not integers")
    sys.exit(2)
if a > 0 and b > 0 and a + b == n:
    sys.stderr.write("ok")
    sys.exit(0)
sys.stderr.write(f"wrong answer {a} + {b} is not {n}")
sys.exit(1)
"""

# Self-contained (testlib.h is not shipped by Debian, and the checker gets no include path of ours).
TESTLIB_CPP = """\
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>
int main(int argc, char** argv) {
    if (argc < 4) return 3;
    std::ifstream inp(argv[1]), out(argv[2]);
    long n; inp >> n;
    std::vector<std::string> tokens; std::string t;
    while (out >> t) tokens.push_back(t);
    if (tokens.size() != 2) { std::fprintf(stderr, "expected 2 numbers"); return 2; }
    long a, b;
    try { a = std::stol(tokens[0]); b = std::stol(tokens[1]); } catch (...) { return 2; }
    if (a > 0 && b > 0 && a + b == n) { std::fprintf(stderr, "ok"); return 0; }
    std::fprintf(stderr, "wrong answer %ld + %ld", a, b);
    return 1;
}
"""

# CMS: checker input answer output; 1 for a right pair, 0.5 for a pair with the right sum that is not
# positive, 0 otherwise.
CMS_PY = """\
import sys
inp, ans, out = sys.argv[1:4]
n = int(open(inp).read())
try:
    a, b = map(int, open(out).read().split())
except ValueError:
    a, b = 0, 0
score = 1.0 if a > 0 and b > 0 and a + b == n else 0.5 if a + b == n else 0.0
print(score)
sys.stderr.write("translate:success" if score == 1.0 else "partial or wrong")
"""

CMS_CPP = """\
#include <cstdio>
#include <fstream>
int main(int argc, char** argv) {
    std::ifstream inp(argv[1]), out(argv[3]);
    long n, a = 0, b = 0; inp >> n;
    if (!(out >> a >> b)) { a = 0; b = 0; }
    double score = (a > 0 && b > 0 && a + b == n) ? 1.0 : (a + b == n ? 0.5 : 0.0);
    std::printf("%g\\n", score);
    std::fprintf(stderr, "checked");
    return 0;
}
"""

# Two tests; the second omits the answer (allowed with a checker: the answer file is then empty).
TESTS = [{"input": "5\n", "output": "1 4\n"}, {"input": "10\n"}]

ONE_AND_REST = "n = int(input())\nprint(1, n - 1)"
TWO_AND_REST = "n = int(input())\nprint(2, n - 2)"
NEGATIVE = "n = int(input())\nprint(-1, n + 1)"
ONES = "input()\nprint(1, 1)"
GARBAGE = "print('x')"


def reference(source: str, convention: str = "testlib", language: str = "python", tests: Any = None) -> Any:
    return {
        "tests": TESTS if tests is None else tests,
        "checker": {"language": language, "source": source, "convention": convention},
    }


@pytest.fixture(scope="module")
def live() -> Iterator[LiveReward]:
    with live_reward({"backend": "process", "isolation": "bwrap"}) as reward:
        yield reward


def judge(live: LiveReward) -> CheckerJudge:
    checkers = live.scorer.checkers
    assert isinstance(checkers, CheckerJudge)
    return checkers


def test_testlib_python_checker_accepts_any_right_answer(live: LiveReward) -> None:
    ref = reference(TESTLIB_PY)
    one, two, wrong, garbage = live.score_all(
        (fenced(ONE_AND_REST), ref, {}),
        (fenced(TWO_AND_REST), ref, {}),
        (fenced(ONES), ref, {}),
        (fenced(GARBAGE), ref, {}),
    )
    assert (one.value, two.value, wrong.value, garbage.value) == (1.0, 1.0, 0.0, 0.0)
    assert wrong.details["first_failure"]["status"] == "wrong_answer"
    assert "wrong answer 1 + 1 is not 5" in wrong.details["first_failure"]["checker_message"]
    assert garbage.details["first_failure"]["status"] == "presentation_error"
    assert one.details["checker"]["convention"] == "testlib"
    assert all("checker_time_s" in t for t in one.details["tests"])


def test_testlib_cpp_checker_compiles_once_per_batch(live: LiveReward) -> None:
    ref = reference(TESTLIB_CPP, language="cpp")
    before = judge(live).compiles
    scores = live.score_all(
        (fenced(ONE_AND_REST), ref, {}),
        (fenced(TWO_AND_REST), ref, {}),
        (fenced(ONES), ref, {}),
        (fenced(GARBAGE), ref, {}),
        (fenced(NEGATIVE), ref, {}),
    )
    assert [s.value for s in scores] == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert judge(live).compiles - before == 1  # five items, ten tests: one compile of the checker
    assert scores[0].details["checker"]["time_s"] > 0
    assert scores[0].details["checker"]["language"] == "cpp"


def test_cms_checkers_give_partial_scores(live: LiveReward) -> None:
    for source, language in ((CMS_PY, "python"), (CMS_CPP, "cpp")):
        ref = reference(source, "cms", language)
        right, partial, wrong = live.score_all(
            (fenced(ONE_AND_REST), ref, {}), (fenced(NEGATIVE), ref, {}), (fenced(ONES), ref, {})
        )
        assert (right.value, partial.value, wrong.value) == (1.0, 0.5, 0.0), language
        assert partial.details["tests"][0]["score"] == 0.5
        assert partial.details["first_failure"]["status"] == "partial"


def test_cms_argument_order_is_input_answer_output(live: LiveReward) -> None:
    # Scores 1 only when argv[2] holds the answer and argv[3] the program's output.
    order = (
        "import sys\n"
        "inp, ans, out = (open(p).read() for p in sys.argv[1:4])\n"
        "print(1.0 if ans == 'ANSWER' and out.strip() == 'OUTPUT' else 0.0)\n"
    )
    tests = [{"input": "", "output": "ANSWER"}]
    assert live.score(fenced("print('OUTPUT')"), reference(order, "cms", tests=tests)).value == 1.0
    testlib_order = (
        "import sys\n"
        "inp, out, ans = (open(p).read() for p in sys.argv[1:4])\n"
        "sys.exit(0 if ans == 'ANSWER' and out.strip() == 'OUTPUT' else 1)\n"
    )
    assert live.score(fenced("print('OUTPUT')"), reference(testlib_order, tests=tests)).value == 1.0


def test_identical_outputs_reuse_the_cached_verdict(live: LiveReward) -> None:
    ref = reference(TESTLIB_PY + "# a variant of its own, so that nothing is cached yet\n")
    first = live.score(fenced(ONE_AND_REST), ref)
    again = live.score(fenced("import sys\nn = int(sys.stdin.read())\nprint(1, n - 1)"), ref)
    assert first.value == again.value == 1.0
    assert first.details["checker"]["cached"] == 0
    assert again.details["checker"]["cached"] == 2


FAILING_CHECKERS = {
    "testlib_exit_3": ("import sys\nsys.stderr.write('bad test data')\nsys.exit(3)", "testlib", "python", "exit 3"),
    "testlib_unknown_exit_code": ("import sys\nsys.exit(7)", "testlib", "python", "exit code 7"),
    "python_raises": ("raise RuntimeError('checker bug')", "testlib", "python", "exit 3"),
    "python_memory_error": ("x = 'a' * (1 << 40)", "testlib", "python", "exit 3"),
    "checker_loops": ("while True:\n    pass", "testlib", "python", "timeout"),
    "cms_score_out_of_range": ("print(1.5)", "cms", "python", "not a score"),
    "cms_prints_text": ("print('ok')", "cms", "python", "not a score"),
    "cms_prints_nan": ("print('nan')", "cms", "python", "not a score"),
    "cms_nonzero_exit": ("import sys\nprint(1.0)\nsys.exit(1)", "cms", "python", "exit code 1"),
    "cpp_segfault": ("int main(){ volatile int* p = nullptr; return *p; }", "testlib", "cpp", "runtime_error"),
    "cpp_compile_error": ("int main( {", "testlib", "cpp", "does not compile"),
    # Debian ships no testlib.h and none is vendored: a checker must be self-contained.
    "cpp_includes_testlib_h": (
        '#include "testlib.h"\nint main(int argc, char* argv[]) { registerTestlibCmd(argc, argv); quitf(_ok, "ok"); }',
        "testlib",
        "cpp",
        "does not compile",
    ),
}


@pytest.mark.parametrize(
    ("source", "convention", "language", "why"), FAILING_CHECKERS.values(), ids=FAILING_CHECKERS.keys()
)
def test_checker_failure_is_null_with_error(
    live: LiveReward, source: str, convention: str, language: str, why: str
) -> None:
    result = live.score(fenced(ONE_AND_REST), reference(source, convention, language), checker_time_limit_s=1)
    assert result.value is None
    assert result.error is not None and "checker" in result.error and why in result.error


def test_a_checker_that_does_not_compile_is_not_compiled_again(live: LiveReward) -> None:
    ref = reference("int main( { /* remembered */", language="cpp")
    assert live.score(fenced(ONE_AND_REST), ref).value is None
    before = judge(live).compiles
    again = live.score(fenced(TWO_AND_REST), ref)
    assert again.value is None and again.error is not None and "does not compile" in again.error
    assert judge(live).compiles == before


def test_program_failures_are_not_sent_to_the_checker(live: LiveReward) -> None:
    ref = reference(TESTLIB_PY + "# unsent\n")
    crash, slow = live.score_all(
        (fenced("raise SystemExit(1)"), ref, {}),
        (fenced("while True: pass"), ref, {"time_limit_s": 0.5}),
    )
    assert crash.value == 0.0 and crash.details["tests"][0]["status"] == "runtime_error"
    assert slow.value == 0.0 and slow.details["tests"][0]["status"] == "timeout"
    assert "checker" not in crash.details and "checker" not in slow.details


def test_checker_with_groups(live: LiveReward) -> None:
    tests = [
        {"input": "5\n", "group": "a", "weight": 40},
        {"input": "3\n", "group": "a", "weight": 40},
        {"input": "2\n", "group": "b", "weight": 60},
    ]
    # (1, n-1) is right everywhere; (2, n-2) fails n=2, so group b.
    right, partial = live.score_all(
        (fenced(ONE_AND_REST), reference(TESTLIB_PY, tests=tests), {"scoring": "groups"}),
        (fenced(TWO_AND_REST), reference(TESTLIB_PY, tests=tests), {"scoring": "groups"}),
    )
    assert right.value == 1.0
    assert partial.value == pytest.approx(0.4)


def test_checker_requests_hold_each_input_and_answer_once_and_stay_within_the_file_limit() -> None:
    from verifier_code.checker import REQUEST_FILES, CheckTask, _chunks, _files

    checker = Checker("cpp", TESTLIB_CPP, "testlib")
    tests = [(f"{n}\n", f"1 {n - 1}\n") for n in range(2, 12)]

    def batch(items: int) -> list[list[CheckTask]]:
        return [[CheckTask(checker, i, f"{k} {i}", a)] for k in range(items) for i, a in tests]

    # A GRPO group of 16 programs, 10 tests: 10 inputs + 10 answers + 160 outputs fit one request.
    [one] = _chunks(batch(16))
    assert len(one) == 160
    assert len({path for same in one for path in _files(same[0])}) == 180
    chunks = _chunks(batch(40))
    assert len(chunks) > 1 and sum(len(c) for c in chunks) == 400
    assert all(len({p for same in c for p in _files(same[0])}) <= REQUEST_FILES for c in chunks)
