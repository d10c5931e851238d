"""The CPU runner: threads per session, pinned workers, and which session runs a batch."""

import os
import threading
import time

import numpy as np
import pytest

from inference_service.runtimes import cpu_runner
from inference_service.runtimes.cpu_runner import ThreadPlan, cpu_limit, runs_alone, thread_plan
from inference_service.runtimes.models import OnnxModel, RuntimeOptions


@pytest.mark.parametrize("intra, batches, cores, limit, pin_flag, expected", [
    (0, 2, 2, None, True, ThreadPlan(alone=2, overlap=1, pin=True)),     # this machine: a core per batch
    (0, 2, 3, None, True, ThreadPlan(alone=3, overlap=1, pin=True)),     # the third core for gRPC
    (0, 2, 2, None, False, ThreadPlan(alone=0, overlap=1, pin=False)),   # --no-pin-workers
    (0, 2, 8, None, True, ThreadPlan(alone=0, overlap=4, pin=False)),    # batches share the cores out
    (0, 3, 2, None, True, ThreadPlan(alone=0, overlap=1, pin=False)),    # more batches than cores
    (0, 1, 8, None, True, ThreadPlan(alone=0, overlap=8, pin=False)),
    (0, 2, 64, 4, True, ThreadPlan(alone=4, overlap=2, pin=False)),      # a container's 4-CPU limit on a big node
    (0, 2, 64, 2, True, ThreadPlan(alone=2, overlap=1, pin=False)),      # never pinned onto the node's cores
    (2, 2, 16, None, True, ThreadPlan(alone=2, overlap=1, pin=False)),   # threads chosen by hand: not pinned
    (1, 2, 2, None, True, ThreadPlan(alone=1, overlap=1, pin=False)),
])
def test_thread_plan(intra, batches, cores, limit, pin_flag, expected):
    assert thread_plan(intra, batches, cores, limit, pin_flag) == expected


def test_a_containers_cpu_limit_is_read_from_cgroup_v2_or_v1(tmp_path):
    assert cpu_limit(tmp_path) is None
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_limit(tmp_path) is None
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("250000\n")
    assert cpu_limit(tmp_path) == 3  # 2.5 CPUs, rounded up
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_limit(tmp_path) is None  # v2 wins where both are present
    (tmp_path / "cpu.max").write_text("400000 100000\n")
    assert cpu_limit(tmp_path) == 4


def test_the_sessions_get_the_planned_threads(model_dir, monkeypatch):
    from inference_service.runtimes import models
    monkeypatch.setattr(models, "allowed_cores", lambda: list(range(8)))
    monkeypatch.setattr(models, "cpu_limit", lambda: None)

    def threads(session):
        return session.get_session_options().intra_op_num_threads

    runner = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", concurrent_batches=2)).runner
    assert threads(runner.sessions["overlap"]) == 4 and not runner.plan.pin
    monkeypatch.setattr(models, "cpu_limit", lambda: 2)
    runner = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", concurrent_batches=2)).runner
    assert threads(runner.sessions["alone"]) == 2 and threads(runner.sessions["overlap"]) == 1 and not runner.plan.pin
    runner = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", concurrent_batches=1)).runner
    assert runner.sessions["overlap"] is runner.sessions["alone"]
    with pytest.raises(ValueError, match="concurrent_batches"):
        RuntimeOptions(concurrent_batches=0)


def allowed_cores_of_each_thread() -> list[set[int]]:
    allowed = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/status") as status:
            line = next(li for li in status if li.startswith("Cpus_allowed_list"))
        cores = set()
        for part in line.split()[1].split(","):
            low, _, high = part.partition("-")
            cores.update(range(int(low), int(high or low) + 1))
        allowed.append(cores)
    return allowed


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_a_model_worker_with_a_core_of_its_own_stays_on_it(model_dir):
    cores = sorted(os.sched_getaffinity(0))

    def affinity_of_a_worker(model, index):
        seen = []
        thread = threading.Thread(target=lambda: (model.worker_started(index), seen.append(os.sched_getaffinity(0))))
        thread.start()
        thread.join()
        return seen[0]

    if cpu_limit() and cpu_limit() < len(cores):
        pytest.skip("a CPU quota below the cores: workers are not pinned")
    one_core_each = len(cores)  # as many batches as cores
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", concurrent_batches=one_core_each))
    # onnxruntime's own threads (of the all-core session) are not pinned onto the workers' cores.
    assert all(threads_allowed == set(cores) for threads_allowed in allowed_cores_of_each_thread())
    assert affinity_of_a_worker(model, 1) == {cores[1]}
    assert os.sched_getaffinity(0) == set(cores)  # the caller's own thread is left alone
    unpinned = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(
        device="cpu", concurrent_batches=one_core_each, pin_workers=False))
    assert affinity_of_a_worker(unpinned, 1) == set(cores)


@pytest.mark.parametrize("running, more_waiting, overlapped_at, expected", [
    (1, False, -float("inf"), (True, -float("inf"))),  # alone, and nothing overlapped before: every core
    (2, False, -float("inf"), (False, 100.0)),         # another batch is running
    (1, True, -float("inf"), (False, 100.0)),          # another is queued
    (1, False, 99.9, (False, 99.9)),                   # alone, but batches overlapped 0.1 s ago
    (1, False, 99.0, (True, 99.0)),                    # alone, 1 s after the last overlap
])
def test_a_batch_runs_on_every_core_only_when_none_overlapped_lately(running, more_waiting, overlapped_at, expected):
    assert runs_alone(100.0, running, more_waiting, overlapped_at, memory_s=0.5) == expected


class _Recording:
    """A session that records its runs; while `hold` is clear, a run waits for it."""

    def __init__(self, name, runs, hold=None):
        self.name, self.runs, self.hold = name, runs, hold

    def run(self, outputs, feed):
        self.runs.append(self.name)
        if self.hold is not None:
            self.hold.wait(10)
        return [np.zeros((len(next(iter(feed.values()))), 1000), np.float32)]


def test_the_runner_remembers_an_overlap_from_its_end(model_dir, monkeypatch):
    """A batch that began beside another and ends after the memory has passed still counts as an
    overlap at its end: the next lone batch stays on one thread."""
    from inference_service.runtimes.metadata import ModelMetadata
    runs, all_cores_held, one_thread_held = [], threading.Event(), threading.Event()
    sessions = iter([_Recording("all cores", runs, all_cores_held), _Recording("one thread", runs, one_thread_held)])
    clock = [1000.0]
    monkeypatch.setattr(cpu_runner.time, "monotonic", lambda: clock[0])
    runner = cpu_runner.CpuRunner(b"", ModelMetadata.load(model_dir / "efficientnet-lite0"),
                                  ThreadPlan(alone=2, overlap=1, pin=False), 2, True, lambda *args: next(sessions))
    x = [np.zeros((3, 224, 224), np.float32)]

    def run_in_thread(count_before: int) -> threading.Thread:
        thread = threading.Thread(target=runner.run, args=(x,))
        thread.start()
        deadline = time.perf_counter() + 10
        while len(runs) == count_before and time.perf_counter() < deadline:
            time.sleep(0.001)
        assert len(runs) == count_before + 1, "the run did not start"
        return thread

    first = run_in_thread(0)  # alone: every core
    second = run_in_thread(1)  # beside the first: one thread
    clock[0] += 100  # the overlap began long ago...
    all_cores_held.set()
    first.join()  # ...but it ends only now
    one_thread_held.set()
    second.join()
    runner.run(x)  # alone again, a moment after an overlap ended: still one thread
    clock[0] += 100
    runner.run(x)  # a while after it: every core
    runner.run(x, more_waiting=True)  # another batch is coming
    assert runs == ["all cores", "one thread", "one thread", "all cores", "one thread"]
