"""Dynamic batching: requests from many clients share one model run."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from concurrent.futures import Executor
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


@dataclass
class _Pending:
    item: Any
    future: asyncio.Future
    enqueued_at: float
    deadline: float | None  # time.monotonic() after which the request is no longer wanted


@dataclass
class DynamicBatcher:
    """Collects items until a batch is full or `max_delay_s` has passed since the first one queued,
    then runs `run_batch` on all of them at once, in `executor`, up to `max_concurrent_batches`
    batches at a time.

    `run_batch(items)` must return exactly one output per item, in order. If it raises, every
    request of that batch gets the error and the batcher goes on with the next batch.

    With `expected_arrivals` (how many requests are on their way, e.g. being preprocessed), the
    batcher waits only while more are expected: those, or as many as the previous batch held. A
    lone client then never waits for company that is not coming.
    """

    run_batch: Callable[[list], Sequence]
    max_batch_size: int = 16
    max_delay_s: float = 0.002
    max_queue_size: int = 256
    executor: Executor | None = None  # needs max_concurrent_batches threads
    name: str = "model"
    # More than one batch may run at once: while one runs, the next forms and starts, so decoding,
    # gRPC and the model overlap instead of taking turns.
    max_concurrent_batches: int = 1
    expected_arrivals: Callable[[], int] | None = None
    on_batch: Callable[[int, float], None] | None = None  # (size, seconds), after each model run
    batches_run: int = 0
    largest_batch: int = 0
    last_batch_size: int = 0
    _items: collections.deque = field(default_factory=collections.deque, repr=False)
    _arrived: asyncio.Event | None = field(default=None, repr=False)
    _task: asyncio.Task | None = field(default=None, repr=False)
    _running: set = field(default_factory=set, repr=False)

    def __post_init__(self):
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if self.max_queue_size < 1:
            raise ValueError("max_queue_size must be at least 1")
        if self.max_concurrent_batches < 1:
            raise ValueError("max_concurrent_batches must be at least 1")

    def start(self) -> None:
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """Stops taking batches; batches already running finish, whatever is queued fails with UNAVAILABLE."""
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        while self._items:
            pending = self._items.popleft()
            if not pending.future.done():
                pending.future.set_exception(Unavailable("the server is shutting down"))

    @property
    def queue_depth(self) -> int:
        return len(self._items)

    async def submit(self, item, deadline: float | None = None) -> tuple[Any, BatchStats]:
        """Queues `item` and waits for its output. Never blocks to queue: a full queue fails at once."""
        if self._task is None:
            raise Unavailable(f"{self.name} is not running")
        pending = _Pending(item, asyncio.get_running_loop().create_future(), time.monotonic(), deadline)
        if len(self._items) >= self.max_queue_size:
            raise ResourceExhausted(f"{self.name} has {self.max_queue_size} requests queued; "
                                    "the server is overloaded, try again shortly")
        self._items.append(pending)
        self._arrived.set()
        return await pending.future

    async def _next_batch(self) -> list[_Pending]:
        # Items stay in the deque until taken, so a timed-out wait can never lose one.
        while not self._items:
            self._arrived.clear()
            await self._arrived.wait()
        run_at = self._items[0].enqueued_at + self.max_delay_s
        while len(self._items) < self.max_batch_size and self._more_expected():
            wait_s = run_at - time.monotonic()
            if wait_s <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), wait_s)
            except asyncio.TimeoutError:
                break
        return [self._items.popleft() for _ in range(min(self.max_batch_size, len(self._items)))]

    def _more_expected(self) -> bool:
        if self.expected_arrivals is None:
            return True
        return self.expected_arrivals() > 0 or len(self._items) < self.last_batch_size

    def _still_wanted(self, pending: _Pending, now: float) -> bool:
        if pending.future.done():  # the caller went away (cancelled)
            return False
        if pending.deadline is not None and now >= pending.deadline:
            pending.future.set_exception(DeadlineExceeded(
                f"the deadline passed after {now - pending.enqueued_at:.3f} s in the queue; not run"))
            return False
        return True

    async def _loop(self) -> None:
        slots = asyncio.Semaphore(self.max_concurrent_batches)
        while True:
            await slots.acquire()
            try:
                batch = await self._next_batch()
            except BaseException:
                slots.release()
                raise
            started = time.monotonic()
            batch = [p for p in batch if self._still_wanted(p, started)]
            if not batch:
                slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._run(batch, started))
            self._running.add(task)
            task.add_done_callback(lambda t: (self._running.discard(t), slots.release()))

    async def _run(self, batch: list[_Pending], started: float) -> None:
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.run_batch, [p.item for p in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"{self.name} returned {len(outputs)} outputs for {len(batch)} inputs")
        except Exception as exc:
            log.exception("%s: a batch of %d failed", self.name, len(batch))
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        inference_s = time.monotonic() - started
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        self.last_batch_size = len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch), inference_s)
        for pending, output in zip(batch, outputs):
            if not pending.future.done():
                pending.future.set_result((output, BatchStats(len(batch), started - pending.enqueued_at, inference_s)))
