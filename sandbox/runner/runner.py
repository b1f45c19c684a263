"""The runner kept inside each warm sandbox container: it receives programs over its stdin and forks per run.

It is the container's PID 1 and runs under the same unprivileged uid as the programs it starts, with every
capability dropped. Two kernel rules keep a hostile program from killing or hijacking it anyway:
- a PID namespace's init only receives the signals it installed a handler for, so SIGKILL/SIGSTOP sent from
  inside the container never reach it;
- it marks itself non-dumpable, so processes of the same uid cannot ptrace it or open /proc/1/fd or mem.

Before anything else it stacks a seccomp filter over Docker's default profile that denies io_uring
(``io_uring_setup``/``enter``/``register``: EPERM), inherited by every process of the container.

Nothing of one run reaches another:
- Python runs are forks of the *zygote*, a second interpreter exec'd fresh by the runner that imports the
  common modules and never reads a request, a stdin or an output (it only receives the run's pipes over a
  socket and forks; the run reads its own request). The runner's heap, which does hold earlier requests and
  outputs, is never forked into user code: other runs are forked by it and exec at once.
- after every run: every process but the zygote is killed, /tmp, /dev/shm and /dev/mqueue are emptied, SysV
  shared memory, semaphores and message queues are removed, and /work is put back exactly as it was sealed
  after the write (and compile): a run cannot change what the next run of the program starts from;
- at ``reset`` (between leases) /work is emptied too. The root is read-only: these are the only writable
  places of the container.

Wire protocol (version 3), on the attached stdin/stdout: every message is a 4-byte big-endian length then
that many bytes of UTF-8 JSON. Byte strings travel base64-encoded. One request at a time, one reply each:

    {"op": "hello", "which": [names]}            -> {"ok": true, "protocol": 3, "uid": ..., "paths": {name: path},
                                                     "seccomp": "io_uring denied", "fork_python": bool}
    {"op": "write", "files": {path: b64}, "seal": bool}
                                                 -> {"ok": true}           (paths relative to /work)
    {"op": "exec", "argv": [...], "stdin": b64, "env": {...}, "limits": {...}, "python_main": {...}?,
     "seal": bool}                               -> {"ok": true, "exit_code"|"signal", "stdout": b64, ...}
       (with "python_main" {"script": path, "args": [...]}: a fork of the zygote runs the script in place
        instead of exec'ing argv, a fresh interpreter; "seal": snapshot /work after this exec, the compile)
                                                    or {"ok": true, "exec_error": "..."} if argv[0] is missing
    {"op": "reset"}                              -> {"ok": true, "clean": bool, "problems": [...]}

A paired run is an "exec" with "link": true (protocol 3). Its stdin is not in the request: while it runs,
the runner sends {"event": "out", "data": b64} for what the program writes to stdout (up to output_bytes;
more ends the run as an output-limit kill) and {"event": "eof"} when that stream ends, and takes
{"op": "in", "data": b64} (written to the program's stdin) and {"op": "eof"} (stdin closed) from the host.
The exec reply comes last, with an empty stdout; the host then sends {"op": "unlink"}, and whatever came
before it is dropped.

A reply with "ok": false carries "error": the runner failed, not the program. The host decides what a
result means (timeout, memory limit...); the runner only reports facts. Standard library only: this file
runs under the image's own Python, whatever its version (3.9 or newer).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import importlib
import json
import os
import resource
import runpy
import selectors
import shutil
import signal
import socket
import stat
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

PROTOCOL = 3
WORK_DIR = "/work"
SCRATCH_DIRS = ("/work", "/tmp", "/dev/shm", "/dev/mqueue")
RUN_SCRATCH_DIRS = ("/tmp", "/dev/shm", "/dev/mqueue")
SYSV_IPC = ("/proc/sysvipc/shm", "/proc/sysvipc/sem", "/proc/sysvipc/msg")
IPC_RMID = 0
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
# io_uring_setup, io_uring_enter, io_uring_register: the same numbers on every architecture Docker runs.
IO_URING_SYSCALLS = (425, 427)
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO_EPERM = 0x00050000 | 1
X32_SYSCALL_BIT = 0x40000000
SEAL_MAX_BYTES = 64 * 1024 * 1024
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
ZYGOTE_FD = 3
CLONE_PARENT = 0x00008000
CLONE_SYSCALL = {"x86_64": 56, "aarch64": 220}
ZYGOTE_TIMEOUT_S = 10.0
KILL_GRACE_S = 0.5
READ_CHUNK = 65536
# cgroup v1 reports OOM kills in memory.oom_control, cgroup v2 in memory.events; docker mounts the
# container's own cgroup at /sys/fs/cgroup (read-only).
# The container's CPU time, the whole tree's (v1 cpuacct in nanoseconds, v2 cpu.stat's usage_usec): one
# container serves one run at a time, so its growth during a run is that run's.
CPU_COUNTER_FILES = (
    ("/sys/fs/cgroup/cpuacct/cpuacct.usage", 1e-9),
    ("/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", 1e-9),
    ("/sys/fs/cgroup/cpu.stat", 1e-6),
)
CPU_POLL_S = 0.02
OOM_COUNTER_FILES = ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events")
# Modules programs (and the code reward's harness) commonly import: loaded once, before any fork.
PRELOAD = (
    "bisect",
    "collections",
    "functools",
    "hashlib",
    "heapq",
    "itertools",
    "math",
    "random",
    "re",
    "string",
    "typing",
)
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORK_DIR,
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
}


def read_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int) -> dict[str, Any] | None:
    header = read_exact(fd, 4)
    if header is None:
        return None
    body = read_exact(fd, struct.unpack(">I", header)[0])
    if body is None:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


def write_message(fd: int, message: dict[str, Any]) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    data = memoryview(struct.pack(">I", len(body)) + body)
    while data:
        data = data[os.write(fd, data) :]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def cgroup_cpu_s() -> float | None:
    for path, unit in CPU_COUNTER_FILES:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if path.endswith("cpu.stat"):
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) * unit
            continue
        return int(text.split()[0]) * unit
    return None


def oom_kill_count() -> int | None:
    for path in OOM_COUNTER_FILES:
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            continue
    return None


def other_pids(spare: tuple[int, ...] = ()) -> list[int]:
    me = os.getpid()
    return [pid for pid in (int(n) for n in os.listdir("/proc") if n.isdigit()) if pid != me and pid not in spare]


def reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == ZYGOTE.pid:  # a run killed it: forget its pid at once, it may be reused
            ZYGOTE.forget()


def kill_everything_else() -> int:
    """SIGKILL every process of the container but the runner and the zygote; returns how many there were.

    Repeat until /proc holds no other process, so that a fork bomb racing the kills cannot survive them
    (RLIMIT_NPROC and the container's pids limit bound how many it can make meanwhile).
    """
    spare = ZYGOTE.spare()
    seen = len(other_pids(spare))
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        reap_all()
        pids = other_pids(ZYGOTE.spare())
        if not pids:
            return seen
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.001)
    return seen


def install_seccomp() -> str:
    """Deny io_uring to this process and everything it starts; Docker's default profile stays in force below.

    A classic BPF program: load the syscall number, clear the x32 bit, return EPERM for 425..427.
    """
    first, last = IO_URING_SYSCALLS
    program = [
        (0x20, 0, 0, 0),  # ld  [0]            seccomp_data.nr
        (0x54, 0, 0, 0xFFFFFFFF & ~X32_SYSCALL_BIT),  # and #~x32
        (0x35, 0, 2, first),  # jge first, next, allow
        (0x25, 1, 0, last),  # jgt last, allow, next
        (0x06, 0, 0, SECCOMP_RET_ERRNO_EPERM),  # ret EPERM
        (0x06, 0, 0, SECCOMP_RET_ALLOW),  # ret ALLOW
    ]

    class SockFilter(ctypes.Structure):
        _fields_ = (("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint))

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter)))

    filters = (SockFilter * len(program))(*(SockFilter(*insn) for insn in program))
    fprog = SockFprog(len(program), filters)
    if LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    return "io_uring denied"


class ZygoteHandle:
    """The runner's end of the zygote: a fresh interpreter that forks Python runs and reads no user data."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.sock: socket.socket | None = None
        self.failure = ""

    def spare(self) -> tuple[int, ...]:
        return (self.pid,) if self.pid is not None else ()

    def start(self) -> bool:
        self.stop()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # exec at once: nothing of the runner's heap survives into the zygote
            try:
                handed = os.dup(child.fileno())
                os.dup2(handed, ZYGOTE_FD)
                null = os.open("/dev/null", os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.closerange(ZYGOTE_FD + 1, 1 << 16)
                os.execv(sys.executable, [sys.executable, "-I", "-u", os.path.abspath(__file__), "zygote"])
            finally:
                os._exit(127)
        child.close()
        self.pid, self.sock = pid, parent
        try:
            parent.settimeout(30.0)
            if parent.recv(1) != b"R":
                raise OSError("the zygote did not start")
        except OSError as exc:
            self.failure = str(exc)
            self.stop()
            return False
        return True

    def forget(self) -> None:
        self.pid = None
        self.stop()

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = None

    def healthy(self) -> bool:
        """Alive and not stopped (a run may have signalled it: same uid); else it is replaced. Read from /proc
        rather than asked, so that a check costs no wake-up of the zygote."""
        if self.pid is None or self.sock is None:
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            return False
        return state in ("S", "R")

    def ensure(self) -> None:
        if not self.healthy():
            self.start()

    def fork(self, child_fds: list[int], request: dict[str, Any]) -> int | None:
        """A run forked from the zygote as the runner's own child (so it can wait4 it); None on failure."""
        if self.sock is None:
            return None
        req_r, req_w = os.pipe()
        try:
            socket.send_fds(self.sock, [b"F"], [*child_fds, req_r])
            os.close(req_r)
            req_r = -1
            view = memoryview(json.dumps(request).encode())
            while view:
                view = view[os.write(req_w, view) :]
            os.close(req_w)
            req_w = -1
            self.sock.settimeout(ZYGOTE_TIMEOUT_S)
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = self.sock.recv(32)
                if not chunk:
                    raise OSError("the zygote exited")
                reply += chunk
            if not reply.startswith(b"K"):
                raise OSError(f"the zygote did not fork: {reply!r}")
            return int(reply[1:])
        except (OSError, ValueError) as exc:
            self.failure = f"zygote fork failed: {exc}"
            self.stop()
            return None
        finally:
            for fd in (req_r, req_w):
                if fd >= 0:
                    os.close(fd)


def fork_as_sibling() -> int:
    """``fork`` with CLONE_PARENT: the child is the runner's, not the zygote's, and the zygote waits for
    nothing. Python's own before/after-fork steps run around the raw clone, as ``os.fork`` runs them."""
    number = CLONE_SYSCALL.get(os.uname().machine)
    if number is None:
        raise OSError("no raw clone on this architecture")
    python = ctypes.pythonapi
    python.PyOS_BeforeFork()
    pid = int(RAW_SYSCALL(number, CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0))
    if pid == 0:
        python.PyOS_AfterFork_Child()
    else:
        python.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(ctypes.get_errno(), "clone(CLONE_PARENT)")
    return pid


ZYGOTE = ZygoteHandle()
LIBC = ctypes.CDLL(None, use_errno=True)
RAW_SYSCALL = ctypes.PyDLL(None, use_errno=True).syscall  # PyDLL: the GIL stays held across the clone
RAW_SYSCALL.restype = ctypes.c_long


def child_setup(limits: dict[str, Any]) -> None:
    """Runs in the forked child before exec: own session, rlimits, first in line for the OOM killer."""
    os.setsid()
    for name, value in (
        ("cpu_s", resource.RLIMIT_CPU),
        ("file_size_bytes", resource.RLIMIT_FSIZE),
        ("open_files", resource.RLIMIT_NOFILE),
        ("processes", resource.RLIMIT_NPROC),
        ("address_space_bytes", resource.RLIMIT_AS),
    ):
        limit = limits.get(name)
        if limit is not None:
            # CPU: the soft limit sends SIGXCPU, the hard one a second later SIGKILL for programs that catch it.
            hard = int(limit) + 1 if value == resource.RLIMIT_CPU else int(limit)
            resource.setrlimit(value, (int(limit), hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def resolve(command: str, cwd: str, path: str) -> str | None:
    """The executable a command names: a path relative to the work dir, or a name looked up in PATH."""
    if "/" in command:
        candidate = os.path.join(cwd, command)
        return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None
    return shutil.which(command, path=path)


def locate(tool: str) -> str | None:
    """A toolchain entry: an executable looked up in PATH, or (an absolute path) a file that must exist."""
    if os.path.isabs(tool):
        return tool if os.path.isfile(tool) else None
    return shutil.which(tool, path=BASE_ENV["PATH"])


def run_python_in_place(script: str, args: list[str], env: dict[str, str], cwd: str) -> None:
    """In a forked child: run ``script`` as ``python3 -E -s -B script args...`` would, then exit.

    The zygote has already imported the interpreter's start-up and the modules programs commonly use
    (``PRELOAD``), so a forked run skips ~40 ms of interpreter start and ~100 ms of imports. Each run is a
    fresh fork of a zygote that never ran user code nor read a request, so runs see nothing of each other.
    """
    # The zygote is non-dumpable; a run may read its own /proc files as a fresh interpreter could.
    LIBC.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [script, *args]
    sys.path.insert(0, cwd)  # -I left the script directory out
    sys.stdin = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)  # noqa: SIM115
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exit_code(exc)
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # wait for non-daemon threads, as at exit
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            code = code or 120  # CPython's exit status when flushing stdout fails at shutdown
    os._exit(code & 0xFF)


def exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    with contextlib.suppress(BaseException):
        print(exc.code, file=sys.stderr)
    return 1


def warm_up() -> None:
    """Import once, in the zygote, what forked Python runs would otherwise import each time."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    # runpy's own lazy imports, paid here rather than in every fork; a read-only /tmp only costs speed.
    with contextlib.suppress(OSError):
        os.makedirs("/tmp/warm", exist_ok=True)
        script = "/tmp/warm/warm.py"
        with open(script, "w") as f:
            f.write("import typing\n")
        runpy.run_path(script, run_name="__main__")
        shutil.rmtree("/tmp/warm")


def run_program(request: dict[str, Any]) -> dict[str, Any]:
    limits: dict[str, Any] = request.get("limits", {})
    wall_s = float(limits.get("wall_s", 10.0))
    output_bytes = int(limits.get("output_bytes", 1 << 20))
    # A paired run: the host relays the program's stdout to its peer's sandbox and the peer's output back
    # as the program's stdin, while it runs (see "link" in the module docstring).
    link = bool(request.get("link"))
    stdin_data = b"" if link else base64.b64decode(request.get("stdin", ""))
    env = dict(BASE_ENV)
    env.update(request.get("env", {}))
    argv = [str(a) for a in request["argv"]]
    cwd = request.get("cwd", WORK_DIR)
    executable = resolve(argv[0], cwd, env["PATH"])
    if executable is None:
        return {"ok": True, "exec_error": f"{argv[0]}: not found or not executable"}

    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    oom_before = oom_kill_count()
    # Children a program detaches are reaped by nobody and so never in its rusage: the cgroup counts them.
    cpu_limit = float(limits.get("cpu_limit_s", 0.0))
    cpu_before = cgroup_cpu_s() if cpu_limit > 0 else None
    started = time.monotonic()
    python_main = request.get("python_main")
    pid = None
    if python_main is not None:
        child = {"cwd": cwd, "limits": limits, "env": env, **python_main}
        pid = ZYGOTE.fork([stdin_r, out_w, err_w], child)
    if pid is None:
        pid = os.fork()
        if pid == 0:  # the child: never returns; it runs no code of the runner's past requests but execs
            try:
                os.dup2(stdin_r, 0)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                os.closerange(3, 1 << 16)
                os.chdir(cwd)
                child_setup(limits)
                os.execve(executable, argv, env)
            except BaseException as exc:  # exec failed: tell the host on stderr, exit like a shell would
                try:
                    os.write(2, f"sandbox runner: cannot execute {argv[0]}: {exc}\n".encode())
                finally:
                    os._exit(127)
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)

    streams = {out_r: bytearray(), err_r: bytearray()}
    truncated = {out_r: False, err_r: False}
    pidfd = os.pidfd_open(pid)
    selector = selectors.DefaultSelector()
    selector.register(out_r, selectors.EVENT_READ)
    selector.register(err_r, selectors.EVENT_READ)
    selector.register(pidfd, selectors.EVENT_READ)
    pending_stdin = bytearray(stdin_data)
    stdin_done = not link  # no more stdin will come: close it once what is pending is written
    stdin_open = True
    relayed = 0
    if pending_stdin or link:
        os.set_blocking(stdin_w, False)
    if pending_stdin:
        selector.register(stdin_w, selectors.EVENT_WRITE)
    elif stdin_done:
        os.close(stdin_w)
        stdin_open = False
    if link:
        selector.register(0, selectors.EVENT_READ)

    killed_for: str | None = None
    status: int | None = None
    rusage: Any = None
    ended = started
    deadline = started + wall_s
    while status is None:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            killed_for = killed_for or "wall_time"
            os.killpg(pid, signal.SIGKILL)
            timeout = KILL_GRACE_S
        if cpu_before is not None and killed_for is None:
            used = cgroup_cpu_s()
            if used is not None and used - cpu_before >= cpu_limit:
                # The whole tree's CPU time, detached children's included: the program dies, and what it
                # detached dies with the rest once it has (below).
                killed_for = "cpu_time"
                os.killpg(pid, signal.SIGKILL)
            timeout = min(timeout, CPU_POLL_S)
        for key, _ in selector.select(timeout):
            fd = key.fd
            if fd == 0:  # the host, in a paired run: the peer's output, or its end
                message = read_message(0)
                if message is None:  # the host is gone: so is this run
                    selector.unregister(0)
                    killed_for = killed_for or "wall_time"
                    os.killpg(pid, signal.SIGKILL)
                    continue
                if message.get("op") == "in" and stdin_open:
                    if not pending_stdin:
                        selector.register(stdin_w, selectors.EVENT_WRITE)
                    pending_stdin += base64.b64decode(message.get("data", ""))
                elif message.get("op") == "eof":
                    stdin_done = True
                    if stdin_open and not pending_stdin:
                        os.close(stdin_w)
                        stdin_open = False
            elif fd == stdin_w:
                try:
                    del pending_stdin[: os.write(stdin_w, pending_stdin[:READ_CHUNK])]
                except (BrokenPipeError, BlockingIOError) as exc:
                    if isinstance(exc, BrokenPipeError):
                        pending_stdin.clear()
                        stdin_done = True  # the program closed its stdin: the rest is dropped
                if not pending_stdin:
                    selector.unregister(stdin_w)
                    if stdin_done:
                        os.close(stdin_w)
                        stdin_open = False
            elif fd == pidfd:
                _, status, rusage = os.wait4(pid, 0)
                ended = time.monotonic()
            elif link and fd == out_r:
                chunk = os.read(fd, READ_CHUNK)
                relayed += len(chunk)
                if not chunk:
                    selector.unregister(fd)
                    write_message(1, {"event": "eof"})
                elif relayed > output_bytes:  # a flood: as captured output would, it ends the run
                    selector.unregister(fd)
                    write_message(1, {"event": "eof"})
                    if killed_for is None:
                        killed_for = "output"
                        os.killpg(pid, signal.SIGKILL)
                else:
                    write_message(1, {"event": "out", "data": b64(chunk)})
            else:
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    selector.unregister(fd)
                    continue
                room = output_bytes - len(streams[fd])
                streams[fd] += chunk[:room]
                if len(chunk) > room:
                    truncated[fd] = True
                    if killed_for is None:
                        killed_for = "output"
                        os.killpg(pid, signal.SIGKILL)
    # The main process is gone: whatever it left behind (daemons, orphans) dies now, then the pipes drain.
    strays = kill_everything_else()
    for key in list(selector.get_map().values()):
        fd = key.fd
        if link and fd == out_r:  # what the program wrote before it ended still reaches the peer
            while relayed <= output_bytes:
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    break
                relayed += len(chunk)
                write_message(1, {"event": "out", "data": b64(chunk)})
            write_message(1, {"event": "eof"})
        elif fd in streams:
            while True:
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    break
                room = output_bytes - len(streams[fd])
                streams[fd] += chunk[:room]
                truncated[fd] = truncated[fd] or len(chunk) > room
    selector.close()
    for fd in (out_r, err_r, pidfd):
        os.close(fd)
    if stdin_open:
        os.close(stdin_w)
    oom_after = oom_kill_count()
    cpu_after = cgroup_cpu_s() if cpu_before is not None else None
    tree_cpu_s = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else 0.0
    # Read before /work is put back; every process of the run is dead, so nothing changes them meanwhile.
    fetched = fetch_files(cwd, request.get("fetch", []), int(request.get("fetch_limit", 0)))
    # The next run starts from the sealed program and nothing else (see the module docstring).
    wipe_problems = clean_after_run()
    if request.get("seal"):
        wipe_problems += SEAL.seal()

    reply: dict[str, Any] = {
        "ok": True,
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "stdout": b64(bytes(streams[out_r])),
        "stderr": b64(bytes(streams[err_r])),
        "stdout_truncated": truncated[out_r],
        "stderr_truncated": truncated[err_r],
        "wall_s": ended - started,
        "cpu_s": max(rusage.ru_utime + rusage.ru_stime, tree_cpu_s),
        "max_rss_kb": rusage.ru_maxrss,
        "killed_for": killed_for,
        "oom_kills": None if oom_before is None or oom_after is None else oom_after - oom_before,
        "strays": strays,
        "wipe_problems": wipe_problems,
        "files": fetched,
    }
    return reply


def fetch_files(workdir: str, names: list[str], limit: int) -> dict[str, str]:
    """The named regular files under ``workdir``, base64-encoded; missing ones, links out of ``workdir`` and
    what would pass ``limit`` bytes in total are left out."""
    found: dict[str, str] = {}
    total = 0
    root = os.path.realpath(workdir)
    for name in names:
        path = os.path.realpath(os.path.join(root, name))
        if not path.startswith(root + os.sep):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or total + info.st_size > limit:
                continue
            content = os.read(fd, info.st_size + 1)  # tmpfs: one read returns it all
        finally:
            os.close(fd)
        total += len(content)
        if total <= limit:
            found[name] = b64(content)
    return found


def write_files(request: dict[str, Any]) -> dict[str, Any]:
    for relative, content in request["files"].items():
        path = os.path.normpath(os.path.join(WORK_DIR, relative))
        if not path.startswith(WORK_DIR + "/"):
            return {"ok": False, "error": f"file outside the work dir: {relative!r}"}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(content))
        if request.get("executable"):
            os.chmod(path, 0o755)
    problems = SEAL.seal() if request.get("seal") else []
    if problems:
        return {"ok": False, "error": "; ".join(problems)}
    return {"ok": True}


class WorkSeal:
    """/work as it was after the write (and compile), put back after each run that changed anything.

    A change shows in the fingerprint: every entry's inode, mode, size, mtime and ctime (which no program can
    set back), and the set of entries itself.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, int, bytes]] | None = None
        self.fingerprint: dict[str, tuple[int, ...]] = {}

    def seal(self) -> list[str]:
        try:
            return self._seal()
        except Exception as exc:  # e.g. a compile that left something unreadable: no run may start from it
            self.clear()
            return [f"cannot seal /work: {type(exc).__name__}: {exc}"]

    def _seal(self) -> list[str]:
        entries: list[tuple[str, str, int, bytes]] = []
        total = 0
        for root, dirs, files in os.walk(WORK_DIR):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                path = os.path.join(root, name)
                info = os.lstat(path)
                relative = os.path.relpath(path, WORK_DIR)
                if stat.S_ISLNK(info.st_mode):
                    entries.append((relative, "l", 0, os.readlink(path).encode("utf-8", "surrogateescape")))
                elif stat.S_ISDIR(info.st_mode):
                    entries.append((relative, "d", stat.S_IMODE(info.st_mode), b""))
                elif stat.S_ISREG(info.st_mode):
                    with open(path, "rb") as f:
                        data = f.read()
                    total += len(data)
                    entries.append((relative, "f", stat.S_IMODE(info.st_mode), data))
                else:
                    return [f"cannot seal {path}: not a file, directory or link"]
                if total > SEAL_MAX_BYTES:
                    return [f"the program's files exceed {SEAL_MAX_BYTES >> 20} MB"]
        self.entries = entries
        self.fingerprint = work_fingerprint()
        return []

    def clear(self) -> None:
        self.entries, self.fingerprint = None, {}

    def restore(self) -> list[str]:
        if self.entries is None or not work_changed(self.fingerprint):
            return []
        problems = wipe((WORK_DIR,))
        if problems:
            return problems
        for relative, kind, mode, data in self.entries:
            path = os.path.join(WORK_DIR, relative)
            if kind == "d":
                os.mkdir(path, mode)
            elif kind == "l":
                os.symlink(data.decode("utf-8", "surrogateescape"), path)
            else:
                with open(path, "wb") as f:
                    f.write(data)
                os.chmod(path, mode)
        for relative, kind, mode, _ in self.entries:  # directories last: one may be read-only
            if kind == "d":
                os.chmod(os.path.join(WORK_DIR, relative), mode)
        self.fingerprint = work_fingerprint()
        return []


def fingerprint_of(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_nlink)


def work_fingerprint() -> dict[str, tuple[int, ...]]:
    """Every entry of /work (the sealed program: shallow, a few files) and its fingerprint."""
    found = {".": fingerprint_of(os.lstat(WORK_DIR))}
    for root, dirs, files in os.walk(WORK_DIR):
        for name in dirs + files:
            path = os.path.join(root, name)
            found[os.path.relpath(path, WORK_DIR)] = fingerprint_of(os.lstat(path))
    return found


def work_changed(sealed: dict[str, tuple[int, ...]]) -> bool:
    """Whether /work differs from ``sealed``. Stops at the first difference, so it never walks into what a
    run added (however deep), only through the sealed entries."""
    if fingerprint_of(os.lstat(WORK_DIR)) != sealed.get("."):
        return True
    seen = 1
    stack: list[tuple[str, int]] = [("", os.open(WORK_DIR, DIR_FLAGS))]
    try:
        while stack:
            prefix, fd = stack.pop()
            try:
                with os.scandir(fd) as entries:
                    listed = [(entry.name, entry.stat(follow_symlinks=False)) for entry in entries]
                for name, info in listed:
                    relative = prefix + name
                    if sealed.get(relative) != fingerprint_of(info):
                        return True
                    seen += 1
                    if stat.S_ISDIR(info.st_mode):
                        stack.append((relative + "/", os.open(name, DIR_FLAGS, dir_fd=fd)))
            finally:
                os.close(fd)
    finally:
        for _, fd in stack:
            os.close(fd)
    return seen != len(sealed)


SEAL = WorkSeal()


def remove_sysv_ipc() -> list[str]:
    """Remove every SysV shared-memory segment, semaphore set and message queue of the container's IPC
    namespace (their creator is this uid, so IPC_RMID is allowed); POSIX ones live in /dev/shm, /dev/mqueue."""
    problems = []
    removers: dict[str, Callable[[int], int]] = {
        "/proc/sysvipc/shm": lambda ident: LIBC.shmctl(ident, IPC_RMID, None),
        "/proc/sysvipc/sem": lambda ident: LIBC.semctl(ident, 0, IPC_RMID),
        "/proc/sysvipc/msg": lambda ident: LIBC.msgctl(ident, IPC_RMID, None),
    }
    for path, remove in removers.items():
        for ident in sysv_ids(path):
            if remove(ident) != 0:
                problems.append(f"cannot remove SysV IPC object {ident} ({path}): errno {ctypes.get_errno()}")
        if sysv_ids(path):
            problems.append(f"{path} is not empty after cleaning")
    return problems


def sysv_ids(path: str) -> list[int]:
    try:
        with open(path) as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return []
    return [int(row.split()[1]) for row in rows if row.strip()]


def clean_after_run() -> list[str]:
    problems = wipe(RUN_SCRATCH_DIRS)
    try:
        problems += remove_sysv_ipc()
        problems += SEAL.restore()
    except Exception as exc:  # a problem (the container is recycled), never a crash of the runner
        problems.append(f"cannot clean after the run: {type(exc).__name__}: {exc}")
    ZYGOTE.ensure()
    return problems


def reset() -> dict[str, Any]:
    problems = []
    strays = kill_everything_else()
    if strays:
        problems.append(f"{strays} process(es) were still running")
    SEAL.clear()
    problems += wipe(SCRATCH_DIRS)
    try:
        problems += remove_sysv_ipc()
    except Exception as exc:
        problems.append(f"cannot remove SysV IPC objects: {type(exc).__name__}: {exc}")
    ZYGOTE.ensure()
    return {"ok": True, "clean": not problems, "problems": problems}


def wipe(directories: tuple[str, ...]) -> list[str]:
    """Empty each directory; what could not be removed, as problems."""
    problems = []
    for directory in directories:
        try:
            remove_contents(directory)
            if os.listdir(directory):
                problems.append(f"{directory} is not empty after cleaning")
        except Exception as exc:  # whatever a run left, the answer is a problem (recycle), never a crash
            problems.append(f"cannot empty {directory}: {type(exc).__name__}: {exc}")
    return problems


def remove_contents(path: str) -> None:
    """Empty a directory however deep or locked a run made it: no recursion, no long paths (every step is
    relative to an open directory), write permission given back first (same uid)."""
    root = os.open(path, DIR_FLAGS)
    stack: list[tuple[int, list[str]]] = [(root, clear_files(root))]
    while stack:
        fd, subdirs = stack[-1]
        if subdirs:
            os.chmod(subdirs[-1], stat.S_IRWXU, dir_fd=fd)
            child = os.open(subdirs[-1], DIR_FLAGS, dir_fd=fd)
            stack.append((child, clear_files(child)))
            continue
        stack.pop()
        os.close(fd)
        if stack:
            parent, siblings = stack[-1]
            os.rmdir(siblings.pop(), dir_fd=parent)


def clear_files(fd: int) -> list[str]:
    """Unlink every entry of the open directory ``fd`` but its subdirectories; their names."""
    with os.scandir(fd) as entries:
        listed = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    for name, is_dir in listed:
        if not is_dir:
            os.unlink(name, dir_fd=fd)
    return [name for name, is_dir in listed if is_dir]


def handle(request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "hello":
        paths = {name: locate(name) for name in request.get("which", [])}
        return {
            "ok": True,
            "protocol": PROTOCOL,
            "uid": os.getuid(),
            "oom_counter": oom_kill_count() is not None,
            "fork_python": ZYGOTE.healthy(),
            "zygote_failure": ZYGOTE.failure,
            "seccomp": SECCOMP,
            "paths": paths,
        }
    if op == "write":
        return write_files(request)
    if op == "exec":
        return run_program(request)
    if op == "reset":
        return reset()
    return {"ok": False, "error": f"unknown op {op!r}"}


def zygote_main() -> None:
    """The zygote: warm, then fork a run for each set of pipes the runner hands over. It reads no data."""
    LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    sys.dont_write_bytecode = True
    warm_up()
    sock = socket.socket(fileno=ZYGOTE_FD)
    sock.sendall(b"R")
    while True:
        message, fds, _, _ = socket.recv_fds(sock, 1, 8)
        if not message:
            os._exit(0)
        if message != b"F" or len(fds) != 4:
            for fd in fds:
                os.close(fd)
            sock.sendall(b"E\n")
            continue
        failure = ""
        try:
            pid = fork_as_sibling()
        except OSError as exc:
            pid, failure = -1, str(exc)
        if pid == 0:
            start_forked_run(*fds)
        for fd in fds:
            os.close(fd)
        sock.sendall(b"K%d\n" % pid if pid > 0 else f"E {failure}\n".encode())


def start_forked_run(stdin_r: int, out_w: int, err_w: int, req_r: int) -> None:
    """In the run forked from the zygote: read its own request, become the program. Never returns."""
    try:
        os.close(ZYGOTE_FD)
        chunks = []
        while True:
            chunk = os.read(req_r, READ_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
        request = json.loads(b"".join(chunks))
        os.dup2(stdin_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)
        os.chdir(request["cwd"])
        child_setup(request["limits"])
        run_python_in_place(request["script"], list(request["args"]), request["env"], request["cwd"])
    except BaseException as exc:
        try:
            os.write(err_w, f"sandbox runner: cannot start the Python run: {exc}\n".encode())
        finally:
            os._exit(127)
    os._exit(127)


SECCOMP = ""


def main() -> None:
    global SECCOMP
    if sys.argv[1:] == ["zygote"]:
        zygote_main()
        return
    # Not dumpable: same-uid processes can neither ptrace the runner nor open its /proc files.
    LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    sys.dont_write_bytecode = True  # as -B: a run's /work must not gain __pycache__
    try:
        SECCOMP = install_seccomp()
    except OSError as exc:  # the host refuses a container whose hello does not say io_uring is denied
        SECCOMP = f"failed: {exc}"
    ZYGOTE.start()
    # The protocol owns fds 0 and 1; stderr stays for the runner's own last words.
    while True:
        request = read_message(0)
        if request is None:  # the host detached: stop, and the container is removed with us
            ZYGOTE.stop()
            kill_everything_else()
            return
        try:
            reply = handle(request)
        except Exception as exc:  # report the runner's own failure; the host recycles this container
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        write_message(1, reply)
        if request.get("op") == "exec" and request.get("link"):
            await_unlink()


def await_unlink() -> None:
    """After a paired run the host may still have relayed some of the peer's output: drop it, up to the
    host's "unlink", which says nothing more of this run will come."""
    while True:
        message = read_message(0)
        if message is None or message.get("op") == "unlink":
            return


if __name__ == "__main__":
    main()
