"""Programs that try to win against a checker without being right, on real bubblewrap; each keeps its right
score. The checker only ever sees the program's stdout as a file in its own job, written after the program
has finished, so the answer file does not exist anywhere while the program runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.plugins.code.live import LiveReward, fenced, live_reward
from tests.plugins.code.test_code_checkers import CMS_PY, TESTLIB_PY, reference
from tests.system import needs_bwrap
from verifier import RewardItem, Score

pytestmark = needs_bwrap

# Answers that are right: a program that could read them would pass.
TESTS = [{"input": "5\n", "output": "1 4\n"}, {"input": "9\n", "output": "4 5\n"}]


@pytest.fixture(scope="module")
def live() -> Iterator[LiveReward]:
    with live_reward({"backend": "process", "isolation": "bwrap"}) as reward:
        yield reward


VERDICT_TEXT = {
    "ok": "print('ok')",
    "testlib_ok_message": "print('ok 2 numbers')",
    "accepted_on_stderr": "import sys\nsys.stderr.write('ok\\n')\nprint('1 1')",
    "points_line": "print('points 1.0')",
    "cms_score_line": "print('1.0')",
    "cms_translate_success": "print('translate:success')",
    "exit_code_zero_after_wrong": "import os\nprint('1 1', flush=True)\nos._exit(0)",
}


@pytest.mark.parametrize("program", VERDICT_TEXT.values(), ids=VERDICT_TEXT.keys())
def test_printing_verdict_text_is_a_wrong_answer(live: LiveReward, program: str) -> None:
    testlib, cms = live.score_all(
        (fenced(program), reference(TESTLIB_PY, tests=TESTS), {}),
        (fenced(program), reference(CMS_PY, "cms", tests=TESTS), {}),
    )
    assert (testlib.value, cms.value) == (0.0, 0.0)
    assert testlib.error is None and cms.error is None


ECHOING_TESTLIB = """\
import sys
inp, out, ans = sys.argv[1:4]
got = open(out).read()
print(got)  # a naive checker echoes the contestant's output on its stdout
sys.stderr.write("read: " + got[:100])
sys.exit(0 if got.split() == open(ans).read().split() else 1)
"""
ECHOING_CMS = """\
import sys
inp, ans, out = sys.argv[1:4]
got = open(out).read()
sys.stderr.write(got)  # and on its stderr
print(1.0 if got.split() == open(ans).read().split() else 0.0)
"""


def test_checker_output_cannot_be_forged_through_an_echoing_checker(live: LiveReward) -> None:
    # testlib's verdict is the exit code (the echoed "ok" on stdout is not read); CMS's score is the
    # checker's stdout (the echoed "1.0" on stderr is not read).
    forged = [
        (fenced("print('ok')"), reference(ECHOING_TESTLIB, tests=TESTS), {}),
        (fenced("print('1.0')"), reference(ECHOING_CMS, "cms", tests=TESTS), {}),
        (fenced("print(1.0)\nprint(1.0)"), reference(ECHOING_CMS, "cms", tests=TESTS), {}),
    ]
    assert [s.value for s in live.score_all(*forged)] == [0.0, 0.0, 0.0]
    right = "n = int(input())\nprint({5: '1 4', 9: '4 5'}[n])"
    assert live.score(fenced(right), reference(ECHOING_TESTLIB, tests=TESTS)).value == 1.0


PLANT_FILES = """\
import os
names = ["answer.txt", "output.txt", "input.txt", "ans/answer", "out/output", "in/input", "checker.py",
         "../answer.txt", "/tmp/answer.txt", "/tmp/ans/answer"]
for name in names:
    try:
        os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
        with open(name, "w") as f:
            f.write("1 1\\n")
    except OSError:
        pass
print("1 1")
"""

STEAL_ANSWER = """\
import glob, os, sys
n = int(input())
found = None
for pattern in ["ans/*", "../*/ans/*", "../../*/*/ans/*", "/tmp/**/ans/*", "/*/ans/*", "/*/*/ans/*",
                "/*/*/*/ans/*"]:
    for path in glob.glob(pattern, recursive=True):
        try:
            text = open(path).read()
        except OSError:
            continue
        if text.strip():
            found = text
            break
    if found:
        break
print(found.strip() if found else "1 1")
"""


def test_a_program_cannot_plant_or_read_the_checkers_files(live: LiveReward) -> None:
    planted, stolen = live.score_all(
        (fenced(PLANT_FILES), reference(TESTLIB_PY, tests=TESTS), {}),
        (fenced(STEAL_ANSWER), reference(TESTLIB_PY, tests=TESTS), {}),
    )
    assert planted.value == 0.0 and planted.error is None
    assert stolen.value == 0.0 and stolen.error is None
    assert stolen.details["first_failure"]["got"].strip() == "1 1"


def test_a_checker_given_a_huge_output_judges_it(live: LiveReward) -> None:
    # Just under the 1 MiB output limit: the checker reads it all and says presentation error.
    huge = "print('7 ' * 400_000)"
    result = live.score(fenced(huge), reference(TESTLIB_PY, tests=TESTS))
    assert result.value == 0.0 and result.error is None
    assert result.details["first_failure"]["status"] == "presentation_error"
    # Over the limit: the program's run is cut (output_limit) and its output never reaches the checker.
    over = live.score(fenced("print('7 ' * 2_000_000)"), reference(TESTLIB_PY, tests=TESTS))
    assert over.value == 0.0 and over.details["tests"][0]["status"] == "output_limit"
    assert "checker" not in over.details


def test_a_huge_output_echoed_by_a_checker_is_null_never_a_pass(live: LiveReward) -> None:
    # A checker that copies all of a huge output to its stderr is cut at its own output limit: that is a
    # checker failure (null), not a verdict.
    echo_all = "import sys\nsys.stderr.write(open(sys.argv[2]).read() * 2)\nsys.exit(0)"
    result = live.score(fenced("print('7 ' * 400_000)"), reference(echo_all, tests=TESTS))
    assert result.value is None and result.error is not None and "checker" in result.error


def test_cpp_program_compile_error_with_a_checker_scores_compile_error_score(live: LiveReward) -> None:
    result = live.score(
        fenced("int main( {", "cpp"), reference(TESTLIB_PY, tests=TESTS), language="cpp", compile_error_score=-0.5
    )
    assert result.value == -0.5 and result.details["reason"] == "compile_error"


LOOK_WHILE_A_CHECKER_RUNS = """\
import glob, time
input()
deadline = time.monotonic() + 4
while time.monotonic() < deadline:
    for pattern in ["../*/ans/*", "../../*/*/ans/*", "/tmp/**/ans/*", "/*/*/ans/*", "/*/*/*/ans/*",
                    "/*/*/*/*/ans/*"]:
        for path in glob.glob(pattern, recursive=True):
            try:
                print("FOUND", path, open(path).read())
                raise SystemExit(0)
            except OSError:
                pass
    time.sleep(0.05)
print("1 1")
"""


def test_another_batchs_checker_files_are_out_of_reach(live: LiveReward) -> None:
    # While one batch's (slow) checker has its files on disk, a program of a concurrent batch looks for them.
    slow_checker = "import time\ntime.sleep(2)\n" + TESTLIB_PY
    victim = [(fenced("n = int(input())\nprint(1, n - 1)"), reference(slow_checker, tests=TESTS), {})]
    thief = [(fenced(LOOK_WHILE_A_CHECKER_RUNS), reference(TESTLIB_PY, tests=TESTS[:1]), {"time_limit_s": 10})]

    async def both() -> list[list[Score]]:
        batches = [[item(i, case) for i, case in enumerate(batch)] for batch in (victim, thief)]
        results = await asyncio.gather(*(live.reward.score(b) for b in batches))  # type: ignore[arg-type]
        return [list(r) for r in results]  # type: ignore[arg-type]

    def item(index: int, case: tuple[str, Any, dict[str, Any]]) -> RewardItem:
        completion, ref, params = case
        return RewardItem(index=index, completion=completion, reference=ref, params=live.reward.params(**params))

    [[victim_score], [thief_score]] = live.runner.run(both())
    assert victim_score.value == 1.0
    assert thief_score.value == 0.0
    assert thief_score.details["first_failure"]["got"].strip() == "1 1"
