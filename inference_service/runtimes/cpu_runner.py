"""Running a model on the CPU: two onnxruntime sessions, their threads, and which one runs a batch."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

CPU = "CPUExecutionProvider"

# After batches overlapped, a batch that starts alone still runs on a one-thread session for this
# long: under load a batch that starts alone soon has company, and the all-core session's threads
# and the other batch's would then wait on each other (docs/benchmarks.md, "Where the time goes").
OVERLAP_MEMORY_S = 0.5


@dataclass(frozen=True)
class ThreadPlan:
    """How many onnxruntime threads each CPU session gets, and whether workers are pinned."""

    alone: int     # the session for a batch that runs alone (0: onnxruntime's own choice)
    overlap: int   # each overlapping batch's session
    pin: bool      # each model worker kept on a core of its own


def thread_plan(intra_op_threads: int, concurrent_batches: int, cores: int, cpu_limit: int | None,
                pin_workers: bool) -> ThreadPlan:
    """`cores`: the cores this process may run on; `cpu_limit`: a container's CPU-time quota, in
    whole CPUs (None: none). Overlapping batches share the usable CPUs out; workers are pinned only
    when each gets exactly one core of a core set that is really ours (under a quota, the cores are
    the node's, shared with other pods) and the thread count was not chosen by hand."""
    usable = min(cores, cpu_limit) if cpu_limit else cores
    limited = usable < cores
    overlap = max(1, (intra_op_threads or usable) // concurrent_batches)
    pin = (pin_workers and not intra_op_threads and not limited and concurrent_batches > 1
           and usable // concurrent_batches == 1)
    # Left to pick its thread count, onnxruntime takes the node's cores, and pins its threads to
    # them: the one on core 1 would then share it with the worker pinned there.
    alone = intra_op_threads or (usable if pin or limited else 0)
    return ThreadPlan(alone, overlap, pin)


def allowed_cores() -> list[int]:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """A container's CPU-time quota in whole CPUs, rounded up (cgroup v2 or v1), or None."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]  # v2: "max 100000" or "400000 100000"
    except (OSError, ValueError):
        try:
            quota, period = ((root / "cpu" / name).read_text().strip() for name in ("cpu.cfs_quota_us",
                                                                                   "cpu.cfs_period_us"))
        except OSError:
            return None
    try:
        quota, period = int(quota), int(period)
    except ValueError:  # "max": no limit
        return None
    return max(1, -(-quota // period)) if quota > 0 and period > 0 else None


def runs_alone(now: float, running: int, more_waiting: bool, overlapped_at: float,
               memory_s: float = OVERLAP_MEMORY_S) -> tuple[bool, float]:
    """Which session a batch starting now takes: (True: the all-core one, and when batches last
    overlapped, updated). `running`: batches running, this one included; `more_waiting`: requests
    are queued, so another batch will start beside this one."""
    if running > 1 or more_waiting:
        overlapped_at = now
    return now - overlapped_at >= memory_s, overlapped_at


class CpuRunner:
    """A model on onnxruntime's CPU provider, safe to call from several worker threads at once.

    Two sessions of the same model: a batch that runs alone uses every core (lowest latency);
    batches that overlap share the cores out (see `thread_plan`), so two of them on two cores do
    not have onnxruntime's threads waiting on each other (highest throughput). `runs_alone`
    chooses.
    """

    provider = CPU

    def __init__(self, model: bytes, metadata, plan: ThreadPlan, concurrent_batches: int, spin: bool,
                 make_session: Callable, cores: list[int] | None = None):
        self.metadata = metadata
        self.plan = plan
        self.cores = cores or allowed_cores()
        self.sessions = {"alone": make_session(model, [CPU], plan.alone, spin)}
        overlapping = concurrent_batches > 1 and plan.overlap != plan.alone
        self.sessions["overlap"] = make_session(model, [CPU], plan.overlap, spin) if overlapping else \
            self.sessions["alone"]
        self._lock = threading.Lock()
        self._running = 0
        self._overlapped_at = -float("inf")

    def worker_started(self, index: int) -> None:
        """Called by each model worker thread as it starts. With one core per overlapping batch,
        keeps worker `index` on a core of its own: a one-thread session that the scheduler moves
        between cores (whenever gRPC or the loop wakes up) runs slower."""
        if self.plan.pin:
            os.sched_setaffinity(0, {self.cores[index % len(self.cores)]})  # 0: this thread

    def run(self, inputs, worker: int = 0, more_waiting: bool = False) -> np.ndarray:
        """Logits for N inputs of 3 x S x S float32 (a list, or an N x 3 x S x S batch)."""
        # A lone input runs as it is, given a batch axis: stacking would copy it for nothing.
        batch = inputs if isinstance(inputs, np.ndarray) else inputs[0][None] if len(inputs) == 1 else np.stack(inputs)
        with self._lock:
            self._running += 1
            alone, self._overlapped_at = runs_alone(time.monotonic(), self._running, more_waiting,
                                                    self._overlapped_at)
        session = self.sessions["alone" if alone else "overlap"]
        try:
            (logits,) = session.run([self.metadata.output_name], {self.metadata.input_name: batch})
        finally:
            with self._lock:
                if self._running > 1:  # remembered from an overlap's end too: a batch may outlast the memory
                    self._overlapped_at = time.monotonic()
                self._running -= 1
        return logits

    def warm_up(self, batch_sizes=(1,)) -> None:
        """Runs each batch size once on each session, so no request pays for first runs."""
        size = self.metadata.input_size
        for session in {id(s): s for s in self.sessions.values()}.values():
            for n in batch_sizes:
                session.run(None, {self.metadata.input_name: np.zeros((n, 3, size, size), np.float32)})
