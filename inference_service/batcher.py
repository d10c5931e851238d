"""Dynamic batching: requests from many clients share one model run."""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from inference_service.errors import DeadlineExceeded, ResourceExhausted, Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchStats:
    """What one request learns about the model run it was part of."""

    size: int
    queue_s: float
    inference_s: float
    prepare_s: float = 0.0  # making a deferred item's input, in the worker, before the run


@dataclass(eq=False)
class _Pending:
    item: Any
    future: asyncio.Future
    enqueued_at: float
    deadline: float | None  # time.monotonic() after which the request is no longer wanted
    prepare_s: float = 0.0


@dataclass
class DynamicBatcher:
    """Collects items until a batch is full or `max_delay_s` has passed since the first one queued,
    then runs `run_batch` on all of them at once, in one of `max_concurrent_batches` worker
    threads.

    Each worker takes its next batch itself as soon as it is free: the event loop only queues
    items and hands back results, so a busy loop never leaves the model idle between batches.

    `run_batch(items)` must return exactly one output per item, in order. If it raises, every
    request of that batch gets the error and the batcher goes on with the next batch.

    An item may be deferred (`Deferred(make)`): the worker calls `make()` for its input just
    before the run, so cheap preparation (a mask on a cached photo) costs no thread hop. If
    `make()` raises, only that request fails.

    With `expected_arrivals` (how many requests are on their way, e.g. being preprocessed), the
    batcher waits only while more are expected: those, or as many as the previous batch held. A
    lone client then never waits for company that is not coming.
    """

    run_batch: Callable[[list], Sequence]
    max_batch_size: int = 16
    max_delay_s: float = 0.002
    max_queue_size: int = 256
    name: str = "model"
    # More than one batch may run at once: while one runs, the next forms and starts, so decoding,
    # gRPC and the model overlap instead of taking turns.
    max_concurrent_batches: int = 1
    expected_arrivals: Callable[[], int] | None = None
    on_batch: Callable[[int, float], None] | None = None  # (size, seconds), after each model run, on the loop
    worker_started: Callable[[int], None] | None = None  # (worker index), in each worker thread as it starts
    batches_run: int = 0
    largest_batch: int = 0
    last_batch_size: int = 0
    _items: collections.deque = field(default_factory=collections.deque, repr=False)
    _ready: threading.Condition = field(default_factory=threading.Condition, repr=False)  # items, idle workers, stop
    _idle: list = field(default_factory=list, repr=False)  # idle workers' thread ids, the last to finish on top
    _workers: list = field(default_factory=list, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _stopping: bool = False

    def __post_init__(self):
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if self.max_queue_size < 1:
            raise ValueError("max_queue_size must be at least 1")
        if self.max_concurrent_batches < 1:
            raise ValueError("max_concurrent_batches must be at least 1")

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._workers = [threading.Thread(target=self._work, args=(i,), name=f"infer-{self.name}-{i}", daemon=True)
                         for i in range(self.max_concurrent_batches)]
        for worker in self._workers:
            worker.start()

    async def stop(self) -> None:
        """Stops taking batches; batches already running finish, whatever is queued fails with UNAVAILABLE."""
        if self._loop is None:
            return
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        for worker in self._workers:
            await asyncio.to_thread(worker.join)
        await asyncio.sleep(0)  # the last batches' results, handed to the loop before the workers ended
        self._loop = None
        while self._items:
            pending = self._items.popleft()
            if not pending.future.done():
                pending.future.set_exception(Unavailable("the server is shutting down"))

    @property
    def queue_depth(self) -> int:
        return len(self._items)

    async def submit(self, item, deadline: float | None = None) -> tuple[Any, BatchStats]:
        """Queues `item` and waits for its output. Never blocks to queue: a full queue fails at once."""
        if self._loop is None or self._stopping:
            raise Unavailable(f"{self.name} is not running")
        if len(self._items) >= self.max_queue_size:
            raise ResourceExhausted(f"{self.name} has {self.max_queue_size} requests queued; "
                                    "the server is overloaded, try again shortly")
        pending = _Pending(item, self._loop.create_future(), time.monotonic(), deadline)
        with self._ready:
            self._items.append(pending)
            self._ready.notify_all()
        return await pending.future

    def _work(self, index: int) -> None:
        if self.worker_started is not None:
            try:
                self.worker_started(index)
            except Exception:  # e.g. a CPU affinity the system refuses: run unpinned
                log.warning("%s: worker %d could not be set up", self.name, index, exc_info=True)
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            started = time.monotonic()
            wanted, late = [], []
            for pending in batch:
                if not pending.future.done():  # done: the caller went away
                    (late if pending.deadline is not None and started >= pending.deadline else wanted).append(pending)
            if late:
                self._to_loop(_fail_late, late, started)
            try:
                self._run(wanted, started)
            except BaseException as exc:  # not an Exception (those fail in _run): e.g. a SystemExit
                # from a model's code. The worker lives on, and the batch's callers get an error
                # rather than waiting forever (an asyncio future must not hold a BaseException).
                log.exception("%s: a batch of %d was interrupted", self.name, len(wanted))
                self._to_loop(_fail, wanted, RuntimeError(f"{self.name}: the model's worker was interrupted ({exc!r})"))

    def _next_batch(self) -> list[_Pending] | None:
        """Waits until this worker is the one to form the next batch, then forms and takes it.

        Idle workers form a stack: the one that finished last forms the next batch, so one client
        keeps being served by one thread (the model runs markedly slower when its calls keep
        moving between threads). Items stay in the deque until taken: a timed-out wait never
        loses one.
        """
        me = threading.get_ident()
        with self._ready:
            self._idle.append(me)
            try:
                while True:
                    while not self._stopping and not (self._items and self._idle[-1] == me):
                        self._ready.wait()
                    if self._stopping:
                        return None
                    run_at = self._items[0].enqueued_at + self.max_delay_s
                    while (len(self._items) < self.max_batch_size and self._more_expected()
                           and not self._stopping and self._idle[-1] == me):
                        wait_s = run_at - time.monotonic()
                        if wait_s <= 0:
                            break
                        self._ready.wait(wait_s)
                    if self._stopping:
                        return None
                    if self._items and self._idle[-1] == me:
                        return [self._items.popleft() for _ in range(min(self.max_batch_size, len(self._items)))]
            finally:
                self._idle.remove(me)
                self._ready.notify_all()  # the next idle worker may form the next batch

    def _more_expected(self) -> bool:
        if self.expected_arrivals is None:
            return True
        return self.expected_arrivals() > 0 or len(self._items) < self.last_batch_size

    def _run(self, batch: list[_Pending], taken: float) -> None:
        if not batch:
            return
        ready, failed = [], []
        for pending in batch:
            if isinstance(pending.item, Deferred):
                began = time.monotonic()
                try:
                    pending.item = pending.item.make()
                except Exception as exc:
                    failed.append((pending, exc))
                    continue
                finally:
                    pending.prepare_s = time.monotonic() - began
            ready.append(pending)
        if failed:
            self._to_loop(_fail_each, failed)
        if not ready:
            return
        batch, inputs = ready, [p.item for p in ready]
        started = time.monotonic()  # after preparing: inference_s is the model's time alone
        try:
            outputs = self.run_batch(inputs)
            if len(outputs) != len(batch):
                raise RuntimeError(f"{self.name} returned {len(outputs)} outputs for {len(batch)} inputs")
        except Exception as exc:
            log.exception("%s: a batch of %d failed", self.name, len(batch))
            self._to_loop(_fail, batch, exc)
            return
        self.last_batch_size = len(batch)
        self._to_loop(self._deliver, batch, outputs, taken, time.monotonic() - started)

    def _to_loop(self, callback, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            log.warning("%s: a batch finished after the event loop closed", self.name)

    def _deliver(self, batch: list[_Pending], outputs: Sequence, taken: float, inference_s: float) -> None:
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        for pending, output in zip(batch, outputs):
            if not pending.future.done():
                pending.future.set_result((output, BatchStats(len(batch), taken - pending.enqueued_at, inference_s,
                                                              pending.prepare_s)))
        if self.on_batch is not None:  # after the answers: a failing observer must not lose them
            self.on_batch(len(batch), inference_s)


@dataclass(frozen=True)
class Deferred:
    """An item whose input the worker makes, with `make()`, just before its batch runs."""

    make: Callable[[], Any]


def _fail_each(failed: list[tuple[_Pending, BaseException]]) -> None:
    for pending, exc in failed:
        if not pending.future.done():
            pending.future.set_exception(exc)


def _fail(batch: list[_Pending], exc: BaseException) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(exc)


def _fail_late(batch: list[_Pending], now: float) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(DeadlineExceeded(
                f"the deadline passed after {now - pending.enqueued_at:.3f} s in the queue; not run"))
