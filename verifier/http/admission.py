"""Admission control: a bound on the items and request bytes in flight (admitted, not yet answered), then 429.

Without a bound, a trainer that fires faster than the rewards can score grows the server's memory until it dies
and takes every in-flight batch with it. The bound is on what costs memory, items and bytes, not on requests:
per-sample clients send thousands of one-item requests at once (OpenRLHF's client retries a refused one only 5
times, 1 s apart, ignoring ``Retry-After``), and those must all get in, while a few huge batches must not.

A request's bytes are held from its declared ``Content-Length`` before the body is read (a chunked body's as it
arrives), so a flood is refused without buffering it; its items are held once it is parsed and valid (every
request holds at least one from the start). Past either
bound the request gets ``429`` with ``Retry-After``; a request that could never fit gets ``413``. While the
server drains for shutdown, new requests get ``503``. Admitted requests wait in the coalescer's batches
(``verifier.coalesce``), which ``max_concurrent_batches`` bounds in time, not in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from verifier.errors import LimitExceededError, OverloadedError, ShuttingDownError


class Admission:
    def __init__(self, max_items: int, max_bytes: int, retry_after: int = 1) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.retry_after = retry_after
        self.items = 0  # held by admitted requests
        self.bytes = 0
        self.draining = False

    @contextmanager
    def admit(self, declared_bytes: int | None) -> Iterator[Ticket]:
        """Admit a request of ``declared_bytes`` (its ``Content-Length``, when sent); release all it held on exit."""
        if self.draining:
            raise ShuttingDownError()
        ticket = Ticket(self)
        try:
            ticket.hold_items(0)
            if declared_bytes:
                ticket.hold_bytes(declared_bytes)
            yield ticket
        finally:
            self.items -= ticket.items
            self.bytes -= ticket.bytes


class Ticket:
    """What one admitted request holds."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.items = 0
        self.bytes = 0

    def hold_bytes(self, total: int) -> None:
        """Hold ``total`` bytes for this request (more as a chunked body grows); 429 past the bound."""
        if total > self.bytes:
            others = self.admission.bytes - self.bytes
            self._check("bytes in flight", others, total, self.admission.max_bytes)
            self.admission.bytes = others + total
            self.bytes = total

    def hold_items(self, count: int) -> None:
        """Hold ``count`` items for this request; 429 past the bound. A request counts as at least one item:
        an empty one still costs its connection, its task and its buffers."""
        total = max(count, 1)
        if total > self.items:
            others = self.admission.items - self.items
            self._check("items in flight", others, total, self.admission.max_items)
            self.admission.items = others + total
            self.items = total

    def _check(self, limit: str, others: int, total: int, maximum: int) -> None:
        if total > maximum:  # not even alone: retrying cannot help
            raise LimitExceededError(limit, total, maximum)
        if others + total > maximum:
            raise OverloadedError(limit, others, total, maximum, self.admission.retry_after)
