"""Runs that cannot touch each other, on the docker backend: an attacker run, then (and, where it applies,
concurrently) a victim run that must see nothing of it and get its right result.

The pool here has one container (``max_containers=1``), so sequential victims land in the container the
attacker used, unless it was recycled; each test checks which container every run got, so that a victim
in a fresh container cannot pass for one that was tested against the attacker's leftovers.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.docker_backend import DockerPrepared
from sandbox.docker_pool import DockerOptions
from sandbox.types import ExecResult, ExecStatus, Limits, Program, RunSpec
from tests.sandbox.docker_support import LoopBackend, started_backend

pytestmark = pytest.mark.docker

QUICK = Limits(wall_time_s=10.0, memory_mb=256, max_processes=16)

# SysV and POSIX IPC from Python through libc: shmget/shmat, msgget/msgsnd, semget, mq_open/mq_send.
IPC_ATTACKER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
IPC_CREAT = 0o1000
size = int(sys.argv[1]) << 20
shm = libc.shmget(0x5EC1, size, IPC_CREAT | 0o666)
addr = libc.shmat(shm, None, 0)
ctypes.memset(addr, 0x41, size)                      # touch every page: memory of the container
ctypes.memmove(addr, b"SHM-LEFTOVER", 12)
libc.shmdt(ctypes.c_void_p(addr))
msq = libc.msgget(0x5EC2, IPC_CREAT | 0o666)
message = ctypes.create_string_buffer(ctypes.sizeof(ctypes.c_long) + 16)
ctypes.c_long.from_buffer(message).value = 1
message[ctypes.sizeof(ctypes.c_long):ctypes.sizeof(ctypes.c_long) + 12] = b"MSG-LEFTOVER"
libc.msgsnd(msq, message, 16, 0)
sem = libc.semget(0x5EC3, 1, IPC_CREAT | 0o666)
libc.mq_open.restype = ctypes.c_int
mq = libc.mq_open(b"/leftover", os.O_CREAT | os.O_RDWR, 0o666, None)
libc.mq_send(mq, b"MQ-LEFTOVER", 11, 0)
print(shm >= 0, msq >= 0, sem >= 0, mq >= 0)
"""

IPC_VICTIM = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
found = []
for path in ("/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem"):
    found += open(path).read().splitlines()[1:]
for key in (0x5EC1, 0x5EC2, 0x5EC3):
    for get in (lambda k: libc.shmget(k, 0, 0), lambda k: libc.msgget(k, 0), lambda k: libc.semget(k, 0, 0)):
        if get(key) >= 0:
            found.append(hex(key))
found += os.listdir("/dev/mqueue") + os.listdir("/dev/shm") + os.listdir("/tmp")
big = bytearray(int(sys.argv[1]) << 20)              # must fit: nothing of the attacker's is charged here
print(found, len(big) >> 20, sum(map(int, sys.stdin.read().split())))
"""


@pytest.fixture(scope="module")
def box() -> Iterator[LoopBackend]:
    options = DockerOptions(warm_containers=1, max_containers=1, max_runs_per_container=1000)
    with started_backend(options) as box:
        yield box


async def _lease(box: LoopBackend, program: Program, *runs: RunSpec) -> tuple[list[ExecResult], str]:
    async with box.backend.prepare(program) as prepared:
        assert isinstance(prepared, DockerPrepared)
        if prepared.compile_result is not None:
            assert prepared.compile_result.ok, prepared.compile_result.stderr[-500:]
        results = [await prepared.run(spec) for spec in runs or (RunSpec(limits=QUICK),)]
    return results, prepared.container_id


def lease(box: LoopBackend, program: Program, *runs: RunSpec) -> tuple[list[ExecResult], str]:
    """The results of ``runs`` of ``program`` in one lease, and the container it had."""
    return box.run(_lease(box, program, *runs))


def python(source: str) -> Program:
    return Program(language="python", source=source)


def test_sysv_and_posix_ipc_of_a_run_are_gone_for_the_next_programs(box: LoopBackend) -> None:
    """An attacker leaves a 150 MB SysV segment, a message queue, a semaphore set and a POSIX queue; the
    next three programs in the same container see none of them and can use the memory it held."""
    [attack], attacker_box = lease(box, python(IPC_ATTACKER), RunSpec(argv=["150"], limits=QUICK))
    assert (attack.status, attack.stdout) == (ExecStatus.OK, "True True True True\n"), attack.stderr
    for round_ in range(3):
        victim_limits = Limits(wall_time_s=10.0, memory_mb=256)
        [victim], victim_box = lease(box, python(IPC_VICTIM), RunSpec(argv=["180"], stdin="2 3", limits=victim_limits))
        assert victim_box == attacker_box, "the victim must run where the attacker ran"
        assert (victim.status, victim.stdout) == (ExecStatus.OK, "[] 180 5\n"), (round_, victim.message, victim.stderr)


def test_ipc_of_one_run_is_gone_for_the_next_run_of_the_same_program(box: LoopBackend) -> None:
    source = IPC_ATTACKER + "\n" + IPC_VICTIM.replace("import ctypes, os, sys", "")
    results, _ = lease(
        box, python(source), RunSpec(argv=["8"], stdin="1", limits=QUICK), RunSpec(argv=["8"], stdin="1", limits=QUICK)
    )
    # Each run sees only the objects it made itself, never those of the run before.
    for result in results:
        assert result.status is ExecStatus.OK, result.stderr
        found = result.stdout.splitlines()[1]
        assert found.count("0x5ec1") == 1 and "leftover" in found, found


def test_concurrent_runs_do_not_share_ipc_or_abstract_sockets() -> None:
    """Two containers at once: one holds a SysV segment, a POSIX queue and an abstract unix socket; the other,
    during that time, finds none of them (own IPC and network namespaces)."""
    holder = IPC_ATTACKER + (
        "\nimport socket, time\ns = socket.socket(socket.AF_UNIX)\ns.bind(b'\\0r1-abstract')\ns.listen()\n"
        "sys.stdout.flush()\ntime.sleep(3)\n"
    )
    prober = (
        "import ctypes, os, socket, time\ntime.sleep(1)\nlibc = ctypes.CDLL(None)\n"
        "s = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(b'\\0r1-abstract')\n    print('CONNECTED')\n"
        "except OSError:\n    print('no socket')\n"
        "print(libc.shmget(0x5EC1, 0, 0), os.listdir('/dev/mqueue'), open('/proc/sysvipc/shm').read().count('\\n'))\n"
    )

    async def both(box: LoopBackend) -> tuple[ExecResult, ExecResult]:
        (held, _), (probed, _) = await asyncio.gather(
            _lease(box, python(holder), RunSpec(argv=["8"], limits=QUICK)),
            _lease(box, python(prober), RunSpec(limits=QUICK)),
        )
        return held[0], probed[0]

    with started_backend(DockerOptions(warm_containers=2, max_containers=2)) as pair:
        held, probed = pair.run(both(pair))
    assert held.status is ExecStatus.OK, held.stderr
    assert (probed.status, probed.stdout) == (ExecStatus.OK, "no socket\n-1 [] 1\n"), probed.stderr


def test_a_run_cannot_change_what_the_next_run_of_its_program_starts_from(box: LoopBackend) -> None:
    """/work is put back after each run: a rewritten main.py, an added module, a removed helper, a chmod."""
    source = (
        "import os, sys\nprint(sorted(os.listdir('.')), open('helper.py').read().strip())\n"
        "open('main.py', 'w').write('print(\"FORGED\")')\nopen('sitecustomize.py', 'w').write('print(1)')\n"
        "os.remove('helper.py')\nos.makedirs('/work/new/deep', exist_ok=True)\nos.chmod('new', 0)\n"
    )
    program = Program(language="python", source=source, files={"helper.py": "X = 1\n"})
    results, _ = lease(box, program, RunSpec(limits=QUICK), RunSpec(limits=QUICK), RunSpec(limits=QUICK))
    assert [(r.status, r.stdout) for r in results] == [(ExecStatus.OK, "['helper.py', 'main.py'] X = 1\n")] * 3


def test_a_run_cannot_replace_the_compiled_binary_for_the_next_run(box: LoopBackend) -> None:
    source = (
        "#include <cstdio>\nint main(){ int n; if (scanf(\"%d\", &n) != 1) return 2;\n"
        "  FILE* f = fopen(\"main\", \"wb\"); if (f) { fputs(\"#!/bin/sh\\necho FORGED\\n\", f); fclose(f); }\n"
        "  printf(\"%d\\n\", n * n); }\n"
    )
    results, _ = lease(
        box, Program(language="cpp", source=source), RunSpec(stdin="3", limits=QUICK), RunSpec(stdin="4", limits=QUICK)
    )
    assert [(r.status, r.stdout) for r in results] == [(ExecStatus.OK, "9\n"), (ExecStatus.OK, "16\n")]


def test_no_run_finds_an_earlier_runs_input_or_output_in_its_memory(box: LoopBackend) -> None:
    """A victim's stdin and stdout pass through the container; a later forked Python run scans all of its own
    memory (/proc/self/mem) for them. The zygote it is forked from never held either."""
    token = uuid.uuid4().hex
    # Padded to a few KB: beyond the interpreter's small-object pools, where freed bytes linger longest.
    victim = python("import sys\ntext = sys.stdin.read()\nprint('OUTPUT-' + text[6:38] + '.' * 3000)")
    for _ in range(3):
        [first], victim_box = lease(box, victim, RunSpec(stdin=f"INPUT-{token}" + " " * 3000, limits=QUICK))
        assert first.stdout.startswith(f"OUTPUT-{token}...")
    scanner = python(
        "import re, sys\nmine = sys.stdin.read()\nfound = set()\n"
        "pattern = re.compile(rb'(?:INPUT|OUTPUT)-[0-9a-f]{32}')\n"
        "mem = open('/proc/self/mem', 'rb', 0)\n"
        "for line in open('/proc/self/maps'):\n"
        "    span, perms = line.split()[:2]\n    if 'r' not in perms:\n        continue\n"
        "    start, end = (int(x, 16) for x in span.split('-'))\n    try:\n        mem.seek(start)\n"
        "        found.update(m.decode() for m in pattern.findall(mem.read(end - start)))\n"
        "    except (OSError, ValueError, OverflowError):\n        pass\nprint(sorted(found))\n"
    )
    own = uuid.uuid4().hex  # positive control: the scan does find what this run itself read
    [scan], scanner_box = lease(box, scanner, RunSpec(stdin=f"INPUT-{own}", limits=QUICK))
    assert scanner_box == victim_box
    assert scan.status is ExecStatus.OK, scan.stderr
    assert own in scan.stdout
    assert token not in scan.stdout


def test_io_uring_setup_is_denied(box: LoopBackend) -> None:
    source = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nparams = ctypes.create_string_buffer(120)\n"
        "for number in (425, 426, 427):\n"
        "    print(number, libc.syscall(number, 1, params, 0, 0, 0), ctypes.get_errno())\n"
    )
    [result], _ = lease(box, python(source))
    assert result.stdout == "425 -1 1\n426 -1 1\n427 -1 1\n"  # EPERM, as Docker's default profile denies


def test_kernel_keyrings_are_denied(box: LoopBackend) -> None:
    source = (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "add_key = {'x86_64': 248, 'aarch64': 217}[os.uname().machine]\n"
        "key = libc.syscall(add_key, b'user', b'r1-left', b'secret', 6, -4)\nprint(key, ctypes.get_errno())\n"
    )
    [result], _ = lease(box, python(source))
    assert result.stdout == "-1 1\n"


def test_kernel_command_line_and_host_paths_are_not_visible(box: LoopBackend) -> None:
    source = (
        "print(repr(open('/proc/cmdline').read()))\nprint(open('/proc/self/cgroup').read().split())\n"
        "print(open('/proc/self/mountinfo').read())\n"
    )
    [result], _ = lease(box, python(source))
    assert result.status is ExecStatus.OK, result.stderr
    cmdline, cgroups, *mountinfo = result.stdout.splitlines()
    assert cmdline == "''"
    assert all(entry.endswith(":/") for entry in eval(cgroups))  # a list literal printed above
    host_cmdline = Path("/proc/cmdline").read_text().strip()
    assert host_cmdline and host_cmdline not in result.stdout
    # No host directory is bound in: the only host paths are docker's own files (documented).
    docker_files = r"/var/lib/docker/containers/[0-9a-f]{64}/(hosts|hostname|resolv\.conf)"
    for line in filter(None, mountinfo):
        root = line.split()[3]  # the mount's path inside its filesystem: /proc's /bus, /dev's /null...
        assert re.fullmatch(r"/[\w.-]*", root) or re.fullmatch(docker_files, root), line


def test_the_read_only_image_cannot_be_changed_for_later_runs(box: LoopBackend) -> None:
    source = (
        "import os\nhits = []\n"
        "paths = ('/usr/lib/python3.11/os.py', '/opt/sandbox-runner/runner.py', '/usr/bin/python3', '/etc/passwd')\n"
        "actions = (lambda p: open(p, 'a'), lambda p: os.chmod(p, 0o777), lambda p: os.rename(p, p + '.x'),\n"
        "           lambda p: os.unlink(p))\n"
        "for path in paths:\n    for action in actions:\n        try:\n            action(path)\n"
        "            hits.append(path)\n        except OSError:\n            pass\n"
        "for directory in ('/', '/var', '/home', '/run', '/var/tmp', '/opt'):\n"
        "    try:\n        open(os.path.join(directory, 'planted'), 'w')\n        hits.append(directory)\n"
        "    except OSError:\n        pass\nprint(hits)\n"
    )
    [result], _ = lease(box, python(source))
    assert (result.status, result.stdout) == (ExecStatus.OK, "[]\n"), result.stderr
    [after], _ = lease(box, python("import os\nprint(os.path.join('a', 'b'))"))
    assert after.stdout == "a/b\n"


def test_filling_every_writable_place_leaves_the_next_program_full_space(box: LoopBackend) -> None:
    fill = (
        "import os\nfor directory in ('/tmp', '/dev/shm', '/work'):\n    n = 0\n    try:\n"
        "        with open(os.path.join(directory, 'fill'), 'wb') as f:\n"
        "            while n < 400:\n                f.write(b'x' * (1 << 20))\n                n += 1\n"
        "    except OSError:\n        pass\n    print(directory, n)\n"
    )
    limits = Limits(wall_time_s=20.0, memory_mb=1024, file_size_mb=1024)
    [filled], attacker_box = lease(box, python(fill), RunSpec(limits=limits))
    assert filled.status is ExecStatus.OK, filled.stderr
    assert all(int(line.split()[1]) < 400 for line in filled.stdout.splitlines())  # every place is capped
    probe = python(
        "import os, shutil\nprint([(d, os.listdir(d), shutil.disk_usage(d).used >> 20) for d in ('/tmp', '/dev/shm')])"
    )
    [after], victim_box = lease(box, probe)
    assert victim_box == attacker_box
    assert after.stdout == "[('/tmp', [], 0), ('/dev/shm', [], 0)]\n"


def test_a_run_that_kills_or_stops_the_zygote_does_not_hurt_the_next_runs(box: LoopBackend) -> None:
    source = (
        "import os, signal\nsig = signal.SIGSTOP if input() == '1' else signal.SIGKILL\n"
        "for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    if pid not in (1, os.getpid()):\n        os.kill(pid, sig)\n"
        "print('done')\n"
    )
    for stop in ("1", "0"):
        [attack], attacker_box = lease(box, python(source), RunSpec(stdin=stop + "\n", limits=QUICK))
        assert attack.stdout == "done\n", attack.stderr
        [after], victim_box = lease(box, python("import sys\nprint(sum(map(int, sys.stdin.read().split())))"),
                                    RunSpec(stdin="20 22", limits=QUICK))
        assert victim_box == attacker_box
        assert (after.status, after.stdout) == (ExecStatus.OK, "42\n")


def test_deep_locked_and_countless_leftovers_are_cleaned_without_failing_the_program(box: LoopBackend) -> None:
    """Trees deeper than any path (and the interpreter's recursion limit), directories without permissions,
    and as many files as the tmpfs holds: cleaned after each run; the program's next run is not failed."""
    source = (
        "import os, sys\nfor top in ('/tmp', '/dev/shm', '/work'):\n    os.chdir(top)\n"
        "    for _ in range(1500):\n        os.mkdir('d' * 200)\n        os.chdir('d' * 200)\n"
        "    open('leaf', 'w').write('x')\n    os.chdir(top)\n    os.mkdir('locked')\n"
        "    open('locked/f', 'w').write('x')\n    os.chmod('locked', 0)\n"
        "n = 0\ntry:\n    while True:\n        open(f'/tmp/f{n}', 'w').close()\n        n += 1\n"
        "except OSError:\n    pass\nprint(n > 1000, sys.stdin.read())\n"
    )
    results, attacker_box = lease(
        box, python(source), RunSpec(stdin="first", limits=QUICK), RunSpec(stdin="second", limits=QUICK)
    )
    expected = [(ExecStatus.OK, "True first\n"), (ExecStatus.OK, "True second\n")]
    assert [(r.status, r.stdout) for r in results] == expected
    probe = python("import os\nprint(os.listdir('/tmp'), os.listdir('/dev/shm'), sorted(os.listdir('/work')))")
    [after], victim_box = lease(box, probe)
    assert victim_box == attacker_box, "cleaning must succeed, not recycle"
    assert after.stdout == "[] [] ['main.py']\n"
