"""How many onnxruntime threads each CPU session gets, and whether model workers are pinned:
from the cores this process may use and a container's CPU limit."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
