"""The runner kept inside each warm sandbox container: it receives programs over its stdin and forks per run.

It is the container's PID 1 and runs under the same unprivileged uid as the programs it starts, with every
capability dropped. Two kernel rules keep a hostile program from killing or hijacking it anyway:
- a PID namespace's init only receives the signals it installed a handler for, so SIGKILL/SIGSTOP sent from
  inside the container never reach it;
- it marks itself non-dumpable, so processes of the same uid cannot ptrace it or open /proc/1/fd or mem.

Wire protocol (version 1), on the attached stdin/stdout: every message is a 4-byte big-endian length then
that many bytes of UTF-8 JSON. Byte strings travel base64-encoded. One request at a time, one reply each:

    {"op": "hello", "which": [names]}            -> {"ok": true, "protocol": 1, "uid": ..., "paths": {name: path}}
    {"op": "write", "files": {path: b64}}        -> {"ok": true}           (paths relative to /work)
    {"op": "exec", "argv": [...], "stdin": b64, "env": {...}, "limits": {...}, "python_main": path?}
                                                 -> {"ok": true, "exit_code"|"signal", "stdout": b64, ...}
       (with "python_main", argv being [python3, path, args...]: a fork of the warm runner runs the script
        in place instead of exec'ing a fresh interpreter; "hello" says "fork_python": true when supported)
                                                    or {"ok": true, "exec_error": "..."} if argv[0] is missing
    {"op": "reset"}                              -> {"ok": true, "clean": bool, "problems": [...]}

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
import stat
import struct
import sys
import threading
import time
import traceback
from typing import Any

PROTOCOL = 1
WORK_DIR = "/work"
SCRATCH_DIRS = ("/work", "/tmp", "/dev/shm")
RUN_SCRATCH_DIRS = ("/tmp", "/dev/shm")
PR_SET_DUMPABLE = 4
KILL_GRACE_S = 0.5
READ_CHUNK = 65536
# cgroup v1 reports OOM kills in memory.oom_control, cgroup v2 in memory.events; docker mounts the
# container's own cgroup at /sys/fs/cgroup (read-only).
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


def other_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()]


def reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_everything_else() -> int:
    """SIGKILL every other process of the container; returns how many there were.

    As PID 1, kill(-1) reaches every process of the namespace but the runner itself. Repeat until /proc is
    empty so that a fork bomb racing the first kill cannot survive it.
    """
    seen = len(other_pids())
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        reap_all()
        if not other_pids():
            return seen
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)
        time.sleep(0.001)
    return seen


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


def run_python_in_place(script: str, args: list[str], env: dict[str, str], cwd: str) -> None:
    """In a forked child: run ``script`` as ``python3 -E -s -B script args...`` would, then exit.

    The runner has already imported the interpreter's start-up and the modules programs commonly use
    (``PRELOAD``), so a forked run skips ~40 ms of interpreter start and ~100 ms of imports. Each run is a
    fresh fork of a runner that never ran user code, so runs see nothing of each other.
    """
    # The runner is non-dumpable; a run may read its own /proc files as a fresh interpreter could.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
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
    """Import once, in the runner, what forked Python runs would otherwise import each time."""
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
    stdin_data = base64.b64decode(request.get("stdin", ""))
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
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.dup2(stdin_r, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.closerange(3, 1 << 16)
            os.chdir(cwd)
            child_setup(limits)
            python_main = request.get("python_main")
            if python_main is not None:
                run_python_in_place(python_main, argv[2:], env, cwd)
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
    pending_stdin = memoryview(stdin_data)
    if pending_stdin:
        os.set_blocking(stdin_w, False)
        selector.register(stdin_w, selectors.EVENT_WRITE)
    else:
        os.close(stdin_w)

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
        for key, _ in selector.select(timeout):
            fd = key.fd
            if fd == stdin_w:
                try:
                    pending_stdin = pending_stdin[os.write(stdin_w, pending_stdin[:READ_CHUNK]) :]
                except (BrokenPipeError, BlockingIOError) as exc:
                    if isinstance(exc, BrokenPipeError):
                        pending_stdin = pending_stdin[:0]
                if not pending_stdin:
                    selector.unregister(stdin_w)
                    os.close(stdin_w)
            elif fd == pidfd:
                _, status, rusage = os.wait4(pid, 0)
                ended = time.monotonic()
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
        if fd in streams:
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
    if pending_stdin:
        os.close(stdin_w)
    oom_after = oom_kill_count()
    # Each run starts with an empty /tmp and /dev/shm, as on the process backend; /work keeps the program.
    wipe_problems = wipe(RUN_SCRATCH_DIRS)

    reply: dict[str, Any] = {
        "ok": True,
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "stdout": b64(bytes(streams[out_r])),
        "stderr": b64(bytes(streams[err_r])),
        "stdout_truncated": truncated[out_r],
        "stderr_truncated": truncated[err_r],
        "wall_s": ended - started,
        "cpu_s": rusage.ru_utime + rusage.ru_stime,
        "max_rss_kb": rusage.ru_maxrss,
        "killed_for": killed_for,
        "oom_kills": None if oom_before is None or oom_after is None else oom_after - oom_before,
        "strays": strays,
        "wipe_problems": wipe_problems,
    }
    return reply


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
    return {"ok": True}


def make_removable(path: str) -> None:
    """A program may have made its files read-only; same uid, so give write permission back first."""
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), stat.S_IRWXU)


def reset() -> dict[str, Any]:
    problems = []
    strays = kill_everything_else()
    if strays:
        problems.append(f"{strays} process(es) were still running")
    problems += wipe(SCRATCH_DIRS)
    return {"ok": True, "clean": not problems, "problems": problems}


def wipe(directories: tuple[str, ...]) -> list[str]:
    """Empty each directory; what could not be removed, as problems."""
    problems = []
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError as exc:
            problems.append(f"cannot list {directory}: {exc}")
            continue
        for name in names:
            path = os.path.join(directory, name)
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    os.chmod(path, stat.S_IRWXU)
                    make_removable(path)
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
            except OSError as exc:
                problems.append(f"cannot remove {path}: {exc}")
        try:
            if os.listdir(directory):
                problems.append(f"{directory} is not empty after cleaning")
        except OSError:
            pass
    return problems


def handle(request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "hello":
        paths = {name: shutil.which(name, path=BASE_ENV["PATH"]) for name in request.get("which", [])}
        return {
            "ok": True,
            "protocol": PROTOCOL,
            "uid": os.getuid(),
            "oom_counter": oom_kill_count() is not None,
            "fork_python": True,
            "paths": paths,
        }
    if op == "write":
        return write_files(request)
    if op == "exec":
        return run_program(request)
    if op == "reset":
        return reset()
    return {"ok": False, "error": f"unknown op {op!r}"}


def main() -> None:
    # Not dumpable: same-uid processes can neither ptrace the runner nor open its /proc files.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    sys.dont_write_bytecode = True  # as -B: a run's /work must not gain __pycache__
    warm_up()
    # The protocol owns fds 0 and 1; stderr stays for the runner's own last words.
    while True:
        request = read_message(0)
        if request is None:  # the host detached: stop, and the container is removed with us
            kill_everything_else()
            return
        try:
            reply = handle(request)
        except Exception as exc:  # report the runner's own failure; the host recycles this container
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        write_message(1, reply)


if __name__ == "__main__":
    main()
