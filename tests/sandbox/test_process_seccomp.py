"""The process backend's seccomp filter: the denied syscalls fail with EPERM inside a run (ENOSYS for
clone3), ordinary programs (threads, subprocesses) still work, and the generated program is well formed."""

from __future__ import annotations

import ast
import struct

import pytest

from sandbox import seccomp
from sandbox.process import ProcessBackend
from sandbox.types import ExecStatus
from tests.sandbox.process_support import run_program, with_backend
from tests.system import needs_bwrap

CALLS = {
    "io_uring_setup": "libc.syscall(425, 8, params)",
    "io_uring_enter": "libc.syscall(426, 0, 0, 0, 0, 0, 0)",
    "ptrace": "libc.syscall(101, 16, 1, 0, 0)",  # PTRACE_ATTACH to pid 1
    "add_key": "libc.syscall(248, b'user', b'r1', b'x', 1, -2)",
    "keyctl": "libc.syscall(250, 0, -2, 0)",
    "request_key": "libc.syscall(249, b'user', b'r1', None, 0)",
    "mount": "libc.syscall(165, b'none', b'/tmp', b'tmpfs', 0, None)",
    "umount2": "libc.syscall(166, b'/tmp', 2)",
    "bpf": "libc.syscall(321, 0, params, 48)",
    "unshare": "libc.syscall(272, 0x10000000)",
    "setns": "libc.syscall(308, os.open('/proc/self/ns/net', os.O_RDONLY), 0)",
    "clone_newuser": "libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)",
    "clone_newns": "libc.syscall(56, 0x00020000 | 17, 0, 0, 0, 0)",
    "clone3": "libc.syscall(435, params, 88)",
    "perf_event_open": "libc.syscall(298, params, 0, -1, -1, 0)",
    "userfaultfd": "libc.syscall(323, 0)",
    "process_vm_readv": "libc.syscall(310, 1, None, 0, None, 0, 0)",
}


def test_the_filter_checks_the_architecture_first_and_ends_by_allowing() -> None:
    program = seccomp.build_filter()
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
    insns = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    assert insns[0] == (0x20, 0, 0, 4)  # load seccomp_data.arch
    assert insns[1] == (0x15, 1, 0, seccomp.AUDIT_ARCH_X86_64)
    assert insns[2] == (0x06, 0, 0, seccomp.SECCOMP_RET_KILL_PROCESS)
    assert insns[-1] == (0x06, 0, 0, seccomp.SECCOMP_RET_ALLOW)
    denied = {k for (code, _, _, k) in insns if code == 0x15}
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace", "keyctl", "mount", "bpf"):
        assert seccomp.DENIED[name] in denied


@needs_bwrap
def test_denied_syscalls_fail_inside_a_run() -> None:
    lines = [
        "import ctypes, os",
        "libc = ctypes.CDLL(None, use_errno=True)",
        "params = ctypes.create_string_buffer(256)",
        "results = {}",
    ]
    for name, call in CALLS.items():
        lines += [
            "try:",
            f"    r = {call}",
            "except OSError as exc:",
            "    r, err = -1, exc.errno",
            "else:",
            "    err = ctypes.get_errno()",
            "if r == 0 and os.getpid() != 1:",
            "    os._exit(0)  # a clone that went through: the child leaves",
            f"results[{name!r}] = (r, err)",
        ]
    lines.append("print(results)")
    source = "\n".join(lines) + "\n"

    async def scenario(backend: ProcessBackend) -> tuple[ExecStatus, str, str]:
        result = await run_program(backend, source)
        return result.status, result.stdout, result.stderr

    status, stdout, stderr = with_backend(scenario)
    assert status is ExecStatus.OK, stderr
    results = ast.literal_eval(stdout)
    for name in CALLS:
        expected = 38 if name == "clone3" else 1  # ENOSYS (libc then falls back to clone), EPERM
        assert results[name] == (-1, expected), (name, results[name])


@needs_bwrap
@pytest.mark.parametrize("language", ["python", "cpp"])
def test_threads_and_subprocesses_still_work_under_the_filter(language: str) -> None:
    sources = {
        "python": (
            "import subprocess, threading\n"
            "out = []\n"
            "t = threading.Thread(target=lambda: out.append(subprocess.run(['/bin/echo', 'child'],"
            " capture_output=True, text=True).stdout))\n"
            "t.start(); t.join()\n"
            "print(out[0].strip())\n"
        ),
        "cpp": (
            "#include <thread>\n#include <cstdio>\n#include <cstdlib>\n"
            'int main(){ std::thread t([]{ std::system("/bin/echo child"); }); t.join(); }\n'
        ),
    }

    async def scenario(backend: ProcessBackend) -> tuple[ExecStatus, str]:
        result = await run_program(backend, sources[language], language=language)
        return result.status, result.stdout

    assert with_backend(scenario) == (ExecStatus.OK, "child\n")
