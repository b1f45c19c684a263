"""A client that sends and retries the way OpenRLHF's current remote-RM client does, for the burst benchmark and
its test.

OpenRLHF (``openrlhf/utils/agent.py``, ``SingleTurnAgentExecutor``) asks for each sample's reward as soon as its
generation finishes: one POST of ``{"query": [q], "prompts": [p], "labels": [l]}`` per sample, each try on a
fresh connection (a new ``aiohttp.ClientSession``), any failure (an HTTP error status, a refused connection, a
timeout) followed by a fixed 1 s sleep, at most 5 tries, ``Retry-After`` ignored. After the fifth failure the
sample has no reward. This is the same shape on raw asyncio streams (HTTP/1.1, ``Connection: close``), so that
thousands of concurrent senders cost the client little CPU next to the server it measures.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

TRIES = 5
SLEEP_S = 1.0
TIMEOUT_S = 180.0


@dataclass
class Tally:
    statuses: Counter[int | str] = field(default_factory=Counter)  # an HTTP status, or an error's class name
    lost: int = 0


async def post(url: str, payload: dict[str, Any], timeout_s: float = TIMEOUT_S) -> tuple[int, bytes]:
    """One POST on a new connection: the status and the body."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            writer.write(head + body)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    _headers, _, content = rest.partition(b"\r\n\r\n")
    if not status_line.startswith(b"HTTP/1.1 "):
        raise ConnectionError(f"not an HTTP response: {raw[:80]!r}")
    return int(status_line.split()[1]), content


async def reward(url: str, query: str, prompt: str, label: Any, tally: Tally) -> dict[str, Any] | None:
    """The sample's reward response, or ``None`` when all tries failed (OpenRLHF then has no reward for it)."""
    payload = {"query": [query], "prompts": [prompt], "labels": [label]}
    for _ in range(TRIES):
        try:
            status, content = await post(url, payload)
            tally.statuses[status] += 1
            if status < 400:  # aiohttp's raise_for_status
                answer: dict[str, Any] = json.loads(content)
                return answer
        except (OSError, TimeoutError, ValueError) as exc:
            tally.statuses[type(exc).__name__] += 1
        await asyncio.sleep(SLEEP_S)
    tally.lost += 1
    return None
