"""A fixed-size pool of grading processes with a hard deadline per item.

Why not ``concurrent.futures.ProcessPoolExecutor``: killing one of its workers breaks the whole executor, and
it cannot kill the process running one particular item. Here each worker is a process with its own pipe;
items are dispatched one at a time to whichever worker is idle, so one slow item never holds up the others.

- An item that overruns ``timeout_s + kill_grace_s`` gets its worker SIGKILLed; the item scores 0.0
  (``timeout``), or ``null`` if the worker was still parsing the gold answer.
- A worker that dies (segfault, external kill) costs nothing the first time: the item is retried once on
  another worker; a second death scores it 0.0 (``crashed``).
- Every dead or killed worker is replaced at once, so the pool never shrinks. If a replacement cannot be
  started, the pool keeps trying with backoff and ``health()`` says so; items wait for a worker only while
  at least one is alive.

Workers are forked from a forkserver that has already imported sympy and math-verify, so a replacement
is ready in milliseconds rather than the half second an import takes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import itertools
import logging
import multiprocessing
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from verifier_math.errors import PoolError
from verifier_math.guards import GuardLimits
from verifier_math.messages import READY, Job, Phase, Verdict, gold_failure

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Backoff between attempts to start a replacement worker; the last delay repeats."""
AFFINITY_WINDOW = 64
"""How far down the queue of waiting jobs a free worker looks for one whose gold answer it has cached."""
MAX_PASSED_OVER = 8
"""How often the job at the front of the queue may be passed over for such a job."""
DIRECT_SEND_CHARS = 8000
"""Jobs up to this many characters (at most 32 KB pickled) fit in a pipe buffer and are sent without a thread."""


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    phase: Any  # a shared c_int (multiprocessing.sharedctypes), written by the worker
    jobs: int = 0
    busy: bool = False
    golds: OrderedDict[str, None] = field(default_factory=OrderedDict)  # what its gold cache holds (LRU)


@dataclass(eq=False)
class _Waiter:
    key: str
    future: asyncio.Future[_Worker]
    passed_over: int = 0


@dataclass
class PoolStats:
    size: int
    alive: int
    busy: int
    replaced: int
    start_error: str | None = None
    started: bool = False
    closed: bool = False
    pids: list[int] = field(default_factory=list)
    busy_pids: list[int] = field(default_factory=list)


class _WorkerDied(Exception):
    pass


class _Overran(Exception):
    pass


class WorkerPool:
    """``size`` worker processes, started by ``start()`` (from a lifespan) and stopped by ``close()``."""

    def __init__(
        self,
        size: int,
        *,
        limits: GuardLimits,
        gold_cache_size: int,
        memory_limit_mb: int,
        own_sessions: bool = False,
        kill_grace_s: float,
        start_timeout_s: float,
        start_method: str = "forkserver",
    ) -> None:
        self.size = size
        self.limits = limits
        self.gold_cache_size = gold_cache_size
        self.memory_limit_mb = memory_limit_mb
        self.own_sessions = own_sessions
        self.kill_grace_s = kill_grace_s
        self.start_timeout_s = start_timeout_s
        self._ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._ctx.set_forkserver_preload(["verifier_math.worker"])
        self._workers: set[_Worker] = set()
        self._idle: list[_Worker] = []
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._replaced = 0
        self._start_error: str | None = None
        self._started = False
        self._closed = False

    async def start(self) -> None:
        """Start the workers. A worker that fails to start is retried in the background (see ``health``)."""
        if self._started:
            return
        self._started = True
        results = await asyncio.gather(
            *(asyncio.to_thread(self._spawn) for _ in range(self.size)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, _Worker):
                self._adopt(result)
            else:
                self._start_error = f"{type(result).__name__}: {result}"
                log.error("math worker failed to start: %s", self._start_error)
                self._schedule_respawn()
        self._fail_waiters_if_stuck()

    async def close(self) -> None:
        """Stop every worker (idle ones politely, busy ones by SIGKILL) and stop replacing them."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        workers, self._workers = list(self._workers), set()
        self._idle.clear()
        self._fail_waiters(PoolError("the math worker pool is closed"))
        await asyncio.gather(*(asyncio.to_thread(_stop, w) for w in workers))

    @property
    def waiting(self) -> int:
        """Items queued for a free worker."""
        return len(self._waiters)

    def stats(self) -> PoolStats:
        busy = sorted(w.process.pid or 0 for w in self._workers if w.busy)
        return PoolStats(
            self.size,
            len(self._workers),
            len(busy),
            self._replaced,
            self._start_error,
            self._started,
            self._closed,
            sorted(w.process.pid or 0 for w in self._workers),
            busy,
        )

    async def run(self, job: Job) -> Verdict:
        """Grade one job on the next idle worker, within its deadline."""
        died_once = False
        key = job.gold.strip()
        while True:
            worker = await self._checkout(key)
            if not worker.process.is_alive():
                # It died while idle (killed, say): not this item's doing, so it costs the item nothing.
                self._discard(worker)
                continue
            self._remember_gold(worker, key)  # now, so that other workers leave the rest of its group alone
            try:
                verdict = await self._exchange(worker, job)
            except _WorkerDied:
                phase = Phase(worker.phase.value)
                self._discard(worker)
                if not died_once:
                    died_once = True
                    continue
                return _crashed(phase)
            except _Overran:
                phase = Phase(worker.phase.value)
                self._discard(worker)
                return _overran(phase, job.timeout_s)
            except BaseException:  # cancelled mid-item: the worker's late answer must not reach the next job
                self._discard(worker)
                raise
            if verdict.reason in {"memory", "reference_memory"}:
                self._discard(worker)  # it exits after reporting
            else:
                self._checkin(worker)
            return verdict

    async def _checkout(self, key: str) -> _Worker:
        """An idle worker, preferably one that has this gold answer cached; else wait for one."""
        if not self._started:
            raise PoolError("the math worker pool is not running (the host did not enter the reward's lifespan)")
        self._check_usable()
        worker = self._take_idle(key)
        if worker is not None:
            worker.busy = True
            return worker
        waiter = _Waiter(key, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            worker = await waiter.future  # failed by close() or when no worker can be started
            worker.busy = True
            return worker
        except BaseException:
            # A cancelled waiter stays queued and is dropped when it reaches the front (``_checkin``).
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.exception() is None:
                self._checkin(waiter.future.result())  # handed over just as we were cancelled: pass it on
            else:
                waiter.future.cancel()
            raise

    def _check_usable(self) -> None:
        if self._closed:
            raise PoolError("the math worker pool is closed")
        if not self._workers and self._start_error is not None:
            raise PoolError(f"no math worker process can be started: {self._start_error}")

    def _fail_waiters(self, error: PoolError) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(error)

    def _fail_waiters_if_stuck(self) -> None:
        """No worker is alive and the last start failed: waiting jobs get an error instead of waiting."""
        if not self._workers and self._start_error is not None:
            self._fail_waiters(PoolError(f"no math worker process can be started: {self._start_error}"))

    def _take_idle(self, key: str) -> _Worker | None:
        for i, worker in enumerate(self._idle):
            if key in worker.golds:
                return self._idle.pop(i)
        return self._idle.pop() if self._idle else None

    def _checkin(self, worker: _Worker) -> None:
        """Hand a free worker to a waiting job (one whose gold it has cached, if one is near the front of the
        queue), or keep it idle. The job at the front is passed over at most ``MAX_PASSED_OVER`` times."""
        worker.busy = False
        if worker not in self._workers:
            return
        while self._waiters and self._waiters[0].future.done():
            self._waiters.popleft()
        if not self._waiters:
            self._idle.append(worker)
            return
        chosen = 0
        front = self._waiters[0]
        match = self._waiting_for(worker)
        if match and front.passed_over < MAX_PASSED_OVER:
            front.passed_over += 1
            chosen = match
        waiter = self._waiters[chosen]
        del self._waiters[chosen]
        waiter.future.set_result(worker)

    def _waiting_for(self, worker: _Worker) -> int | None:
        """The position of the first waiting job near the front whose gold ``worker`` has cached, else of the
        first whose gold no other worker has (so that two workers do not both parse one group's gold)."""
        others = [w.golds for w in self._workers if w is not worker]
        unclaimed = None
        for i, waiter in enumerate(itertools.islice(self._waiters, AFFINITY_WINDOW)):
            if waiter.future.done():
                continue
            if waiter.key in worker.golds:
                return i
            if unclaimed is None and not any(waiter.key in golds for golds in others):
                unclaimed = i
        return unclaimed

    def _remember_gold(self, worker: _Worker, key: str) -> None:
        worker.golds[key] = None
        worker.golds.move_to_end(key)
        while len(worker.golds) > self.gold_cache_size:
            worker.golds.popitem(last=False)

    async def _exchange(self, worker: _Worker, job: Job) -> Verdict:
        loop = asyncio.get_running_loop()
        try:
            if len(job.region) + len(job.gold) > DIRECT_SEND_CHARS:
                # More than a pipe buffer: a worker that froze before reading would block the event loop.
                await asyncio.wait_for(asyncio.to_thread(worker.conn.send, job), job.timeout_s + self.kill_grace_s)
            else:
                worker.conn.send(job)
        except OSError as exc:
            raise _WorkerDied from exc
        except TimeoutError:
            raise _Overran from None
        worker.jobs += 1
        readable: asyncio.Future[None] = loop.create_future()
        fd = worker.conn.fileno()
        loop.add_reader(fd, _resolve, readable)
        try:
            await asyncio.wait_for(readable, job.timeout_s + self.kill_grace_s)
        except TimeoutError:
            raise _Overran from None
        finally:
            loop.remove_reader(fd)
        try:
            verdict = worker.conn.recv()
        except (EOFError, OSError) as exc:  # the pipe closed: the process died
            raise _WorkerDied from exc
        if not isinstance(verdict, Verdict):
            raise _WorkerDied(f"unexpected message from worker: {verdict!r}")
        return verdict

    def _adopt(self, worker: _Worker) -> None:
        if self._closed or not self._started:
            _stop(worker)
            return
        self._workers.add(worker)
        self._checkin(worker)

    def _discard(self, worker: _Worker) -> None:
        """Kill and forget a worker, and start its replacement."""
        self._workers.discard(worker)
        _kill(worker)
        self._in_background(lambda: _reap(worker))
        self._replaced += 1
        self._schedule_respawn()
        self._fail_waiters_if_stuck()

    def _schedule_respawn(self) -> None:
        if not self._closed:
            self._track(asyncio.create_task(self._respawn()))

    def _in_background(self, blocking: Callable[[], None]) -> None:
        self._track(asyncio.create_task(asyncio.to_thread(blocking)))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respawn(self) -> None:
        attempt = 0
        while not self._closed:
            try:
                worker = await asyncio.to_thread(self._spawn)
            except Exception as exc:
                self._start_error = f"{type(exc).__name__}: {exc}"
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                log.error("math worker failed to start (retrying in %.1f s): %s", delay, self._start_error)
                self._fail_waiters_if_stuck()
                attempt += 1
                await asyncio.sleep(delay)
                continue
            self._start_error = None
            self._adopt(worker)
            return

    def _spawn(self) -> _Worker:
        """Start one worker and wait for its ready message (blocking: run in a thread)."""
        parent, child = self._ctx.Pipe(duplex=True)
        phase = self._ctx.RawValue(ctypes.c_int, int(Phase.IDLE))
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main,
            args=(child, phase, self.limits, self.gold_cache_size, self.memory_limit_mb, self.own_sessions),
            name="verifier-math-worker",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(process, parent, phase)
        try:
            if not parent.poll(self.start_timeout_s):
                raise PoolError(f"worker did not report ready within {self.start_timeout_s:g} s")
            message = parent.recv()
        except (EOFError, OSError) as exc:
            _stop(worker)
            raise PoolError(f"worker exited during startup (exit code {process.exitcode})") from exc
        except BaseException:
            _stop(worker)
            raise
        if not (isinstance(message, tuple) and message[:1] == (READY,)):
            _stop(worker)
            raise PoolError(f"unexpected startup message from worker: {message!r}")
        return worker


def _worker_main(*args: Any) -> None:
    """The worker's entry point; imports sympy there, so that the service process never has to."""
    from verifier_math.worker import serve

    serve(*args)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _crashed(phase: Phase) -> Verdict:
    if phase == Phase.GOLD:
        return gold_failure("reference_crashed", "the worker died twice while parsing the reference answer")
    return Verdict(0.0, "crashed", note="the worker process died twice while grading this answer")


def _overran(phase: Phase, timeout_s: float) -> Verdict:
    if phase == Phase.GOLD:
        return gold_failure("reference_timeout", f"parsing the reference answer took longer than {timeout_s:g} s")
    return Verdict(0.0, "timeout", note=f"grading took longer than {timeout_s:g} s; the worker was killed")


def _kill(worker: _Worker) -> None:
    try:
        if worker.process.is_alive():
            worker.process.kill()
    except (OSError, ValueError):
        pass
    worker.conn.close()


def _reap(worker: _Worker) -> None:
    worker.process.join(timeout=5)


def _stop(worker: _Worker) -> None:
    """Ask a worker to exit, kill it if it does not within a second, and reap it (blocking)."""
    with contextlib.suppress(OSError, ValueError):
        worker.conn.send(None)
    worker.process.join(timeout=1)
    _kill(worker)
    worker.process.join(timeout=5)
