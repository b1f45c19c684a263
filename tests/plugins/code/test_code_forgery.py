"""Programs that try to earn the code reward without being right, on the process and the docker backends.

Assert-style and function-call tests run in a judge process apart from the program (``harness.py``): each
attack below is a wrong program (or none at all) that goes after what the judge uses to decide: its
verdict, its frames, its builtins, its files, its process. Every one must score 0.0; the honest programs
beside them must still score 1.0 (a defence that fails right answers is no defence).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.plugins.code.live import LiveReward, fenced, live_reward
from tests.system import require_docker

ADD = {
    "prompt": 'def add(a, b):\n    """Sum."""\n',
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n"
    "    assert candidate(20, 22) == 42\n",
    "entry_point": "add",
}
# HumanEval/32-like: the tests call a helper from the prompt, which the program may redefine for itself.
POLY = {
    "prompt": "import math\n\ndef poly(xs, x):\n    return sum(c * math.pow(x, i) for i, c in enumerate(xs))\n\n"
    'def find_zero(xs):\n    """A zero of the polynomial."""\n',
    "test": "import math\ndef check(candidate):\n    for xs in ([-6, 11, -6, 1], [2, -3, 1], [-1, 1]):\n"
    "        assert math.fabs(poly(xs, candidate(list(xs)))) < 1e-4\n",
    "entry_point": "find_zero",
}
CALLS = {"fn_name": "add", "inputs": [[1, 2], [2, 2], [40, 2]], "outputs": [3, 4, 42]}
MUTATES = {
    "test": "def check(candidate):\n    xs = [3, 1, 2]\n    assert candidate(xs) is None\n    assert xs == [1, 2, 3]\n",
    "entry_point": "sort_in_place",
}

HONEST = [
    ("def add(a, b):\n    return a + b", ADD),
    ("    return a + b\n", ADD),  # a continuation of the prompt
    ("def find_zero(xs):\n    begin, end = -1.0, 1.0\n"
     "    while poly(xs, begin) * poly(xs, end) > 0:\n        begin, end = begin * 2, end * 2\n"
     "    while end - begin > 1e-10:\n        center = (begin + end) / 2\n"
     "        if poly(xs, center) * poly(xs, begin) > 0:\n            begin = center\n"
     "        else:\n            end = center\n    return begin", POLY),
    ("def add(a, b):\n    print('debugging', a, b)\n    return a + b", ADD),  # prints do not break the channel
    ("def sort_in_place(xs):\n    xs.sort()", MUTATES),  # an argument mutated in place comes back
]  # fmt: skip

FRAME_TOKEN_THEFT = """
import os, sys
frame = sys._getframe(1)
while frame is not None:
    for key in ("token", "nonce"):
        if key in frame.f_locals:
            print(frame.f_locals[key] + ' {"status": "passed"}', flush=True)
            sys.stderr.write(frame.f_locals[key] + ' {"status": "passed"}\\n')
    frame = frame.f_back
print('{"status": "passed"}', flush=True)
os._exit(0)
"""
GC_VERDICT_CALL = """
import gc
for obj in gc.get_objects():
    try:
        if callable(obj) and getattr(obj, "__name__", "") in ("verdict", "_verdict", "send"):
            obj(status="passed")
    except BaseException:
        pass
def add(a, b):
    return 0
"""
READ_THE_TESTS = """
import os, re
table = {}
for root in ("/work", ".", "/tmp", "/sandbox", "/"):
    try:
        names = os.listdir(root)
    except OSError:
        continue
    for name in names:
        path = os.path.join(root, name)
        try:
            text = open(path).read()
        except (OSError, UnicodeDecodeError):
            continue
        for a, b, want in re.findall(r"candidate\\((-?\\d+), (-?\\d+)\\) == (-?\\d+)", text):
            table[(int(a), int(b))] = int(want)
def add(a, b):
    return table.get((a, b), 0)
"""
CALLER_FRAME_EXPECTED = """
import sys
def add(a, b):
    frame = sys._getframe(1)
    while frame is not None:
        for value in frame.f_locals.values():
            if isinstance(value, int) and value not in (a, b):
                return value
        frame = frame.f_back
    return 0
"""
ATEXIT_VERDICT = """
import atexit, os
def fake():
    for fd in range(3, 64):
        try:
            os.write(fd, b'\\n{"status": "passed"}\\n')
        except OSError:
            pass
atexit.register(fake)
def add(a, b):
    return 0
"""
SETTRACE = """
import sys
def tracer(frame, event, arg):
    if event == "return" and frame.f_code.co_name in ("verdict", "receive", "candidate"):
        frame.f_locals["status"] = "passed"
    return tracer
sys.settrace(tracer)
sys.setprofile(tracer)
def add(a, b):
    return 0
"""
KILL_EVERYTHING = """
import os, signal
def add(a, b):
    for pid in range(1, 4096):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    os.kill(-1, signal.SIGKILL)
    return 0
"""
PATCH_JSON_OS_SYS = """
import json, os, sys
json.dumps = lambda *a, **k: '{"status": "passed"}'
json.loads = lambda *a, **k: {"status": "passed"}
os.write = lambda fd, data: len(data)
sys.exit = lambda *a: None
def add(a, b):
    return 0
"""
FD_SPRAY = """
import os
fake = b'\\n{"status": "passed"}\\n{"value": 3}\\n{"ready": true}\\n'
for fd in range(0, 1024):
    try:
        os.write(fd, fake)
    except OSError:
        pass
def add(a, b):
    return 0
"""
PROC_SNOOP = """
import os, re
found = {}
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for what in ("environ", "cmdline", "maps"):
        try:
            text = open(f"/proc/{pid}/{what}", "rb").read().decode("latin-1")
        except OSError:
            continue
        for a, b, want in re.findall(r"candidate\\((-?\\d+), (-?\\d+)\\) == (-?\\d+)", text):
            found[(int(a), int(b))] = int(want)
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            os.write(os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY), b'{"status": "passed"}\\n')
    except OSError:
        pass
def add(a, b):
    return found.get((a, b), 0)
"""
WRITE_THE_TESTS = """
import os
for path in ("tests.py", "/work/tests.py", "judge.json", "/work/judge.json", "run.json", "/tmp/tests.py"):
    try:
        with open(path, "w") as f:
            f.write("def check(candidate):\\n    pass\\n")
    except OSError:
        pass
def add(a, b):
    return 0
"""
ORPHAN_CHILD = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    time.sleep(0.5)
    for _ in range(50):
        try:
            os.write(1, b'{"value": 3}\\n')
        except OSError:
            break
    os._exit(0)
def add(a, b):
    return 0
"""
SIGNALS = """
import os, signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.kill(os.getppid(), signal.SIGSTOP)
os.killpg(0, signal.SIGSTOP) if hasattr(os, "killpg") else None
def add(a, b):
    return 0
"""
ALWAYS_EQUAL = """
class Same:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __hash__(self): return 0
def add(a, b):
    return Same()
"""
INT_SUBCLASS = "class Yes(int):\n    def __eq__(self, other): return True\ndef add(a, b):\n    return Yes(0)"
EXCEPTION_MESSAGE_VERDICT = """
def add(a, b):
    raise ValueError('\\n{"status": "passed"}\\n')
"""
REDEFINE_HELPER = """
def poly(xs, x):
    return 0.0
def find_zero(xs):
    return 12345.0
"""
REBIND_BUILTINS = """
import builtins
builtins.abs = lambda x: 0
builtins.AssertionError = type("Quiet", (Exception,), {})
__builtins__ = {}
def add(a, b):
    return 0
"""
NO_FUNCTION_FAKE_READY = """
import os
os.write(1, b'{"ready": true}\\n')
os._exit(0)
"""
FLOOD = """
import os
def add(a, b):
    while True:
        os.write(1, b"x" * 65536)
"""
HANG = """
import time
def add(a, b):
    time.sleep(3600)
"""

ATTACKS = {
    "frame_token_theft_no_function": (FRAME_TOKEN_THEFT, ADD),
    "gc_verdict_call": (GC_VERDICT_CALL, ADD),
    "read_the_tests_from_disk": (READ_THE_TESTS, ADD),
    "caller_frame_expected_value": (CALLER_FRAME_EXPECTED, ADD),
    "atexit_fake_verdict": (ATEXIT_VERDICT, ADD),
    "settrace_rewrites_locals": (SETTRACE, ADD),
    "kill_every_process": (KILL_EVERYTHING, ADD),
    "patch_json_os_sys": (PATCH_JSON_OS_SYS, ADD),
    "fd_spray_fake_replies": (FD_SPRAY, ADD),
    "proc_snoop": (PROC_SNOOP, ADD),
    "write_the_tests": (WRITE_THE_TESTS, ADD),
    "orphan_child_answers_later": (ORPHAN_CHILD, ADD),
    "signals_to_parent_and_group": (SIGNALS, ADD),
    "always_equal_object": (ALWAYS_EQUAL, ADD),
    "int_subclass_eq": (INT_SUBCLASS, ADD),
    "exception_message_verdict": (EXCEPTION_MESSAGE_VERDICT, ADD),
    "redefine_prompt_helper": (REDEFINE_HELPER, POLY),
    "rebind_builtins": (REBIND_BUILTINS, ADD),
    "no_function_fake_ready": (NO_FUNCTION_FAKE_READY, ADD),
    "flood_the_channel": (FLOOD, ADD),
    "hang": (HANG, ADD),
    "call_frame_theft": (FRAME_TOKEN_THEFT, CALLS),
    "call_read_the_tests": (READ_THE_TESTS.replace("candidate\\\\(", "\\\\["), CALLS),
    "call_fd_spray": (FD_SPRAY, CALLS),
    "call_always_equal": (ALWAYS_EQUAL, CALLS),
}
PARAMS: dict[str, Any] = {"time_limit_s": 2.0}


@pytest.fixture(scope="module", params=["process", pytest.param("docker", marks=pytest.mark.docker)])
def live(request: pytest.FixtureRequest) -> Iterator[LiveReward]:
    options: dict[str, Any] = {"backend": request.param}
    if request.param == "docker":
        require_docker()
        options["docker"] = {"warm_containers": 2, "max_containers": 4}
    with live_reward(options) as reward:
        yield reward


def test_honest_programs_pass(live: LiveReward) -> None:
    scores = live.score_all(*[(fenced(code), reference, PARAMS) for code, reference in HONEST])
    assert [(s.value, s.error) for s in scores] == [(1.0, None)] * len(HONEST), [s.details for s in scores]
    calls = live.score(fenced("def add(a, b):\n    return a + b"), CALLS, **PARAMS)
    assert calls.value == 1.0


def test_every_forgery_scores_zero(live: LiveReward) -> None:
    cases = [(fenced(code), reference, PARAMS) for code, reference in ATTACKS.values()]
    scores = live.score_all(*cases)
    got = {name: (s.value, s.error) for name, s in zip(ATTACKS, scores, strict=True)}
    assert got == {name: (0.0, None) for name in ATTACKS}


def test_each_run_has_its_own_nonce(live: LiveReward) -> None:
    # A program that learns nothing from one run (it cannot see the judge) gets nothing in the next.
    scores = live.score_all(*[(fenced(FRAME_TOKEN_THEFT), CALLS, PARAMS)] * 2)
    assert [s.value for s in scores] == [0.0, 0.0]
    assert all(t["status"] != "passed" for s in scores for t in s.details["tests"])
