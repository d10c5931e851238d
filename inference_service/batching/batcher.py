"""Dynamic batching: requests from many clients share one model run, painters' requests first."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from inference_service.errors import DeadlineExceeded, ResourceExhausted, Unavailable

log = logging.getLogger(__name__)

# Priorities: what a painter waits for (Classify, ClassifyStream) runs before bulk work (Explain's
# occluded copies, replays), which fills what interactive work leaves free.
INTERACTIVE, BULK = 0, 1
# A bulk request that has waited this long joins the next batch whatever is queued before it, so
# that an Explain always completes, however busy the painters keep the model.
BULK_MAX_WAIT_S = 1.0


@dataclass(frozen=True)
class BatchStats:
    """What one request learns about the model run it was part of."""

    size: int
    queue_s: float
    inference_s: float
    prepare_s: float = 0.0  # making a deferred item's input, in the worker, before the run


class Arrivals:
    """Requests on their way to a batcher (being decoded): its workers wait for company only while
    some are expected. Counted on the event loop, read by the workers."""

    def __init__(self):
        self.count = 0

    @contextlib.contextmanager
    def expect(self):
        """One more on its way, until the block ends."""
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1


@dataclass(frozen=True)
class Deferred:
    """An item whose input the worker makes, with `make()`, just before its batch runs."""

    make: Callable[[], Any]


@dataclass(eq=False)
class Pending:
    """One queued request: `sink` gets its outcome, with `token` to tell it which request it was."""

    item: Any
    sink: "Sink"
    token: Any
    enqueued_at: float
    deadline: float | None = None  # time.monotonic() after which the request is no longer wanted
    priority: int = INTERACTIVE
    prepare_s: float = 0.0


class Sink:
    """Where outcomes go, a whole batch's at a time (one wake-up of a loop, one write to a socket).
    Called from the model's worker threads."""

    def deliver(self, results: list[tuple[Pending, Any, BatchStats]]) -> None:
        raise NotImplementedError

    def fail(self, failures: list[tuple[Pending, BaseException]]) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class BatchPolicy:
    """How a batch is formed from the two queues (see `take_batch`)."""

    max_batch_size: int = 16
    max_bulk: int = 16          # most bulk requests in one batch
    mix_bulk: bool = True       # bulk requests may join a batch of interactive ones
    bulk_max_wait_s: float = BULK_MAX_WAIT_S


def take_batch(interactive: collections.deque, bulk: collections.deque, policy: BatchPolicy,
               now: float) -> list[Pending]:
    """Takes the next batch off the queues: interactive requests first, then bulk ones where the
    policy lets them in. A bulk request waiting longer than `bulk_max_wait_s` is taken first,
    so bulk work is never starved. On a GPU a batch costs about the same with more images in it,
    so bulk fills every batch (`mix_bulk`); on the CPU each image costs its own time, so bulk runs
    in small batches of its own, and a painter waits for one of those at most."""
    batch = []
    if bulk and now - bulk[0].enqueued_at > policy.bulk_max_wait_s:
        batch.append(bulk.popleft())
    while interactive and len(batch) < policy.max_batch_size:
        batch.append(interactive.popleft())
    has_interactive = any(p.priority == INTERACTIVE for p in batch)
    if policy.mix_bulk or not has_interactive:
        room = min(policy.max_batch_size, policy.max_bulk) - sum(p.priority == BULK for p in batch)
        while bulk and room > 0 and len(batch) < policy.max_batch_size:
            batch.append(bulk.popleft())
            room -= 1
    return batch


@dataclass
class DynamicBatcher:
    """Collects requests until a batch is full or `max_delay_s` has passed since the first one
    queued, then runs `run_batch(inputs, worker, more_waiting)` on all of them at once, in one of
    `workers` worker threads (`more_waiting`: requests are queued or on their way, so another batch
    will run beside this one); `take_batch` chooses what runs together.

    Each worker takes its next batch itself as soon as it is free. `run_batch` must return
    exactly one output per input, in order; if it raises, every request of that batch gets the
    error and the batcher goes on. A `Deferred` item's input is made by the worker just before
    the run (a failing one fails alone).

    With `arrivals` (the requests on their way, e.g. being decoded), a worker waits for company
    only while more are expected: those, or as many as the previous batch held.
    """

    run_batch: Callable[[list, int, bool], Sequence]
    max_batch_size: int = 16
    max_delay_s: float = 0.002
    max_queue_size: int = 256
    name: str = "model"
    # More than one batch may run at once: while one runs, the next forms and starts, so decoding,
    # gRPC and the model overlap instead of taking turns.
    workers: int = 1
    max_bulk_batch_size: int = 0  # 0: max_batch_size
    mix_bulk: bool = True
    bulk_max_wait_s: float = BULK_MAX_WAIT_S
    arrivals: Arrivals | None = None
    on_batch: Callable[[int, float], None] | None = None  # (size, seconds), after each model run
    worker_started: Callable[[int], None] | None = None  # (worker index), in each worker thread as it starts
    batches_run: int = 0
    largest_batch: int = 0
    last_batch_size: int = 0
    _queues: tuple = field(default_factory=lambda: (collections.deque(), collections.deque()), repr=False)
    _ready: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _idle: list = field(default_factory=list, repr=False)  # idle workers' indices, the last to finish on top
    _threads: list = field(default_factory=list, repr=False)
    _running: bool = False

    def __post_init__(self):
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if self.max_queue_size < 1:
            raise ValueError("max_queue_size must be at least 1")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        self.policy = BatchPolicy(self.max_batch_size, self.max_bulk_batch_size or self.max_batch_size, self.mix_bulk,
                                  self.bulk_max_wait_s)

    # -- the queue -------------------------------------------------------------------------------

    def start(self) -> None:
        self._running = True
        self._threads = [threading.Thread(target=self._work, args=(i,), name=f"infer-{self.name}-{i}", daemon=True)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        """Stops taking batches; batches already running finish, whatever is queued fails with UNAVAILABLE."""
        with self._ready:
            self._running = False
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()
        with self._ready:
            left = [p for queue in self._queues for p in queue]
            for queue in self._queues:
                queue.clear()
        _fail_all(left, Unavailable("the server is shutting down"))

    @property
    def queue_depth(self) -> int:
        return len(self._queues[INTERACTIVE]) + len(self._queues[BULK])

    def put(self, pending: Pending) -> None:
        """Queues a request; never blocks: a full queue or a stopped batcher raises at once."""
        refused = self.put_many([pending])
        if refused:
            raise refused[0][1]

    def put_many(self, pendings: list[Pending]) -> list[tuple[Pending, Exception]]:
        """Queues requests that arrived together, with one wake-up of the workers; returns those
        refused (full queue, stopped batcher) with the error for each."""
        refused = []
        with self._ready:
            for pending in pendings:
                # Bulk work may fill the queue but for a quarter kept for painters' requests.
                room = self.max_queue_size - (self.max_queue_size // 4 if pending.priority == BULK else 0)
                if not self._running:
                    refused.append((pending, Unavailable(f"{self.name} is not running")))
                elif self.queue_depth >= room:
                    refused.append((pending, ResourceExhausted(f"{self.name} has {self.queue_depth} requests "
                                                               "queued; the server is overloaded, try again shortly")))
                else:
                    self._queues[pending.priority].append(pending)
            if len(refused) < len(pendings):
                self._ready.notify_all()
        return refused

    def discard(self, pending: Pending) -> bool:
        """Takes a request off the queue (its caller went away); False when it is no longer queued."""
        with self._ready:
            try:
                self._queues[pending.priority].remove(pending)
            except ValueError:
                return False
            return True

    # -- asyncio callers -------------------------------------------------------------------------

    async def submit(self, item, deadline: float | None = None, priority: int = INTERACTIVE) -> tuple[Any, BatchStats]:
        """Queues `item` and waits for its output. A caller that is cancelled takes its request off the queue."""
        loop = asyncio.get_running_loop()
        pending = Pending(item, LoopSink(loop), loop.create_future(), time.monotonic(), deadline, priority)
        self.put(pending)
        try:
            return await pending.token
        except asyncio.CancelledError:
            self.discard(pending)
            raise

    async def stop(self) -> None:
        await asyncio.to_thread(self.close)
        await asyncio.sleep(0)  # the last batches' results, handed to the loop before the workers ended

    # -- the workers -----------------------------------------------------------------------------

    def _work(self, index: int) -> None:
        if self.worker_started is not None:
            try:
                self.worker_started(index)
            except Exception:  # e.g. a CPU affinity the system refuses: run unpinned
                log.warning("%s: worker %d could not be set up", self.name, index, exc_info=True)
        while True:
            batch = self._next_batch(index)
            if batch is None:
                return
            try:
                self._run(batch, index)
            except BaseException as exc:  # not an Exception (those fail in _run): e.g. a SystemExit
                # from a model's code. The worker lives on, and the batch's callers get an error
                # rather than waiting forever (an asyncio future must not hold a BaseException).
                log.exception("%s: a batch of %d was interrupted", self.name, len(batch))
                _fail_all(batch, RuntimeError(f"{self.name}: the model's worker was interrupted ({exc!r})"))

    def _next_batch(self, index: int) -> list[Pending] | None:
        """Waits until this worker is the one to form the next batch, then forms and takes it.

        Idle workers form a stack: the one that finished last forms the next batch, so one client
        keeps being served by one thread (the model runs slower when its calls alternate between
        threads: docs/benchmarks.md). Requests stay queued until taken: a timed-out wait never loses one.
        """
        with self._ready:
            self._idle.append(index)
            try:
                while True:
                    while self._running and not (self.queue_depth and self._idle[-1] == index):
                        self._ready.wait()
                    if not self._running:
                        return None
                    first = min(q[0].enqueued_at for q in self._queues if q)
                    run_at = first + self.max_delay_s
                    while (self.queue_depth < self.max_batch_size and self._more_expected()
                           and self._running and self._idle[-1] == index):
                        wait_s = run_at - time.monotonic()
                        if wait_s <= 0:
                            break
                        self._ready.wait(wait_s)
                    if not self._running:
                        return None
                    if self.queue_depth and self._idle[-1] == index:
                        return take_batch(*self._queues, self.policy, time.monotonic())
            finally:
                self._idle.remove(index)
                self._ready.notify_all()  # the next idle worker may form the next batch

    def _more_expected(self) -> bool:
        if self.arrivals is None:
            return True
        return self.arrivals.count > 0 or self.queue_depth < self.last_batch_size

    def _run(self, batch: list[Pending], worker: int) -> None:
        started = time.monotonic()
        ready, failed = [], []
        for pending in batch:
            if pending.deadline is not None and started >= pending.deadline:
                failed.append((pending, DeadlineExceeded(
                    f"the deadline passed after {started - pending.enqueued_at:.3f} s in the queue; not run")))
                continue
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
        _fail_each(failed)
        if not ready:
            return
        run_started = time.monotonic()  # after preparing: inference_s is the model's time alone
        try:
            more_waiting = self.queue_depth > 0 or bool(self.arrivals and self.arrivals.count)
            outputs = self.run_batch([p.item for p in ready], worker, more_waiting)
            if len(outputs) != len(ready):
                raise RuntimeError(f"{self.name} returned {len(outputs)} outputs for {len(ready)} inputs")
        except Exception as exc:
            log.exception("%s: a batch of %d failed", self.name, len(ready))
            _fail_all(ready, exc)
            return
        inference_s = time.monotonic() - run_started
        self.last_batch_size = len(ready)
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, len(ready))
        by_sink: dict[Sink, list] = {}
        for pending, output in zip(ready, outputs):
            stats = BatchStats(len(ready), started - pending.enqueued_at, inference_s, pending.prepare_s)
            by_sink.setdefault(pending.sink, []).append((pending, output, stats))
        for sink, results in by_sink.items():
            sink.deliver(results)
        if self.on_batch is not None:  # after the answers: a failing observer must not lose them
            try:
                self.on_batch(len(ready), inference_s)
            except Exception:
                log.exception("%s: on_batch failed", self.name)


class LoopSink(Sink):
    """Outcomes for asyncio callers: each batch's results handed to the event loop in one call."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop

    def deliver(self, results) -> None:
        self._to_loop(_settle, [(p.token, (output, stats), None) for p, output, stats in results])

    def fail(self, failures) -> None:
        self._to_loop(_settle, [(p.token, None, exc) for p, exc in failures])

    def _to_loop(self, callback, *args) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            log.warning("a batch finished after the event loop closed")

    def __eq__(self, other):  # every caller on one loop shares one hand-over per batch
        return isinstance(other, LoopSink) and other.loop is self.loop

    def __hash__(self):
        return hash(id(self.loop))


def _settle(outcomes) -> None:
    for future, result, exc in outcomes:
        if future.done():  # the caller went away
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)


def _fail_each(failures: list[tuple[Pending, BaseException]]) -> None:
    by_sink: dict[Sink, list] = {}
    for pending, exc in failures:
        by_sink.setdefault(pending.sink, []).append((pending, exc))
    for sink, group in by_sink.items():
        sink.fail(group)


def _fail_all(batch: list[Pending], exc: BaseException) -> None:
    _fail_each([(pending, exc) for pending in batch])
