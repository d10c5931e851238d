"""The hardware's limit: onnxruntime alone, in process, on the same model and input size."""

from __future__ import annotations

import threading
import time

import numpy as np
import onnxruntime as ort

from inference_service.runtimes.metadata import MODEL_FILE, ModelMetadata
from inference_service.runtimes.models import model_bytes, pick_providers


def session_for(model_dir, device="auto", precision="fp32", threads: int = 0
                ) -> tuple[ort.InferenceSession, ModelMetadata]:
    """onnxruntime's defaults (all cores unless `threads`), the graph optimised, numpy arrays in and out."""
    metadata = ModelMetadata.load(model_dir)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes(model_dir / MODEL_FILE, precision), options,
                                   providers=pick_providers(device))
    return session, metadata


class Batch1:
    """One session running batch 1 again and again, for as long as asked: raw latency measured
    in turns with the service (one session for every turn, as the service keeps one)."""

    def __init__(self, model_dir, precision="fp32"):
        self.session, metadata = session_for(model_dir, precision=precision)
        size = metadata.input_size
        x = np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32)
        self.feed = {metadata.input_name: x}
        for _ in range(2):
            self.session.run(None, self.feed)

    def latencies_ms(self, seconds: float) -> list[float]:
        latencies, end = [], time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            self.session.run(None, self.feed)
            latencies.append((time.perf_counter() - t0) * 1e3)
        return latencies


CPU_BATCHES = (1, 2, 4, 8, 16, 32)
GPU_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)  # a GPU keeps gaining from larger batches


def measure(model_dir, batch_sizes=None, seconds_each: float = 3.0, device="auto", precision="fp32") -> dict:
    """Images per second at each batch size, and batch-1 latency percentiles."""
    session, metadata = session_for(model_dir, device, precision)
    if batch_sizes is None:
        batch_sizes = CPU_BATCHES if session.get_providers()[0] == "CPUExecutionProvider" else GPU_BATCHES
    size = metadata.input_size
    rng = np.random.default_rng(0)
    throughput = {}
    latencies_ms = []
    for batch in batch_sizes:
        x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
        feed = {metadata.input_name: x}
        for _ in range(2):
            session.run(None, feed)
        runs, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds_each:
            t0 = time.perf_counter()
            session.run(None, feed)
            runs += 1
            if batch == 1:
                latencies_ms.append((time.perf_counter() - t0) * 1e3)
        throughput[batch] = runs * batch / (time.perf_counter() - started)
    best = max(throughput, key=throughput.get)
    result = {"provider": session.get_providers()[0], "images_per_s": throughput, "best_batch": best,
              "best_images_per_s": throughput[best]}
    if latencies_ms:
        result.update(batch1_p50_ms=float(np.percentile(latencies_ms, 50)),
                      batch1_p90_ms=float(np.percentile(latencies_ms, 90)))
    return result


def images_per_s(model_dir, batch: int, seconds: float = 3.0, device="auto", precision="fp32") -> float:
    """Throughput at one batch size, measured on its own (again, after the load runs)."""
    return measure(model_dir, batch_sizes=(batch,), seconds_each=seconds, device=device,
                   precision=precision)["best_images_per_s"]


def best_batches(measured: dict, count: int) -> list[int]:
    """The `count` batch sizes with the highest throughput in `measure`'s result, best first."""
    throughput = measured["images_per_s"]
    return sorted(throughput, key=throughput.get, reverse=True)[:count]


def parallel_images_per_s(model_dir, batch: int, sessions: int, seconds: float = 3.0) -> float:
    """Throughput of `sessions` one-thread CPU sessions running side by side, each in its own
    thread: how the service runs batches that overlap on the CPU."""
    runs = [session_for(model_dir, "cpu", threads=1)[0] for _ in range(sessions)]
    metadata = ModelMetadata.load(model_dir)
    x = np.random.default_rng(0).standard_normal((batch, 3, metadata.input_size, metadata.input_size),
                                                 dtype=np.float32)
    counts = [0] * sessions
    for session in runs:
        session.run(None, {metadata.input_name: x})
    start = time.perf_counter()
    deadline = start + seconds

    def work(i: int) -> None:
        while time.perf_counter() < deadline:
            runs[i].run(None, {metadata.input_name: x})
            counts[i] += batch

    threads = [threading.Thread(target=work, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - start)


def thread_core_s(model_dir, batch: int, seconds: float = 1.0) -> float:
    """CPU seconds an image of one one-thread session's runs at `batch`, from the thread's own
    clock: unlike a rate, it hardly moves when others' jobs take the cores."""
    session, metadata = session_for(model_dir, "cpu", threads=1)
    x = np.zeros((batch, 3, metadata.input_size, metadata.input_size), np.float32)
    feed = {metadata.input_name: x}
    session.run(None, feed)
    images, started, cpu = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - started < seconds:
        session.run(None, feed)
        images += batch
    return (time.thread_time() - cpu) / images
