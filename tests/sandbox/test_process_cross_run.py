"""Runs cannot touch each other: for each attack, an attacker run, then (and concurrently) a victim run
that must see nothing of it and get its right output. Real bubblewrap, one backend per scenario.

The victims are honest programs with a known answer: a C++ program reading stdin (a fresh exec, which an
``/etc/ld.so.preload`` or a replaced ``/lib64`` would reach) and a Python program (a fork of the zygote,
which a planted file, a left socket or a scanned heap would reach).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sandbox.process import ProcessBackend
from sandbox.types import ExecStatus, Limits
from tests.sandbox.process_support import gather, run_program, with_backend
from tests.system import needs_bwrap

pytestmark = needs_bwrap

CPP_VICTIM = "#include <iostream>\nint main(){ long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }\n"
PY_VICTIM = (
    "import os, sys\n"
    "a, b = map(int, open('/dev/stdin').read().split())\n"
    "print(a * b)\n"
    "print(sorted(os.listdir('/tmp')), sorted(os.listdir('/dev/shm')), sorted(os.listdir('/work')))\n"
)
PY_VICTIM_OUTPUT = "42\n[] [] ['main.py']\n"


async def victims_score_right(backend: ProcessBackend) -> None:
    cpp = await run_program(backend, CPP_VICTIM, language="cpp", stdin="40 2\n")
    assert (cpp.status, cpp.stdout, cpp.stderr) == (ExecStatus.OK, "42\n", "")
    py = await run_program(backend, PY_VICTIM, stdin="6 7\n")
    assert (py.status, py.stdout, py.stderr) == (ExecStatus.OK, PY_VICTIM_OUTPUT, "")


def attack_then_victims(attacker: str, *, language: str = "python", limits: Limits | None = None) -> str:
    """The attacker's output; victims run after it and alongside a second copy of it, and score right."""

    async def scenario(backend: ProcessBackend) -> str:
        first = await run_program(backend, attacker, language=language, limits=limits)
        await victims_score_right(backend)
        await gather(run_program(backend, attacker, language=language, limits=limits), victims_score_right(backend))
        await victims_score_right(backend)
        return first.stdout + first.stderr

    return with_backend(scenario, max_concurrency=3)


def test_etc_ld_so_preload_and_system_files_cannot_be_planted() -> None:
    attacker = (
        "import os\n"
        "for path in ('/etc/ld.so.preload', '/etc/passwd', '/usr/lib/evil.so', '/lib64/evil.so', '/evil',\n"
        "             '/sandbox/zygote.py', '/etc/ld.so.cache'):\n"
        "    try:\n"
        "        with open(path, 'a') as f:\n"
        "            f.write('/tmp/evil.so\\n')\n"
        "        print('PLANTED', path)\n"
        "    except OSError as exc:\n"
        "        print('blocked', path, exc.strerror)\n"
    )
    output = attack_then_victims(attacker)
    assert "PLANTED" not in output and output.count("blocked") == 7


def test_chmod_of_root_dev_and_system_directories_fails_and_breaks_nothing() -> None:
    attacker = (
        "import os\n"
        "for path in ('/', '/dev', '/etc', '/usr', '/proc', '/sandbox', '/dev/null', '/work', '/.proc'):\n"
        "    try:\n"
        "        os.chmod(path, 0)\n"
        "        print('CHMODDED', path)\n"
        "    except OSError as exc:\n"
        "        print('blocked', path, exc.strerror)\n"
    )
    output = attack_then_victims(attacker)
    for path in ("/", "/dev", "/etc", "/usr", "/sandbox", "/dev/null", "/work"):
        assert f"CHMODDED {path}\n" not in output


def test_links_in_dev_bin_and_lib64_cannot_be_replaced() -> None:
    attacker = (
        "import os\n"
        "for link in ('/dev/stdin', '/dev/stdout', '/dev/fd', '/bin', '/lib64', '/lib', '/sbin'):\n"
        "    try:\n"
        "        os.rename(link, link + '.old') if os.path.lexists(link) else None\n"
        "        os.symlink('/dev/null', link)\n"
        "        print('REPLACED', link)\n"
        "    except OSError as exc:\n"
        "        print('blocked', link, exc.strerror)\n"
    )
    output = attack_then_victims(attacker)
    assert "REPLACED" not in output


def test_unix_sockets_do_not_connect_concurrent_runs() -> None:
    """An attacker listens on a socket under /dev, /tmp and in the abstract namespace; a victim running at
    the same time finds none of them."""
    tag = uuid.uuid4().hex[:8]
    listener = (
        "import socket, time\n"
        "opened = []\n"
        f"for address in ('/dev/r1-{tag}.sock', '/tmp/r1-{tag}.sock', '\\0r1-{tag}'):\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    try:\n"
        "        s.bind(address); s.listen(); s.settimeout(0.1); opened.append(s)\n"
        "        print('LISTENING', repr(address), flush=True)\n"
        "    except OSError as exc:\n"
        "        print('blocked', repr(address), exc.strerror, flush=True)\n"
        "deadline = time.time() + 2.5\n"
        "while time.time() < deadline:\n"
        "    for s in opened:\n"
        "        try:\n"
        "            s.accept(); print('ACCEPTED', flush=True)\n"
        "        except OSError:\n"
        "            pass\n"
    )
    dialer = (
        "import socket, time\n"
        "time.sleep(0.8)\n"
        f"for address in ('/dev/r1-{tag}.sock', '/tmp/r1-{tag}.sock', '\\0r1-{tag}'):\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    try:\n"
        "        s.connect(address); print('CONNECTED', repr(address))\n"
        "    except OSError as exc:\n"
        "        print('blocked', exc.strerror)\n"
    )

    async def scenario(backend: ProcessBackend) -> tuple[str, str]:
        limits = Limits(wall_time_s=5.0)
        heard, dialed = await gather(run_program(backend, listener, limits=limits), run_program(backend, dialer))
        return heard.stdout, dialed.stdout

    heard, dialed = with_backend(scenario, max_concurrency=2)
    assert "/dev/r1-" not in heard.split("LISTENING")[-1] or "LISTENING '/dev" not in heard
    assert "CONNECTED" not in dialed and dialed.count("blocked") == 3
    assert "ACCEPTED" not in heard


def test_a_forked_run_finds_no_other_run_in_its_memory() -> None:
    """A victim's stdin and output, then an attacker that scans all of its own readable memory (the
    zygote's fork) for them, plain or base64 as they travel: the zygote never held them."""
    secret = uuid.uuid4().hex
    victim = "import sys\nline = sys.stdin.readline().strip()\nprint('R1VICTIM-OUT:' + line.split(':')[1][::-1])\n"
    scanner = (
        "import base64, re\n"
        "prefix = ('R1VIC' + 'TIM-').encode()\n"
        "found = set()\n"
        "maps = open('/proc/self/maps').read().splitlines()\n"
        "with open('/proc/self/mem', 'rb', buffering=0) as mem:\n"
        "    for line in maps:\n"
        "        span, perms = line.split()[:2]\n"
        "        if not perms.startswith('r') or '[vvar' in line or '[vsyscall' in line:\n"
        "            continue\n"
        "        start, end = (int(x, 16) for x in span.split('-'))\n"
        "        try:\n"
        "            mem.seek(start); data = mem.read(end - start)\n"
        "        except OSError:\n"
        "            continue\n"
        "        for match in re.finditer(re.escape(prefix) + rb'[A-Z]+:[0-9a-f]{8,}', data):\n"
        "            found.add(match.group().decode())\n"
        "        for match in re.finditer(rb'[A-Za-z0-9+/]{24,}={0,2}', data):\n"
        "            for shift in range(4):\n"
        "                chunk = match.group()[shift:]\n"
        "                try:\n"
        "                    text = base64.b64decode(chunk[: len(chunk) // 4 * 4])\n"
        "                except ValueError:\n"
        "                    continue\n"
        "                for hit in re.finditer(re.escape(prefix) + rb'[A-Z]+:[0-9a-f]{8,}', text):\n"
        "                    found.add('base64 ' + hit.group().decode())\n"
        "print('scanned', len(maps), sorted(found))\n"
    )

    async def scenario(backend: ProcessBackend) -> str:
        for _ in range(3):
            honest = await run_program(backend, victim, stdin=f"R1VICTIM-IN:{secret}\n")
            assert honest.stdout == f"R1VICTIM-OUT:{secret[::-1]}\n"
        return (await run_program(backend, scanner, limits=Limits(memory_mb=1024))).stdout

    output = with_backend(scenario, max_concurrency=1)
    assert output.startswith("scanned ")
    assert secret not in output and secret[::-1] not in output


def test_hundreds_of_megabytes_left_in_tmpfs_are_gone_after_the_run() -> None:
    filler = (
        "import os\n"
        "block = b'x' * (1 << 20)\n"
        "written = 0\n"
        "for path in ('/fill', '/dev/fill', '/tmp/fill', '/dev/shm/fill', '/work/fill'):\n"
        "    try:\n"
        "        with open(path, 'wb') as f:\n"
        "            for _ in range(300):\n"
        "                f.write(block); written += 1\n"
        "    except OSError as exc:\n"
        "        print('stopped', path, exc.strerror)\n"
        "print('MB', written)\n"
    )

    def shmem_mb() -> float:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("Shmem:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no Shmem in /proc/meminfo")

    async def scenario(backend: ProcessBackend) -> tuple[str, float]:
        before = shmem_mb()
        filled = await run_program(backend, filler, limits=Limits(memory_mb=1024, file_size_mb=400))
        await victims_score_right(backend)  # their /tmp, /dev/shm, /work are empty (PY_VICTIM_OUTPUT)
        return filled.stdout, shmem_mb() - before

    output, grown = with_backend(scenario)
    assert "MB 316\n" in output  # 300 MB into /tmp, 16 into /dev/shm (its cap), refused the rest
    for path in ("/fill", "/dev/fill", "/work/fill"):
        assert f"stopped {path} Read-only file system" in output
    assert grown < 150, f"{grown:.0f} MB of tmpfs outlived the run"


def test_sysv_ipc_objects_do_not_reach_the_next_or_a_concurrent_run() -> None:
    key = 0x5231_0000 + uuid.uuid4().int % 0xFFFF
    maker = (
        "import ctypes, time\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"shm = libc.shmget({key}, 1 << 20, 0o1666)\n"
        f"sem = libc.semget({key}, 1, 0o1666)\n"
        f"msg = libc.msgget({key}, 0o1666)\n"
        "print('made', shm >= 0, sem >= 0, msg >= 0, flush=True)\n"
        "time.sleep(1.5)\n"
    )
    finder = (
        "import ctypes, time\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "time.sleep(0.5)\n"
        f"print('FOUND' if max(libc.shmget({key}, 0, 0), libc.semget({key}, 0, 0), libc.msgget({key}, 0)) >= 0"
        " else 'none')\n"
    )

    async def scenario(backend: ProcessBackend) -> list[str]:
        limits = Limits(wall_time_s=5.0)
        made, alongside = await gather(run_program(backend, maker, limits=limits), run_program(backend, finder))
        after = await run_program(backend, finder)
        return [made.stdout, alongside.stdout, after.stdout]

    made, alongside, after = with_backend(scenario, max_concurrency=2)
    assert made == "made True True True\n"
    assert alongside == after == "none\n"


def test_a_run_cannot_write_into_a_sibling_programs_compiled_output() -> None:
    """Two compiled programs prepared side by side: one run tries to overwrite every binary it can find;
    the other program still runs its own."""
    vandal = (
        "#include <cstdio>\n#include <dirent.h>\n#include <string>\n"
        'int main(){ const char* dirs[] = {"/work", "/jobs", "/tmp", "/"};\n'
        "  for (const char* d : dirs) { DIR* dir = opendir(d); if (!dir) continue;\n"
        '    while (dirent* e = readdir(dir)) { std::string p = std::string(d) + "/" + e->d_name;\n'
        '      if (FILE* f = fopen(p.c_str(), "r+")) { fputs("X", f); fclose(f); printf("WROTE %s\\n", p.c_str()); }\n'
        "    } closedir(dir); }\n"
        '  if (FILE* f = fopen("/work/main", "w")) { printf("REPLACED\\n"); fclose(f); }\n'
        '  puts("done"); }\n'
    )

    async def scenario(backend: ProcessBackend) -> str:
        from sandbox.types import Program, RunSpec

        async with backend.prepare(Program(language="cpp", source=CPP_VICTIM)) as victim:
            before = await victim.run(RunSpec(stdin="1 2\n"))
            attacked = await run_program(backend, vandal, language="cpp")
            alongside, _ = await gather(
                victim.run(RunSpec(stdin="3 4\n")), run_program(backend, vandal, language="cpp")
            )
            after = await victim.run(RunSpec(stdin="5 6\n"))
        assert [before.stdout, alongside.stdout, after.stdout] == ["3\n", "7\n", "11\n"]
        return attacked.stdout

    output = with_backend(scenario, max_concurrency=2)
    assert "done" in output and "WROTE" not in output and "REPLACED" not in output


@pytest.mark.parametrize(
    "probe",
    [
        "print(repr(open('/proc/cmdline').read()))",
        "print([l.split()[3] for l in open('/proc/self/mountinfo') if 'sandbox-' in l or 'jobs' in l])",
    ],
    ids=["kernel_command_line", "host_paths_in_mountinfo"],
)
def test_host_facts_are_not_visible(probe: str) -> None:
    async def scenario(backend: ProcessBackend) -> str:
        return (await run_program(backend, probe)).stdout

    assert with_backend(scenario) in ("''\n", "[]\n")


def test_proc_sys_writes_and_hostname_stay_inside_the_run() -> None:
    attacker = (
        "import socket\n"
        "for path, value in (('/proc/sys/kernel/hostname', 'pwned'), ('/proc/sys/vm/drop_caches', '3'),\n"
        "                    ('/proc/sysrq-trigger', 'b'), ('/proc/sys/kernel/core_pattern', '|/tmp/x')):\n"
        "    try:\n"
        "        open(path, 'w').write(value); print('WROTE', path)\n"
        "    except OSError as exc:\n"
        "        print('blocked', path, exc.strerror)\n"
        "print('host', socket.gethostname())\n"
    )
    probe = "import socket\nprint(socket.gethostname())\n"

    async def scenario(backend: ProcessBackend) -> tuple[str, str]:
        first = await run_program(backend, attacker)
        return first.stdout, (await run_program(backend, probe)).stdout

    attacked, hostname = with_backend(scenario)
    for path in ("drop_caches", "sysrq-trigger", "core_pattern"):
        assert f"WROTE /proc/sys/vm/{path}" not in attacked and f"WROTE /proc/{path}" not in attacked
    assert hostname == "sandbox\n"


def test_a_run_inherits_no_descriptor_of_the_zygote_or_another_run() -> None:
    probe = (
        "import os\n"
        "fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))\n"
        "links = [(fd, os.readlink(f'/proc/self/fd/{fd}')) for fd in fds if os.path.exists(f'/proc/self/fd/{fd}')]\n"
        "print([link for link in links if link[0] > 2])\n"
    )
    cpp_probe = (
        "#include <cstdio>\n#include <fcntl.h>\nint main(){ int n = 0; for (int fd = 3; fd < 4096; fd++)"
        ' if (fcntl(fd, F_GETFD) != -1) n++; printf("%d\\n", n); }\n'
    )

    async def scenario(backend: ProcessBackend) -> tuple[list[str], str]:
        py = await gather(*(run_program(backend, probe) for _ in range(3)))
        return [r.stdout for r in py], (await run_program(backend, cpp_probe, language="cpp")).stdout

    python_fds, cpp_open = with_backend(scenario, max_concurrency=3)
    for listing in python_fds:
        # The only descriptor above 2 is the directory listing's own.
        assert listing.count("(") <= 1 and "socket" not in listing and "pipe" not in listing, listing
    assert cpp_open == "0\n"


def test_signals_cannot_reach_the_zygote_or_its_cells() -> None:
    attacker = (
        "import os, signal\n"
        "hit = []\n"
        "for pid in list(range(2, 400)) + [-1]:\n"
        "    for sig in (signal.SIGKILL, signal.SIGSTOP):\n"
        "        try:\n"
        "            os.kill(pid, sig); hit.append(pid)\n"
        "        except OSError:\n"
        "            pass\n"
        "print('hit', hit)\n"
    )
    attack_then_victims(attacker)
