"""Running a model on a GPU: one onnxruntime session per model worker and padded batch size,
so that every session only ever sees one input shape.

Why one shape per session: with cuDNN 9, onnxruntime's CUDA Conv kernel rebuilds its execution
plan whenever a node's input shape differs from that node's previous call, holding a per-node
lock meanwhile (microsoft/onnxruntime#23006, ~0.5 s per alternation). Batches of different sizes
from two workers through one session rebuilt at almost every call, one thread at a time: the
service stalled under load on an H200 (docs/benchmarks.md). Here a batch of n runs on the session
of its worker for the smallest bucket >= n, padded, through IOBinding on buffers made
once: the input staged in pinned host memory, copied into a bound device buffer, the logits read
back from a bound output buffer.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)


def batch_buckets(max_batch_size: int) -> tuple[int, ...]:
    """The batch sizes GPU sessions run: powers of two up to the largest batch, and the largest."""
    largest = max(1, max_batch_size)
    return tuple(sorted({1 << i for i in range(largest.bit_length())} | {largest}))


def session_key(worker: int, batch_size: int, workers: int, buckets: tuple[int, ...]) -> tuple[int, int]:
    """Which session runs a batch: (its worker's slot, the bucket it is padded to). Each key is one
    session, made for exactly one input shape (bucket x 3 x S x S)."""
    bucket = next((b for b in buckets if b >= batch_size), None)
    if bucket is None:
        raise ValueError(f"a batch of {batch_size} is larger than the largest bucket {buckets[-1]}")
    return worker % workers, bucket


@dataclass
class _Slot:
    """One session and everything bound to it, for one shape."""

    session: object
    binding: object
    device_input: object
    staging: np.ndarray     # the padded batch, in pinned host memory where onnxruntime gives it
    output: np.ndarray      # where the logits land on the host (pinned where possible)
    lock: threading.Lock    # a session is run by one thread at a time (it is its worker's)


class GpuRunner:
    """A model on onnxruntime's CUDA (or TensorRT) provider, fed by `workers` worker threads."""

    device_type = "cuda"  # where the bound input lives ("cpu" runs the same code without a GPU, in tests)

    def __init__(self, model: bytes, metadata, providers: list, workers: int, buckets: tuple[int, ...],
                 make_session: Callable):
        self.metadata = metadata
        self.workers = workers
        self.buckets = tuple(sorted(buckets))
        self.slots: dict[tuple[int, int], _Slot] = {}
        self.provider = None
        for worker in range(workers):
            for bucket in self.buckets:
                # One onnxruntime thread: only the few nodes left on the CPU (shapes) use it.
                session = make_session(model, providers, 1, False)
                if self.provider is None:
                    self.provider = session.get_providers()[0]
                    if self.provider == "CPUExecutionProvider":
                        raise RuntimeError("onnxruntime runs it on the CPU: its CUDA provider could not start here")
                self.slots[(worker, bucket)] = self._slot(session, bucket)
        self.pinned = staging_is_pinned(next(iter(self.slots.values())).staging)

    def _slot(self, session, bucket: int) -> _Slot:
        size, classes = self.metadata.input_size, len(self.metadata.labels)
        shape = (bucket, 3, size, size)
        device_input = ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, self.device_type, 0)
        staging = host_buffer(shape, self.device_type)
        output = host_buffer((bucket, classes), self.device_type)
        binding = session.io_binding()
        binding.bind_ortvalue_input(self.metadata.input_name, device_input)
        # The logits are written straight into host memory, copied back by onnxruntime itself.
        binding.bind_output(self.metadata.output_name, "cpu", 0, np.float32, (bucket, classes),
                            output.ctypes.data)
        return _Slot(session, binding, device_input, staging, output, threading.Lock())

    def worker_started(self, index: int) -> None:
        """Nothing to set up per thread: every session already belongs to one worker."""

    def run(self, inputs, worker: int = 0, more_waiting: bool = False) -> np.ndarray:
        """Logits for N inputs of 3 x S x S float32 (a list, or an N x 3 x S x S batch); a copy,
        since the slot's buffers are reused. Each input is copied once, into the staging buffer."""
        n = len(inputs)
        slot = self.slots[session_key(worker, n, self.workers, self.buckets)]
        with slot.lock:
            for i, x in enumerate(inputs):
                slot.staging[i] = x
            # The rows past n are padding whose logits nobody reads: whatever earlier batches left
            # there (finite values) runs as well as zeros, without writing them each time.
            slot.device_input.update_inplace(slot.staging)
            slot.session.run_with_iobinding(slot.binding)
            return slot.output[:n].copy()

    def warm_up(self, batch_sizes=()) -> None:
        """Runs every session once on its own shape (first runs load kernels and plan convolutions)."""
        for (worker, bucket) in self.slots:
            self.run(np.zeros((bucket, 3, self.metadata.input_size, self.metadata.input_size), np.float32), worker)


def host_buffer(shape: tuple[int, ...], device_type: str) -> np.ndarray:
    """A float32 host array; on a GPU, in pinned (page-locked) memory where onnxruntime allocates
    it, so that copies to and from the device run at full speed without a bounce buffer."""
    if device_type == "cuda":
        try:
            return pinned_array(shape)
        except Exception:  # an onnxruntime without the CUDA provider's pinned allocator
            log.warning("pinned host memory is not available; staging batches in pageable memory", exc_info=True)
    return np.zeros(shape, np.float32)


_pinned_values: list = []  # the OrtValues that own pinned buffers live as long as the process
_pinned_allocator: list = []  # the memory info, once the CUDA provider's pinned allocator is registered


def pinned_array(shape: tuple[int, ...]) -> np.ndarray:
    """A zero-copy numpy view of an OrtValue allocated by the CUDA provider's pinned host
    allocator (registered with onnxruntime's environment on first use)."""
    from onnxruntime.capi import _pybind_state as C

    if not _pinned_allocator:
        info = C.OrtMemoryInfo("CudaPinned", C.OrtAllocatorType.ORT_DEVICE_ALLOCATOR, 0, C.OrtMemType.CPU)
        C.create_and_register_allocator_v2("CUDAExecutionProvider", info, {}, C.OrtArenaCfg({}))
        _pinned_allocator.append(info)
    value = ort.OrtValue.ortvalue_from_shape_and_type(list(shape), np.float32, memory_info=_pinned_allocator[0])
    _pinned_values.append(value)
    array = value.numpy()  # host-accessible memory: a view, not a copy
    if array.ctypes.data != value.data_ptr():
        raise RuntimeError("onnxruntime returned a copy of its pinned buffer, not a view")
    array[...] = 0
    return array


def staging_is_pinned(array: np.ndarray) -> bool:
    return any(value.data_ptr() == array.ctypes.data for value in _pinned_values)
