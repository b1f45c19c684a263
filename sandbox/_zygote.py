"""The zygote: a pre-started interpreter that forks one supervised run per request.

Runs inside the sandbox (under bubblewrap, or bare when isolation is off) with the sandbox's Python, and
imports only the standard library: it is executed as a script, never imported by the host. Keeping an
initialised interpreter around and forking it is what makes an isolated Python run cost about as much as
a fork instead of an interpreter start.

Per request (host → zygote frames on stdin, results on stdout; a frame is a 4-byte big-endian length and
a JSON object)::

    zygote ── fork ──► supervisor (C1): unshare(user, pid, mount, ipc, net, uts) when isolated
                          │  writes stdin, reads stdout/stderr up to the limit, kills at the deadline
                          └─ fork ──► run (C2): pid 1 of a fresh PID namespace; private /proc, /tmp,
                                      /dev/shm; /work = this program's directory; rlimits; no capabilities;
                                      then execve(argv) or, in "python" mode, runs main.py in this
                                      already-initialised interpreter.

Killing C2, the init of its PID namespace, makes the kernel kill every process in that namespace and
reap them before C2's exit is reported: nothing a run starts (daemons, setsid, fork bombs) outlives it.
A separate user namespace per run also gives each run its own RLIMIT_NPROC count.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import errno
import json
import os
import resource
import runpy
import select
import signal
import struct
import sys
import threading
import time
import traceback
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
# NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE, each with its lock, and KEEP_CAPS_LOCKED.
SECUREBITS = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80
CHUNK = 65536
# Modules user programs commonly import, loaded once in the zygote so a forked run finds them ready.
PRELOAD = (
    "bisect",
    "collections",
    "functools",
    "heapq",
    "itertools",
    "math",
    "random",
    "re",
    "string",
    "typing",
)

libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    result = libc.mount(_bytes(source), _bytes(target), _bytes(fstype), ctypes.c_ulong(flags), _bytes(data))
    _check(result, f"mount {target}")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def pop_frames(buffer: bytearray) -> list[dict[str, Any]]:
    """Remove and return the complete frames at the start of ``buffer``."""
    frames = []
    while len(buffer) >= 4:
        (size,) = struct.unpack(">I", buffer[:4])
        if len(buffer) < 4 + size:
            break
        frames.append(json.loads(bytes(buffer[4 : 4 + size])))
        del buffer[: 4 + size]
    return frames


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# ---------------------------------------------------------------- C2: the run itself


def _drop_capabilities() -> None:
    """No capabilities, now or after execve, even though the run is uid 0 of its own user namespace."""
    _check(libc.prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0), "securebits")
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    # capset(version 3, pid 0) with all-zero sets.
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(libc.syscall(126, header, data), "capset")  # 126 = capset on x86_64
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _set_rlimits(req: dict[str, Any]) -> None:
    limits = req["limits"]
    cpu = max(1, int(limits["cpu_time_s"] + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if req.get("address_space_limit", True):
        memory = limits["memory_mb"] * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    file_size = limits["file_size_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if req["isolated"]:
        # Counted per user namespace, and every isolated run has its own: this bounds this run only.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"], limits["max_processes"]))


def _isolated_filesystem(req: dict[str, Any]) -> None:
    """Private /proc, /tmp and /dev/shm; this program's directory at /work; other programs hidden."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount("tmpfs", "/.proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
    tmp_mb = req["limits"]["file_size_mb"]
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=1777")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16m,mode=1777")
    job = os.path.join("/jobs", req["job"])
    _mount(job, "/work", None, MS_BIND | MS_REC)
    if not req["writable"]:
        _mount(None, "/work", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _mount("tmpfs", "/jobs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")


def run_child(req: dict[str, Any], stdin_r: int, stdout_w: int, stderr_w: int, error_w: int) -> None:
    """C2. Never returns: execs or exits."""
    code = 126
    try:
        # Its own session and process group even when isolated: kill(0) and kill(-pgid) address a process
        # group across PID namespaces, and the zygote's group would otherwise be within reach.
        os.setsid()
        if req["isolated"]:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _isolated_filesystem(req)
            workdir = "/work"
        else:
            workdir = req["workdir"]
        os.chdir(workdir)
        _set_rlimits(req)
        if req["isolated"]:
            _drop_capabilities()
        os.dup2(stdin_r, 0)
        os.dup2(stdout_w, 1)
        os.dup2(stderr_w, 2)
        os.closerange(3, error_w)
        os.closerange(error_w + 1, 65536)
        os.set_inheritable(error_w, False)
        env = dict(req["env"])
        if req["mode"] == "python":
            run_python_in_place(req, env, workdir, error_w)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        os.execvpe(req["argv"][0], req["argv"], env)
    except BaseException as exc:  # report why the run could not start, then die
        with contextlib.suppress(OSError):
            os.write(error_w, f"{type(exc).__name__}: {exc}".encode()[:4000])
    os._exit(code)


def run_python_in_place(req: dict[str, Any], env: dict[str, str], workdir: str, error_w: int) -> None:
    """Run ``main.py`` in this interpreter as ``python main.py argv...`` would, then exit."""
    os.close(error_w)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [req["script"], *req["args"]]
    sys.path[0] = workdir
    sys.stdin = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)  # noqa: SIM115
    code = 0
    try:
        runpy.run_path(req["script"], run_name="__main__")
    except SystemExit as exc:
        code = _exit_code(exc)
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


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    with contextlib.suppress(BaseException):
        print(exc.code, file=sys.stderr)
    return 1


# ---------------------------------------------------------------- C1: the supervisor


def _enter_run_namespaces() -> None:
    uid, gid = os.getuid(), os.getgid()
    _check(
        libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS),
        "unshare",
    )
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def supervise(req: dict[str, Any], result_w: int) -> None:
    """C1. Starts the run, feeds and drains it within the limits, reports, exits."""
    report: dict[str, Any] = {"id": req["id"]}
    try:
        report.update(_supervise(req))
    except BaseException as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        report.update(sandbox_error=f"supervisor failed: {type(exc).__name__}: {exc} (line {where.lineno})")
    try:
        write_all(result_w, encode_frame(report))
    finally:
        os._exit(0)


def _supervise(req: dict[str, Any]) -> dict[str, Any]:
    limits = req["limits"]
    if req["isolated"]:
        _enter_run_namespaces()
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    error_r, error_w = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        run_child(req, stdin_r, stdout_w, stderr_w, error_w)
    for fd in (stdin_r, stdout_w, stderr_w, error_w):
        os.close(fd)
    stdin_data = base64.b64decode(req["stdin"])
    deadline = started + limits["wall_time_s"]
    cap = limits["output_bytes"]
    out = {stdout_r: bytearray(), stderr_r: bytearray()}
    truncated = {stdout_r: False, stderr_r: False}
    verdict = ""
    open_readers = {stdout_r, stderr_r}
    writer: int | None = stdin_w
    if not stdin_data:
        os.close(stdin_w)
        writer = None
    else:
        os.set_blocking(stdin_w, False)
    sent = 0
    while open_readers and not verdict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            verdict = "timeout"
            break
        readable, writable, _ = select.select(
            list(open_readers), [writer] if writer is not None else [], [], remaining
        )
        for fd in readable:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                open_readers.discard(fd)
                continue
            room = cap - len(out[fd])
            out[fd] += chunk[:room]
            if len(chunk) > room:
                truncated[fd] = True
                verdict = "output_limit"
        if writable and writer is not None:
            try:
                sent += os.write(writer, stdin_data[sent : sent + CHUNK])
            except (BrokenPipeError, BlockingIOError) as exc:
                if isinstance(exc, BrokenPipeError):
                    sent = len(stdin_data)
            if sent >= len(stdin_data):
                os.close(writer)
                writer = None
    if verdict:
        _kill(pid, req["isolated"])
    # Output closed (or we killed it): wait for the exit, but never past the deadline.
    status, rusage = _wait(pid, deadline, req["isolated"])
    if status is None:
        verdict = verdict or "timeout"
        status, rusage = _wait(pid, None, req["isolated"])
    wall = time.monotonic() - started
    if not req["isolated"]:
        _kill(pid, False)  # leftovers of the group (setsid escapes it: isolation is off, and says so)
    error = os.read(error_r, 8192).decode(errors="replace")
    if writer is not None:
        os.close(writer)
    assert status is not None
    report: dict[str, Any] = {
        "stdout": base64.b64encode(bytes(out[stdout_r])).decode(),
        "stderr": base64.b64encode(bytes(out[stderr_r])).decode(),
        "stdout_truncated": truncated[stdout_r],
        "stderr_truncated": truncated[stderr_r],
        "wall_time_s": wall,
        "cpu_time_s": rusage.ru_utime + rusage.ru_stime,
        "peak_memory_mb": rusage.ru_maxrss / 1024,
        "verdict": verdict,
    }
    if os.WIFSIGNALED(status):
        report["signal"] = os.WTERMSIG(status)
    else:
        report["exit_code"] = os.WEXITSTATUS(status)
    if error:
        report["start_error"] = error
    return report


def _kill(pid: int, isolated: bool) -> None:
    try:
        if isolated:
            os.kill(pid, signal.SIGKILL)  # init of its PID namespace: the kernel kills the rest
        else:
            os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait(pid: int, deadline: float | None, isolated: bool) -> tuple[int | None, Any]:
    while True:
        wpid, status, rusage = os.wait4(pid, os.WNOHANG if deadline is not None else 0)
        if wpid == pid:
            return status, rusage
        if deadline is not None and time.monotonic() >= deadline:
            _kill(pid, isolated)
            return None, None
        time.sleep(0.0005)


# ---------------------------------------------------------------- the zygote loop


def _warm_up() -> None:
    """Pay once, here, for what the first ``runpy.run_path`` imports lazily (~6 ms), not in every fork."""
    import importlib
    import tempfile

    for name in PRELOAD:
        importlib.import_module(name)
    with tempfile.TemporaryDirectory() as directory:
        script = os.path.join(directory, "warm.py")
        with open(script, "w") as f:
            f.write("import typing\n")
        runpy.run_path(script, run_name="__main__")


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if "--isolated" in sys.argv:
        # A proc mount with nothing mounted over it: the kernel lets a nested user namespace mount a new
        # proc only if a "fully visible" one exists, and bubblewrap's /proc has read-only overmounts.
        _mount("proc", "/.proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    request_fd = sys.stdin.fileno()
    out_fd = sys.stdout.fileno()
    inbox = bytearray()
    _warm_up()
    write_all(out_fd, encode_frame({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0]}))
    pending: dict[int, tuple[int, bytearray, int]] = {}  # result fd -> (request id, buffer, supervisor pid)
    accepting = True
    while accepting or pending:
        readable, _, _ = select.select([request_fd, *pending] if accepting else list(pending), [], [])
        if request_fd in readable:
            data = os.read(request_fd, CHUNK)
            if not data:
                accepting = False  # the host is gone or closing: finish the runs in flight, then exit
            inbox.extend(data)
        for req in pop_frames(inbox) if request_fd in readable else ():
            result_r, result_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(result_r)
                for fd in list(pending):
                    os.close(fd)
                supervise(req, result_w)
            os.close(result_w)
            pending[result_r] = (req["id"], bytearray(), pid)
            del req
        for fd in readable:
            if fd == request_fd or fd not in pending:
                continue
            chunk = os.read(fd, CHUNK)
            if chunk:
                pending[fd][1].extend(chunk)
                continue
            request_id, buffer, pid = pending.pop(fd)
            os.close(fd)
            os.waitpid(pid, 0)
            if len(buffer) >= 4:
                write_all(out_fd, bytes(buffer))
            else:
                write_all(out_fd, encode_frame({"id": request_id, "sandbox_error": "supervisor died"}))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
