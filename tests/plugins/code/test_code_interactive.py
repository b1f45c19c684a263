"""Interactive problems: the program and the reference's interactor, each in its own sandbox, talk through
pipes; testlib's exit codes decide. On the process and the docker backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.plugins.code.live import LiveReward, fenced, live_reward
from tests.system import require_docker

# Guess the hidden number in [1, 1000] with at most 12 queries "? x" (answers <, > or =), then "! x".
PY_INTERACTOR = """
import sys
secret = int(open(sys.argv[1]).read().split()[0])
for _ in range(12):
    line = sys.stdin.readline()
    if not line:
        print("unexpected end of the program's output", file=sys.stderr)
        sys.exit(2)
    parts = line.split()
    if len(parts) != 2 or parts[0] not in ("?", "!") or not parts[1].lstrip("-").isdigit():
        print(f"bad line {line!r}", file=sys.stderr)
        sys.exit(2)
    x = int(parts[1])
    if parts[0] == "!":
        if x == secret:
            sys.exit(0)
        print(f"guessed {x}, the number was {secret}", file=sys.stderr)
        sys.exit(1)
    print("<" if secret < x else ">" if secret > x else "=", flush=True)
print("too many queries", file=sys.stderr)
sys.exit(1)
"""
CPP_INTERACTOR = r"""
#include <cstdio>
#include <cstring>
int main(int argc, char** argv) {
    FILE* in = fopen(argv[1], "r");
    int secret;
    if (!in || fscanf(in, "%d", &secret) != 1) { fprintf(stderr, "no input\n"); return 3; }
    char op[8]; int x;
    for (int q = 0; q < 12; q++) {
        if (scanf("%7s %d", op, &x) != 2) { fprintf(stderr, "unexpected end\n"); return 2; }
        if (strcmp(op, "!") == 0) { if (x == secret) return 0; fprintf(stderr, "wrong guess %d\n", x); return 1; }
        printf("%s\n", secret < x ? "<" : secret > x ? ">" : "=");
        fflush(stdout);
    }
    fprintf(stderr, "too many queries\n");
    return 1;
}
"""
BINARY_SEARCH = """
lo, hi = 1, 1000
while True:
    mid = (lo + hi) // 2
    print("?", mid, flush=True)
    answer = input().strip()
    if answer == "=":
        print("!", mid, flush=True)
        break
    if answer == "<":
        hi = mid - 1
    else:
        lo = mid + 1
"""
BINARY_SEARCH_CPP = r"""
#include <cstdio>
int main() {
    int lo = 1, hi = 1000;
    char answer[4];
    while (true) {
        int mid = (lo + hi) / 2;
        printf("? %d\n", mid); fflush(stdout);
        if (scanf("%3s", answer) != 1) return 0;
        if (answer[0] == '=') { printf("! %d\n", mid); fflush(stdout); return 0; }
        if (answer[0] == '<') hi = mid - 1; else lo = mid + 1;
    }
}
"""
LINEAR = (
    "for x in range(1, 1001):\n    print('?', x, flush=True)\n"
    "    if input().strip() == '=':\n        print('!', x)\n        break\n"
)
READ_THE_SECRET = """
import os
for path in ("input.txt", "/work/input.txt", "answer.txt", "/tmp/interactor-output.txt"):
    try:
        print("!", int(open(path).read().split()[0]), flush=True)
        raise SystemExit
    except (OSError, ValueError, IndexError):
        pass
print("! 2", flush=True)
"""
SILENT = "import time\ntime.sleep(60)\n"
STOPS_READING = "print('? 500', flush=True)\nimport time\ntime.sleep(60)\n"
EXITS_AT_ONCE = "print('? 500', flush=True)\n"
FLOOD = "import sys\nwhile True:\n    sys.stdout.write('? 1\\n' * 4096)\n"
GARBAGE = "print('hello interactor', flush=True)\n"

TESTS = [{"input": "1\n"}, {"input": "777\n"}, {"input": "1000\n"}]
PY_PROBLEM = {"tests": TESTS, "interactor": {"language": "python", "source": PY_INTERACTOR}}
CPP_PROBLEM = {"tests": TESTS[:2], "interactor": {"language": "cpp", "source": CPP_INTERACTOR}}
PARAMS: dict[str, Any] = {"time_limit_s": 2.0}


@pytest.fixture(scope="module", params=["process", pytest.param("docker", marks=pytest.mark.docker)])
def live(request: pytest.FixtureRequest) -> Iterator[LiveReward]:
    options: dict[str, Any] = {"backend": request.param}
    if request.param == "docker":
        require_docker()
        options["docker"] = {"warm_containers": 2, "max_containers": 4}
    with live_reward(options) as reward:
        yield reward


def test_a_right_program_passes_with_python_and_cpp_interactors(live: LiveReward) -> None:
    python, cpp, cpp_program = live.score_all(
        (fenced(BINARY_SEARCH), PY_PROBLEM, PARAMS),
        (fenced(BINARY_SEARCH), CPP_PROBLEM, PARAMS),
        (fenced(BINARY_SEARCH_CPP, "cpp"), PY_PROBLEM, {**PARAMS, "language": "cpp"}),
    )
    assert (python.value, python.error) == (1.0, None), python.details
    assert (cpp.value, cpp.error) == (1.0, None), cpp.details
    assert (cpp_program.value, cpp_program.error) == (1.0, None), cpp_program.details


def test_wrong_and_misbehaving_programs_score_zero_and_never_hang(live: LiveReward) -> None:
    programs = {
        "too_many_queries": LINEAR,  # right for 1, over the query limit for 777 and 1000
        "reads_the_secret": READ_THE_SECRET,
        "never_writes": SILENT,
        "stops_reading": STOPS_READING,
        "exits_at_once": EXITS_AT_ONCE,
        "floods": FLOOD,
        "garbage": GARBAGE,
    }
    scores = live.score_all(*[(fenced(code), PY_PROBLEM, PARAMS) for code in programs.values()])
    got = {name: (s.value, s.error) for name, s in zip(programs, scores, strict=True)}
    assert got == {
        "too_many_queries": (pytest.approx(1 / 3), None),
        **{name: (0.0, None) for name in programs if name != "too_many_queries"},
    }
    statuses = {name: {t["status"] for t in s.details["tests"]} for name, s in zip(programs, scores, strict=True)}
    assert statuses["never_writes"] == {"timeout"}
    assert statuses["garbage"] == {"presentation_error"}
    assert statuses["reads_the_secret"] == {"wrong_answer"}


def test_an_interactor_that_fails_gives_no_verdict(live: LiveReward) -> None:
    failing = {"tests": TESTS[:1], "interactor": {"language": "python", "source": "import sys\nsys.exit(3)\n"}}
    odd_exit = {"tests": TESTS[:1], "interactor": {"language": "python", "source": "import sys\nsys.exit(7)\n"}}
    broken = {"tests": TESTS[:1], "interactor": {"language": "cpp", "source": "int main( {"}}
    scores = live.score_all(*[(fenced(BINARY_SEARCH), ref, PARAMS) for ref in (failing, odd_exit, broken)])
    assert [s.value for s in scores] == [None, None, None]
    assert "interactor failed" in (scores[0].error or "")
    assert "without a verdict" in (scores[1].error or "")
    assert "does not compile" in (scores[2].error or "")


def test_interactive_references_are_read_strictly() -> None:
    from verifier_code.shapes import parse_reference
    from verifier_code.suite import UnusableReference

    suite = parse_reference(PY_PROBLEM)
    assert suite.interactor is not None and suite.cases[0].output is None  # type: ignore[union-attr]
    bad = [
        {"tests": TESTS, "interactor": {"language": "rust", "source": "x"}},
        {"tests": TESTS, "interactor": {"language": "python"}},
        {"tests": TESTS, "interactor": {"language": "python", "source": "x", "extra": 1}},
        {"tests": TESTS, "interactor": {"language": "python", "source": " "}},
        {"inputs": ["1"], "outputs": ["1"], "interactor": {"language": "python", "source": "x"}},
        {**PY_PROBLEM, "checker": {"language": "python", "source": "x", "convention": "testlib"}},
        {"tests": [], "interactor": {"language": "python", "source": "x"}},
    ]
    for reference in bad:
        with pytest.raises(UnusableReference):
            parse_reference(reference)
