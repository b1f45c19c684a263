"""The host's side of the zygote: start it, give it cells, run requests in them.

The zygote (``_zygote.py``) is driven through a unix socket on its stdin: small orders with descriptors
attached. ``spawn_cell`` hands it a cgroup's files; it forks a cell that joins that cgroup once.
``run`` hands a cell the read end of a request pipe and the write end of a report pipe; the cell forks a
supervisor with them; the host writes the request (program files, stdin, limits) into the one and reads
the report from the other, straight to and from that supervisor. The zygote itself never reads or
writes a byte of any run.

If the zygote dies, every run not yet handed over fails with ``SandboxUnavailable``; runs already
handed over finish (their supervisors do not depend on it).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import struct
from collections.abc import Sequence
from typing import Any

from sandbox.errors import SandboxUnavailable

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 20.0
# A supervisor reports at the run's wall-time limit plus the time to kill and reap it.
REPORT_GRACE_S = 30.0
ZYGOTE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class Zygote:
    def __init__(
        self,
        command: Sequence[str],
        *,
        user: int | None = None,
        group: int | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self._command = list(command)
        self._user = user
        self._group = group
        self._pass_fds = tuple(pass_fds)
        self._proc: asyncio.subprocess.Process | None = None
        self._control: socket.socket | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self.failure: str | None = None
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int | None:
        """The host pid of the zygote's outermost process (bubblewrap, or the interpreter when bare)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and self.failure is None

    async def start(self) -> None:
        command = self._command
        if self._user is not None:
            # setpriv rather than subprocess's user=/group=: uvloop (uvicorn's loop) does not take those.
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                raise SandboxUnavailable("setpriv (util-linux) is needed to drop root for the sandbox")
            ids = ["--reuid", str(self._user), "--regid", str(self._group or self._user), "--clear-groups"]
            command = [setpriv, *ids, "--", *command]
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command,
                # Never the service's environment (API keys...): /proc/<zygote>/environ keeps what it started with.
                env=ZYGOTE_ENV,
                stdin=theirs.fileno(),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                pass_fds=self._pass_fds,
            )
        except OSError as exc:
            ours.close()
            raise SandboxUnavailable(f"cannot start the sandbox zygote: {exc}") from exc
        finally:
            theirs.close()
        self._control = ours
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._stderr_task = asyncio.create_task(self._drain_stderr(self._proc.stderr))
        try:
            ready = await asyncio.wait_for(self._read_ready(self._proc.stdout), STARTUP_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.aclose()
            raise SandboxUnavailable(f"the sandbox zygote did not start: {self.failure or exc!r}") from exc
        self.info = ready
        self._watch = asyncio.create_task(self._watch_exit(self._proc.stdout))

    def _order(self, order: dict[str, Any], fds: Sequence[int]) -> None:
        if not self.alive or self._control is None:
            raise SandboxUnavailable(f"the sandbox zygote is not running: {self.failure or 'stopped'}")
        try:
            handed = array.array("i", fds)
            self._control.sendmsg([json.dumps(order).encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, handed)])
        except OSError as exc:
            self.failure = self.failure or f"zygote control socket: {exc}"
            raise SandboxUnavailable(f"the sandbox zygote is gone: {exc}") from exc

    def spawn_cell(self, index: int, layout: dict[str, Any], fds: Sequence[int] = ()) -> None:
        """Fork (or replace) cell ``index``: it joins the cgroup whose files are ``fds`` (see ``layout``)."""
        self._order({"op": "cell", "cell": index, "layout": layout}, fds)

    async def run(
        self, cell: int, payload: dict[str, Any], *, timeout_s: float, link: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        """Have ``cell`` fork a supervisor, send it the request and read its report.

        ``link`` (a paired run): the read end the run takes as stdin and the write end it takes as stdout,
        pipes to its peer's run. They are handed over and closed here, whatever happens, so that each side
        sees end of file when the other is gone.
        """
        request_r, request_w = os.pipe()
        report_r, report_w = os.pipe()
        handed = [request_r, report_w, *(link or ())]
        try:
            self._order({"op": "run", "cell": cell}, handed)
        except SandboxUnavailable:
            os.close(request_w)
            os.close(report_r)
            raise
        finally:
            for fd in handed:
                os.close(fd)
        try:
            async with asyncio.timeout(timeout_s + REPORT_GRACE_S):
                await _write_pipe(request_w, json.dumps(payload).encode())  # closes request_w
                report = await _read_frame(report_r)
        except TimeoutError as exc:
            raise SandboxUnavailable("the sandbox supervisor did not report in time") from exc
        finally:
            os.close(report_r)
        if len(report) < 4 or len(report) < 4 + struct.unpack(">I", report[:4])[0]:
            if not self.alive:
                why = self.failure or f"exit status {self._proc.returncode if self._proc else '?'}"
                raise SandboxUnavailable(f"the sandbox zygote died: {why}")
            return {"sandbox_error": "the run's supervisor died without a report"}
        (size,) = struct.unpack(">I", report[:4])
        frame: dict[str, Any] = json.loads(report[4 : 4 + size])
        return frame

    async def _read_ready(self, stream: asyncio.StreamReader) -> dict[str, Any]:
        header = await stream.readexactly(4)
        (size,) = struct.unpack(">I", header)
        frame: dict[str, Any] = json.loads(await stream.readexactly(size))
        return frame

    async def _watch_exit(self, stream: asyncio.StreamReader) -> None:
        """The zygote writes nothing after ``ready``: end of its stdout is its death."""
        with contextlib.suppress(ConnectionError):
            while await stream.read(4096):
                pass
        self.failure = self.failure or "zygote exited"

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            text = line.decode(errors="replace").rstrip()
            log.warning("sandbox zygote: %s", text)
            self.failure = self.failure or (text if "rror" in text else None)

    async def aclose(self) -> None:
        proc = self._proc
        if self._control is not None:
            self._control.close()  # end of the control stream: the zygote exits
            self._control = None
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        tasks = [task for task in (self._watch, self._stderr_task) if task is not None]
        if tasks and proc is not None:
            # Let the readers see EOF: a pipe whose reader is cancelled first stays open (uvloop warns).
            await asyncio.wait(tasks, timeout=1.0)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.failure = self.failure or "closed"


def _wake(ready: asyncio.Future[None]) -> None:
    # The fd's callback may already be queued when a timeout cancels the waiter.
    if not ready.done():
        ready.set_result(None)


async def _write_pipe(fd: int, data: bytes) -> None:
    """Write all of ``data`` to a pipe without blocking the loop, then close it."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    try:
        os.set_blocking(fd, False)
        while view:
            try:
                written = os.write(fd, view)
                view = view[written:]
                continue
            except BlockingIOError:
                pass
            ready = loop.create_future()
            loop.add_writer(fd, _wake, ready)
            try:
                await ready
            finally:
                loop.remove_writer(fd)
    except BrokenPipeError:
        pass  # the supervisor died: its report (or its absence) says why
    finally:
        os.close(fd)


async def _read_frame(fd: int) -> bytes:
    """Read one length-prefixed frame from a pipe without blocking the loop (or what came before EOF).

    The frame is complete before its writer has finished exiting: no need to wait for end of file.
    """
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    data = bytearray()
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            ready = loop.create_future()
            loop.add_reader(fd, _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            continue
        if not chunk:
            break
        data += chunk
    return bytes(data)
