"""The zygote: a pre-started interpreter that forks one supervised run per request, before seeing it.

Runs inside the sandbox (under bubblewrap, or bare when isolation is off) with the sandbox's Python, and
imports only the standard library: it is executed as a script, never imported by the host. Keeping an
initialised interpreter around and forking it is what makes an isolated Python run cost about as much as
a fork instead of an interpreter start.

**The zygote never holds a run's data.** Its stdin is a unix socket carrying small orders with
descriptors attached (SCM_RIGHTS). ``cell`` (at start, one per concurrent run) forks a cell that joins
its own cgroup once. ``run`` hands a cell two pipes: one to read the request from, one to write the
report to. The cell forks a supervisor at once, before a byte of the request exists: the request
(program, files, stdin) is read by the supervisor only, and the report goes from it straight to the
host. So a run's memory, a copy of the zygote's, holds no trace of any other run::

    zygote ── fork ──► cell i: in cgroup i ── fork per run ──►
               supervisor (C1): reads the request; unshare(user, pid, mount, ipc, net, uts);
                  │  a fresh tmpfs /work with the program's files; writes stdin, reads
                  │  stdout/stderr up to the limit, kills at the wall deadline or when the
                  │  cgroup has used the run's CPU time; collects compile outputs; reports
                  └─ fork ──► run (C2): pid 1 of a fresh PID namespace; private /proc (kernel
                              command line masked), /tmp, /dev/shm; rlimits; no capabilities; the
                              seccomp filter; then execve(argv) or, in "python" mode, runs main.py
                              in this interpreter.

Everything a run can write is a tmpfs of its own mount namespace (the root, /etc, /dev are read-only,
set up by bubblewrap) and vanishes with it. Killing C2, the init of its PID namespace, makes the kernel
kill every process in that namespace and reap them before C2's exit is reported: nothing a run starts
(daemons, setsid, fork bombs) outlives it.
"""

from __future__ import annotations

import array
import atexit
import base64
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import resource
import runpy
import select
import shutil
import signal
import socket
import stat
import struct
import sys
import tempfile
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
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
# NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE, each with its lock, and KEEP_CAPS_LOCKED.
SECUREBITS = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80
CHUNK = 65536
CPU_POLL_S = 0.02
SECCOMP_FILE = "/sandbox/seccomp.bpf"
# /proc files that describe the host rather than the run: each is masked by an empty file.
# (Others that would, such as /proc/kcore or /proc/sched_debug, are readable by host root only.)
MASKED_PROC = ("/proc/cmdline",)
MAX_OUTPUT_FILES_BYTES = 512 * 1024 * 1024
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
SECCOMP_FILTER = b""


class SockFilterProgram(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    result = libc.mount(_bytes(source), _bytes(target), _bytes(fstype), ctypes.c_ulong(flags), _bytes(data))
    _check(result, f"mount {target}")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


# The run (C2 in the module docstring): from its fork to execve.


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


def _install_seccomp() -> None:
    if not SECCOMP_FILTER:
        raise OSError(errno.ENOENT, "no seccomp filter loaded")
    buffer = ctypes.create_string_buffer(SECCOMP_FILTER, len(SECCOMP_FILTER))
    program = SockFilterProgram(len(SECCOMP_FILTER) // 8, ctypes.addressof(buffer))
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0), "seccomp")


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
    """Private /proc, /tmp and /dev/shm, host facts in /proc masked; /work read-only unless writable."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for path in MASKED_PROC:
        if os.path.exists(path):
            _mount("/dev/null", path, None, MS_BIND)
    _mount("tmpfs", "/.proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
    tmp_mb = req["limits"]["file_size_mb"]
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=1777")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16m,mode=1777")
    if not req["writable"]:
        _mount(None, "/work", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _join_cgroup(procs_fds: list[int]) -> None:
    """Move this process (the supervisor, before its run exists) into the run's cgroup."""
    for fd in procs_fds:
        os.write(fd, b"0")  # "0": the writing process, whatever its PID namespace calls it
        os.close(fd)


def run_child(req: dict[str, Any], workdir: str, stdin_r: int, stdout_w: int, stderr_w: int, error_w: int) -> None:
    """C2. Never returns: execs or exits."""
    code = 126
    try:
        # Its own session and process group even when isolated: kill(0) and kill(-pgid) address a process
        # group across PID namespaces, and the zygote's group would otherwise be within reach.
        os.setsid()
        if req["isolated"]:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _isolated_filesystem(req)
        os.chdir(workdir)
        _set_rlimits(req)
        # The pipes may have taken numbers 0-2 (the cell closed the zygote's stdin): lift them first.
        stdin_r, stdout_w, stderr_w, error_w = (
            fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (stdin_r, stdout_w, stderr_w, error_w)
        )
        os.dup2(stdin_r, 0)
        os.dup2(stdout_w, 1)
        os.dup2(stderr_w, 2)
        os.closerange(3, error_w)
        os.closerange(error_w + 1, 65536)
        os.set_inheritable(error_w, False)
        if req["isolated"]:
            _drop_capabilities()
            _install_seccomp()
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
    # What the supervisor read (files, stdin) is this run's own, but drop it before the program runs.
    req.pop("files", None)
    req.pop("stdin", None)
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


# The supervisor (C1 in the module docstring).


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
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def _write_files(workdir: str, files: dict[str, list[Any]]) -> None:
    """The program's files (names checked by the host), written by the supervisor into the run's /work."""
    for name, (mode, content) in files.items():
        path = os.path.join(workdir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode & 0o755)
        try:
            write_all(fd, base64.b64decode(content))
        finally:
            os.close(fd)


def fetch_files(workdir: str, names: list[str], limit: int) -> dict[str, str]:
    """The named regular files under ``workdir`` (after the run: nothing writes them now), base64-encoded;
    missing ones, links out of ``workdir`` and what would pass ``limit`` bytes in total are left out."""
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
            content = read_all(fd)
        finally:
            os.close(fd)
        total += len(content)
        if total <= limit:
            found[name] = base64.b64encode(content).decode()
    return found


def _collect_outputs(workdir: str, before: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Regular files a compile created or changed in /work (never links, devices or FIFOs), for the host."""
    found: dict[str, list[Any]] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(workdir, followlinks=False):
        for name in filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                continue
            relative = os.path.relpath(path, workdir)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                content = read_all(fd)
            finally:
                os.close(fd)
            total += len(content)
            if total > MAX_OUTPUT_FILES_BYTES:
                raise OSError(errno.EFBIG, "compile outputs too large")
            encoded = base64.b64encode(content).decode()
            if before.get(relative, [None, None])[1] != encoded:
                found[relative] = [stat.S_IMODE(info.st_mode), encoded]
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return found


class CgroupReader:
    """The run's cgroup counters, through descriptors the host opened (see ``sandbox/cgroups.py``)."""

    def __init__(self, layout: dict[str, Any] | None, fds: list[int]) -> None:
        self.layout = layout or {}
        self.fds = fds
        self._cpu_base = 0.0
        self._oom_base = 0

    def start(self) -> None:
        """The cell's cgroup serves one run after another: count from here."""
        if self.present:
            self._cpu_base = self._cpu_total()
            self._oom_base = self._oom_total()

    def _read(self, key: str) -> str:
        index = self.layout.get(key)
        if index is None:
            return ""
        return os.pread(self.fds[index], 4096, 0).decode()

    @property
    def present(self) -> bool:
        return bool(self.layout)

    def cpu_s(self) -> float:
        return self._cpu_total() - self._cpu_base

    def _cpu_total(self) -> float:
        text = self._read("cpu")
        if not text:
            return 0.0
        if self.layout["version"] == "v1":
            return int(text.split()[0]) / 1e9
        return _field(text, "usage_usec") / 1e6

    def peak_mb(self) -> float:
        text = self._read("peak")
        return int(text.split()[0]) / (1024 * 1024) if text.strip() else 0.0

    def oom_kills(self) -> int:
        return self._oom_total() - self._oom_base

    def _oom_total(self) -> int:
        return int(_field(self._read("oom"), "oom_kill"))


def _field(text: str, name: str) -> float:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return float(parts[1])
    return 0.0


def supervise(layout: dict[str, Any], channel: socket.socket, cgroup_fds: list[int]) -> None:
    """C1. Forked ahead of its run: sets up the run's namespaces, then waits for its pipes from the cell;
    reads the request, runs it within the limits, reports, exits."""
    report: dict[str, Any] = {}
    result_w = -1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if layout["isolated"]:
            _enter_run_namespaces()
        _, fds = _receive(channel)
        channel.close()
        if len(fds) not in (2, 4):
            os._exit(0)
        request_r, result_w = fds[:2]
        link = fds[2:]  # a paired run: the run's stdin and stdout are pipes to its peer's sandbox
        req = json.loads(read_all(request_r))
        os.close(request_r)
        req["cgroup"] = layout.get("cgroup")
        report.update(_supervise(req, cgroup_fds, link))
    except BaseException as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        report.update(sandbox_error=f"supervisor failed: {type(exc).__name__}: {exc} (line {where.lineno})")
    try:
        if result_w >= 0:
            write_all(result_w, encode_frame(report))
    finally:
        os._exit(0)


def cell(layout: dict[str, Any], channel: socket.socket, cgroup_fds: list[int]) -> None:
    """A cell: joins its cgroup once, then keeps one supervisor forked ahead, born in that cgroup.

    Joining a cgroup takes a global kernel lock (milliseconds, more under load); a process forked by a
    member is born inside at no cost. The cell reads no request: it passes a run's pipes on to the
    supervisor waiting for them, and forks the next one.
    """
    procs = set((layout.get("cgroup") or {}).get("procs", ()))
    _join_cgroup([cgroup_fds[i] for i in procs])
    cgroup_fds = [-1 if i in procs else fd for i, fd in enumerate(cgroup_fds)]

    def fork_supervisor() -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if os.fork() == 0:
            channel.close()
            ours.close()
            supervise(layout, theirs, cgroup_fds)
        theirs.close()
        return ours

    waiting = fork_supervisor()
    while True:
        readable, _, _ = select.select([channel], [], [], 1.0)
        _reap()
        if not readable:
            continue
        message, fds = _receive(channel)
        if not message:
            os._exit(0)
        run = len(fds) in (2, 4)  # request and report pipes, and for a paired run the link to its peer
        try:
            if run:
                with contextlib.suppress(OSError):  # a dead supervisor: the run ends without a report
                    waiting.sendmsg([b"R"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        finally:
            for fd in fds:
                os.close(fd)  # before the next fork: no supervisor holds another run's pipes
        if run:
            waiting.close()
            waiting = fork_supervisor()


def _supervise(req: dict[str, Any], cgroup_fds: list[int], link: list[int]) -> dict[str, Any]:
    limits = req["limits"]
    cgroup = CgroupReader(req["cgroup"], cgroup_fds)
    if req["isolated"]:
        workdir = "/work"
        _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits['file_size_mb']}m,mode=0755")
    else:
        workdir = tempfile.mkdtemp(prefix="run-", dir=req["scratch"])
    try:
        _write_files(workdir, req["files"])
        report = _run(req, workdir, limits, cgroup, link)
        if req.get("collect", req["writable"]) and "start_error" not in report:
            report["outputs"] = _collect_outputs(workdir, req["files"])
        if req.get("fetch") and "start_error" not in report:
            report["fetched"] = fetch_files(workdir, req["fetch"], req["fetch_limit"])
    finally:
        if not req["isolated"]:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def _run(
    req: dict[str, Any], workdir: str, limits: dict[str, Any], cgroup: CgroupReader, link: list[int]
) -> dict[str, Any]:
    if link:
        # Paired: the run reads its peer's output and writes its own to the peer, with no copy here.
        # Dummy ends stand in for ours so that the loop below reads stderr only and writes nothing.
        stdin_r, stdout_w = link
        stdout_r, stdin_w = os.open(os.devnull, os.O_RDONLY), os.open(os.devnull, os.O_WRONLY)
    else:
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    error_r, error_w = os.pipe()
    cgroup.start()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        run_child(req, workdir, stdin_r, stdout_w, stderr_w, error_w)
    for fd in (stdin_r, stdout_w, stderr_w, error_w):
        os.close(fd)
    stdin_data = base64.b64decode(req.pop("stdin"))
    deadline = started + limits["wall_time_s"]
    cpu_limit = float(limits["cpu_time_s"])
    cap = limits["output_bytes"]
    out = {stdout_r: bytearray(), stderr_r: bytearray()}
    truncated = {stdout_r: False, stderr_r: False}
    verdict = ""
    open_readers = {stderr_r} if link else {stdout_r, stderr_r}
    writer: int | None = stdin_w
    if not stdin_data or link:
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
        if cgroup.present and cgroup.cpu_s() >= cpu_limit:
            break  # the whole tree used its CPU time: killed below, reported as a CPU-limit kill
        readable, writable, _ = select.select(
            list(open_readers),
            [writer] if writer is not None else [],
            [],
            min(remaining, CPU_POLL_S) if cgroup.present else remaining,
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
    if verdict or open_readers:
        _kill(pid, req["isolated"])
    # Output closed (or we killed it): wait for the exit, but never past the deadline.
    status, rusage = _wait(pid, deadline, req["isolated"], cgroup, cpu_limit)
    if status is None:
        verdict = verdict or "timeout"
        status, rusage = _wait(pid, None, req["isolated"], cgroup, cpu_limit)
    wall = time.monotonic() - started
    if not req["isolated"]:
        _kill(pid, False)  # leftovers of the group (setsid escapes it: isolation is off, and says so)
    error = os.read(error_r, 8192).decode(errors="replace")
    if writer is not None:
        os.close(writer)
    assert status is not None
    cpu = rusage.ru_utime + rusage.ru_stime
    peak = rusage.ru_maxrss / 1024
    report: dict[str, Any] = {
        "stdout": base64.b64encode(bytes(out[stdout_r])).decode(),
        "stderr": base64.b64encode(bytes(out[stderr_r])).decode(),
        "stdout_truncated": truncated[stdout_r],
        "stderr_truncated": truncated[stderr_r],
        "wall_time_s": wall,
        # The cgroup counts the whole tree, also what was never waited for.
        "cpu_time_s": max(cpu, cgroup.cpu_s()),
        "peak_memory_mb": max(peak, cgroup.peak_mb()),
        "oom_kills": cgroup.oom_kills() if cgroup.present else 0,
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


def _wait(
    pid: int, deadline: float | None, isolated: bool, cgroup: CgroupReader, cpu_limit: float
) -> tuple[int | None, Any]:
    polls = 0
    while True:
        wpid, status, rusage = os.wait4(pid, os.WNOHANG if deadline is not None else 0)
        if wpid == pid:
            return status, rusage
        if deadline is not None and time.monotonic() >= deadline:
            _kill(pid, isolated)
            return None, None
        polls += 1
        if cgroup.present and polls % 40 == 0 and cgroup.cpu_s() >= cpu_limit:
            _kill(pid, isolated)  # output closed but children still compute: the tree's CPU limit holds
        time.sleep(0.0005)


# The zygote itself: warm-up and the order loop (main).


def _warm_up() -> None:
    """Pay once, here, for what the first ``runpy.run_path`` imports lazily (~6 ms), not in every fork."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    with tempfile.TemporaryDirectory() as directory:
        script = os.path.join(directory, "warm.py")
        with open(script, "w") as f:
            f.write("import typing\n")
        runpy.run_path(script, run_name="__main__")


def _receive(control: socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    message, ancillary, _, _ = control.recvmsg(4096, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return message, list(fds)


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def main() -> None:
    global SECCOMP_FILTER
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if "--isolated" in sys.argv:
        # A proc mount with nothing mounted over it: the kernel lets a nested user namespace mount a new
        # proc only if a "fully visible" one exists, and bubblewrap's /proc has read-only overmounts.
        _mount("proc", "/.proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        with open(SECCOMP_FILE, "rb") as f:
            SECCOMP_FILTER = f.read()
    control = socket.socket(fileno=sys.stdin.fileno())
    _warm_up()
    write_all(sys.stdout.fileno(), encode_frame({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0]}))
    cells: dict[int, socket.socket] = {}
    while True:
        readable, _, _ = select.select([control], [], [], 1.0)
        _reap()
        if not readable:
            continue
        message, fds = _receive(control)
        if not message:
            break  # the host is gone or closing: runs in flight finish on their own
        order = json.loads(message)
        index = int(order["cell"])
        try:
            if order["op"] == "cell":
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                if os.fork() == 0:
                    control.close()
                    ours.close()
                    for other in cells.values():
                        other.close()
                    cell(order["layout"], theirs, fds)
                theirs.close()
                if index in cells:
                    cells.pop(index).close()
                cells[index] = ours
            elif order["op"] == "run" and index in cells:
                handed = array.array("i", fds)
                try:
                    cells[index].sendmsg([b"R"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, handed)])
                except OSError:
                    cells.pop(index).close()  # a dead cell: the host sees the run end without a report
        finally:
            for fd in fds:
                os.close(fd)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
