"""The host's end of the conversation with a container's runner, over the container's attached stdio.

Docker multiplexes an attached, non-TTY container's stdout and stderr into one byte stream of frames
(an 8-byte header: stream type, three zero bytes, big-endian length; then the payload). Inside the stdout
frames travel the runner's own messages (a 4-byte length then JSON, see ``sandbox/runner/runner.py``);
the stderr frames carry the runner's last words when it fails, kept for the error message.

Synchronous on purpose: one request at a time per container, called from a worker thread, so the same
channel serves any event loop (or none).
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import struct
from collections.abc import Iterator
from typing import Any

from sandbox.errors import SandboxUnavailable

_STDOUT, _STDERR = 1, 2
_DOCKER_HEADER = struct.Struct(">BxxxI")
_LENGTH = struct.Struct(">I")
_STDERR_KEPT = 4096


class RunnerChannel:
    """Request/response over one attached container socket. Every failure raises ``SandboxUnavailable``
    and leaves the channel ``broken``: the container behind it must be thrown away."""

    def __init__(self, sock: socket.socket, wrapper: io.IOBase | None = None) -> None:
        self._sock = sock
        self._wrapper = wrapper  # docker-py's file object over ``sock``: holds a reference that must go too
        self._raw = bytearray()  # docker frames not yet parsed
        self._stdout = bytearray()  # runner bytes not yet parsed into a message
        self.stderr_tail = b""
        self.broken = False

    def call(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        self.send(message, timeout_s)
        return self.reply(timeout_s)

    def send(self, message: dict[str, Any], timeout_s: float) -> None:
        """Send one message. (A paired run's relay sends from one thread while another reads.)"""
        with self._failures():
            self._sock.settimeout(timeout_s)
            body = json.dumps(message, separators=(",", ":")).encode()
            self._sock.sendall(_LENGTH.pack(len(body)) + body)

    def receive(self) -> dict[str, Any]:
        """The runner's next message, a reply or (in a paired run) an event; within the last timeout set."""
        with self._failures():
            return self._read_message()

    def reply(self, timeout_s: float) -> dict[str, Any]:
        with self._failures():
            self._sock.settimeout(timeout_s)
            reply = self._read_message()
        if not reply.get("ok"):
            self.broken = True
            raise SandboxUnavailable(f"the sandbox runner failed: {reply.get('error', reply)}")
        return reply

    @contextlib.contextmanager
    def _failures(self) -> Iterator[None]:
        if self.broken:
            raise SandboxUnavailable("the runner channel is broken")
        try:
            yield
        except (OSError, ValueError) as exc:  # socket.timeout is an OSError; ValueError: bad JSON or framing
            self.broken = True
            raise SandboxUnavailable(f"lost the sandbox runner: {exc}{self._last_words()}") from exc
        except EOFError as exc:
            self.broken = True
            raise SandboxUnavailable(f"the sandbox runner exited{self._last_words()}") from exc

    def close(self) -> None:
        self.broken = True
        # Closing our end closes the container's stdin (StdinOnce): the runner exits, the container goes.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        if self._wrapper is not None:
            self._wrapper.close()
        self._sock.close()

    def _read_message(self) -> dict[str, Any]:
        while True:
            if len(self._stdout) >= _LENGTH.size:
                (size,) = _LENGTH.unpack_from(self._stdout)
                if len(self._stdout) >= _LENGTH.size + size:
                    body = bytes(self._stdout[_LENGTH.size : _LENGTH.size + size])
                    del self._stdout[: _LENGTH.size + size]
                    reply = json.loads(body)
                    if not isinstance(reply, dict):
                        raise ValueError("runner reply is not a JSON object")
                    return reply
            self._read_frame()

    def _read_frame(self) -> None:
        self._fill(_DOCKER_HEADER.size)
        stream, size = _DOCKER_HEADER.unpack_from(self._raw)
        self._fill(_DOCKER_HEADER.size + size)
        payload = bytes(self._raw[_DOCKER_HEADER.size : _DOCKER_HEADER.size + size])
        del self._raw[: _DOCKER_HEADER.size + size]
        if stream == _STDOUT:
            self._stdout += payload
        elif stream == _STDERR:
            self.stderr_tail = (self.stderr_tail + payload)[-_STDERR_KEPT:]
        else:
            raise ValueError(f"unexpected docker stream type {stream}")

    def _fill(self, size: int) -> None:
        while len(self._raw) < size:
            chunk = self._sock.recv(max(65536, size - len(self._raw)))
            if not chunk:
                raise EOFError
            self._raw += chunk

    def _last_words(self) -> str:
        text = self.stderr_tail.decode("utf-8", "replace").strip()
        return f" (runner stderr: {text[-500:]})" if text else ""
