"""The host's side of the zygote: start it, send run requests, match answers to requests.

The zygote (``_zygote.py``) answers requests out of order as runs finish, so one zygote serves every
concurrent run of a backend. If it dies, every pending request fails with ``SandboxUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import shutil
import struct
from collections.abc import Sequence
from typing import Any

from sandbox.errors import SandboxUnavailable

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 20.0


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


ZYGOTE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}

class Zygote:
    def __init__(self, command: Sequence[str], *, user: int | None = None, group: int | None = None) -> None:
        self._command = list(command)
        self._user = user
        self._group = group
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
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
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command,
                # Never the service's environment (API keys...): /proc/<zygote>/environ keeps what it started with.
                env=ZYGOTE_ENV,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=2**26,
            )
        except OSError as exc:
            raise SandboxUnavailable(f"cannot start the sandbox zygote: {exc}") from exc
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._stderr_task = asyncio.create_task(self._drain_stderr(self._proc.stderr))
        try:
            ready = await asyncio.wait_for(self._read_frame(), STARTUP_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError) as exc:
            await self.aclose()
            raise SandboxUnavailable(f"the sandbox zygote did not start: {self.failure or exc!r}") from exc
        self.info = ready
        self._reader = asyncio.create_task(self._read_loop())

    async def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.alive or self._proc is None or self._proc.stdin is None:
            raise SandboxUnavailable(f"the sandbox zygote is not running: {self.failure or 'stopped'}")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._proc.stdin.write(encode_frame({**payload, "id": request_id}))
            await self._proc.stdin.drain()
            return await future
        except (ConnectionError, RuntimeError) as exc:
            raise SandboxUnavailable(f"the sandbox zygote is gone: {exc}") from exc
        finally:
            self._pending.pop(request_id, None)

    async def _read_frame(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        header = await self._proc.stdout.readexactly(4)
        (size,) = struct.unpack(">I", header)
        frame: dict[str, Any] = json.loads(await self._proc.stdout.readexactly(size))
        return frame

    async def _read_loop(self) -> None:
        try:
            while True:
                frame = await self._read_frame()
                future = self._pending.get(frame.get("id", -1))
                if future is not None and not future.done():
                    future.set_result(frame)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            self.failure = self.failure or f"zygote exited ({type(exc).__name__})"
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(SandboxUnavailable(f"the sandbox zygote died: {self.failure}"))

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            text = line.decode(errors="replace").rstrip()
            log.warning("sandbox zygote: %s", text)
            self.failure = self.failure or (text if "rror" in text else None)

    async def aclose(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        tasks = [task for task in (self._reader, self._stderr_task) if task is not None]
        if tasks and proc is not None:
            # Let the readers see EOF: a pipe whose reader is cancelled first stays open (uvloop warns).
            await asyncio.wait(tasks, timeout=1.0)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.failure = self.failure or "closed"
