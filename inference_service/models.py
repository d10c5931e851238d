"""Loading exported ONNX models and running them on a batch with onnxruntime."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from inference_service.cpu_threads import allowed_cores, cpu_limit, thread_plan
from inference_service.errors import NotFound
from inference_service.metadata import METADATA_FILE, MODEL_FILE, ModelMetadata, sha256_file

log = logging.getLogger(__name__)

# The model picked when a request names none: the reference model if it has real weights.
DEFAULT_MODEL_PREFERENCE = ("resnet50", "efficientnet-lite0")

# After batches overlapped, a batch that starts alone still runs on a one-thread session for this
# long. Under load a batch that starts alone soon has company: the all-core session's threads and
# the other batch's then share the cores and wait on each other (2 cores, 16 Lite0 clients: the
# batches that started alone, 3% of the images, cost 37 ms of CPU per image against 15 for the rest).
OVERLAP_MEMORY_S = 0.5

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class RuntimeOptions:
    """How onnxruntime runs the models (the server's flags of the same names)."""

    device: str = "auto"          # auto | cuda | cpu
    intra_op_threads: int = 0     # 0: every core
    concurrent_batches: int = 2   # batches that may run at once (the batcher's worker threads)
    pin_workers: bool = True      # on the CPU, with a core per overlapping batch: each worker on its own core
    spin: bool = True             # onnxruntime's threads spin-wait briefly between parallel steps
    precision: str = "fp32"       # fp16: weights and activations in half precision (GPU only)
    tensorrt: bool = False        # TensorRT provider in front of CUDA (GPU only)
    tensorrt_cache_dir: Path | None = None  # built TensorRT engines, reused across restarts

    def __post_init__(self):
        if self.concurrent_batches < 1:
            raise ValueError("concurrent_batches must be at least 1")
        if self.intra_op_threads < 0:
            raise ValueError("intra_op_threads must be 0 (all cores) or more")


def gpu_present() -> bool:
    # onnxruntime-gpu lists CUDA even on machines without a GPU, then logs errors when it is tried.
    return any(Path("/dev").glob("nvidia[0-9]*"))


def pick_providers(device: str) -> list[str]:
    """Execution providers to ask for: CUDA first where there is a GPU and onnxruntime has CUDA."""
    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if device == "cuda":
        if CUDA not in available:
            raise RuntimeError(f"--device cuda, but this onnxruntime has only {available}; install onnxruntime-gpu")
        return [CUDA, CPU]
    return [CUDA, CPU] if CUDA in available and gpu_present() else [CPU]


# cuDNN's exhaustive kernel search (onnxruntime's default) costs 0.3-1.5 s for each new input
# shape; under dynamic batching that stalled every request for seconds on an H200.
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC"}


def providers_for(options: RuntimeOptions) -> list:
    """pick_providers with CUDA's options, and TensorRT in front when asked for (engines cached on disk)."""
    providers = [(CUDA, CUDA_OPTIONS) if p == CUDA else p for p in pick_providers(options.device)]
    if not options.tensorrt:
        return providers
    if CPU == providers[0]:
        raise RuntimeError("--tensorrt needs a GPU and onnxruntime-gpu (the CUDA provider is not usable here)")
    cache = options.tensorrt_cache_dir or Path.home() / ".cache" / "maskscope" / "tensorrt"
    cache.mkdir(parents=True, exist_ok=True)
    trt = {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
           "trt_fp16_enable": options.precision == "fp16"}
    return [(TENSORRT, trt), *providers]


class OnnxModel:
    """One exported model: its metadata and onnxruntime sessions that take whole batches.

    On the CPU there are two sessions of the same model. A batch that runs alone uses every core
    (lowest latency); batches that overlap share the cores out (see `thread_plan`), so two of
    them on two cores do not have onnxruntime's threads waiting on each other (highest
    throughput). On a GPU there is one session, fed through preallocated device buffers (see
    BoundRunner).
    """

    def __init__(self, model_dir: Path, options: RuntimeOptions = RuntimeOptions(), max_batch_size: int = 16):
        model_dir = Path(model_dir)
        self.metadata = ModelMetadata.load(model_dir)
        onnx_path = model_dir / MODEL_FILE
        actual = sha256_file(onnx_path)
        if actual != self.metadata.sha256:
            raise RuntimeError(f"{onnx_path}: sha256 {actual} does not match metadata ({self.metadata.sha256}); "
                               "re-export the model")
        if options.precision not in PRECISIONS:
            raise ValueError(f"precision {options.precision!r}: use one of {PRECISIONS}")
        self.name = self.metadata.name
        self.concurrent_batches = options.concurrent_batches  # its batcher's worker threads
        model = model_bytes(onnx_path, options.precision)
        self._cores = allowed_cores()
        self.threads = thread_plan(options.intra_op_threads, options.concurrent_batches, len(self._cores),
                                   cpu_limit(), options.pin_workers)
        try:
            self.session = _session(model, providers_for(options), self.threads.alone, options.spin)
        except Exception:
            if options.device != "auto" or options.precision != "fp32" or options.tensorrt:
                raise
            log.warning("could not start onnxruntime with CUDA; using the CPU", exc_info=True)
            self.session = _session(model, [CPU], self.threads.alone, options.spin)
        # Asking for a provider is not getting it: this is what really runs.
        self.provider = self.session.get_providers()[0]
        if options.tensorrt and self.provider != TENSORRT:
            raise RuntimeError(f"--tensorrt: onnxruntime runs {self.name} on {self.provider}; "
                               "it needs TensorRT's libraries (libnvinfer) where it can load them")
        if options.precision == "fp16" and self.provider == CPU:
            raise RuntimeError("--precision fp16 needs a GPU: onnxruntime's CPU provider runs half precision slowly")
        self.precision = options.precision
        on_cpu = self.provider == CPU
        self._overlap_session = (_session(model, [CPU], self.threads.overlap, options.spin)
                                 if on_cpu and options.concurrent_batches > 1
                                 and self.threads.overlap != self.threads.alone else self.session)
        self._pin = on_cpu and self.threads.pin
        self._bound = None if on_cpu else BoundRunner(self.session, self.metadata, "cuda",
                                                      batch_buckets(max_batch_size))
        self._lock = threading.Lock()
        self._running = 0
        self._overlapped_at = -float("inf")  # time.monotonic() when a batch last started beside another

    def worker_started(self, index: int) -> None:
        """Called by each model worker thread as it starts. On the CPU, with one core per
        overlapping batch, keeps worker `index` on a core of its own: a one-thread session that
        the scheduler moves between cores (whenever gRPC or the loop wakes up) runs ~3% slower."""
        if self._pin:
            os.sched_setaffinity(0, {self._cores[index % len(self._cores)]})  # 0: this thread

    def run(self, batch: np.ndarray, more_waiting: bool = False) -> np.ndarray:
        """Logits for a N x 3 x S x S float32 batch; safe to call from several threads at once.

        `more_waiting`: other requests are queued, so another batch will run beside this one. A
        batch runs on every core only when it is alone and none overlapped for OVERLAP_MEMORY_S.
        """
        if self._bound is not None:
            return self._bound.run(batch)
        with self._lock:
            self._running += 1
            now = time.monotonic()
            if self._running > 1 or more_waiting:
                self._overlapped_at = now
            alone = now - self._overlapped_at >= OVERLAP_MEMORY_S
            session = self.session if alone else self._overlap_session
        try:
            (logits,) = session.run([self.metadata.output_name], {self.metadata.input_name: batch})
        finally:
            with self._lock:
                if self._running > 1:  # remembered from an overlap's end too: a batch may outlast the memory
                    self._overlapped_at = time.monotonic()
                self._running -= 1
        return logits

    def warm_up(self, batch_sizes=(1,)) -> None:
        """Runs each batch size once (on a GPU: every padded size), so no request pays for first runs."""
        size = self.metadata.input_size
        if self._bound is not None:
            for n in self._bound.buckets or batch_sizes:
                self._bound.run(np.zeros((n, 3, size, size), np.float32))
            return
        for session in {id(self.session): self.session, id(self._overlap_session): self._overlap_session}.values():
            for n in batch_sizes:
                session.run(None, {self.metadata.input_name: np.zeros((n, 3, size, size), np.float32)})


def batch_buckets(max_batch_size: int) -> tuple[int, ...]:
    """Batch sizes a GPU session runs: powers of two up to the largest batch, and the largest.

    Every new input shape costs the CUDA provider a search for the fastest convolution kernels
    (seconds for a large model), so batches are padded to one of these few sizes, each searched
    once at start-up, instead of meeting every size from 1 to the largest under load.
    """
    largest = max(1, max_batch_size)
    return tuple(sorted({1 << i for i in range(largest.bit_length())} | {largest}))


class BoundRunner:
    """Runs a session through IOBinding on buffers allocated once per batch size and thread.

    On a GPU this saves allocating device memory for every batch: the batch is copied into a
    device buffer that stays bound, and the logits come back from a bound output buffer. Batches
    that overlap run on different threads, so each thread has its own buffers. A batch is padded
    with zeros up to the next of `buckets`, if any.
    """

    def __init__(self, session: ort.InferenceSession, metadata: ModelMetadata, device_type: str,
                 buckets: tuple[int, ...] = ()):
        self.session = session
        self.metadata = metadata
        self.device_type = device_type
        self.buckets = tuple(sorted(buckets))
        self._local = threading.local()

    def run(self, batch: np.ndarray) -> np.ndarray:
        n = batch.shape[0]
        size = next((b for b in self.buckets if b >= n), n)
        buffers = self._local.__dict__.setdefault("by_size", {})
        if size not in buffers:
            buffers[size] = self._bind((size, *batch.shape[1:]))
        binding, x, y, staging = buffers[size]
        staging[:n] = batch
        staging[n:] = 0
        x.update_inplace(staging)
        self.session.run_with_iobinding(binding)
        return y.numpy()[:n]

    def _bind(self, shape):
        num_classes = len(self.metadata.labels)
        x = ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, self.device_type, 0)
        y = ort.OrtValue.ortvalue_from_shape_and_type((shape[0], num_classes), np.float32, self.device_type, 0)
        binding = self.session.io_binding()
        binding.bind_ortvalue_input(self.metadata.input_name, x)
        binding.bind_ortvalue_output(self.metadata.output_name, y)
        return binding, x, y, np.zeros(shape, np.float32)


def model_bytes(onnx_path: Path, precision: str) -> bytes:
    """The model as onnxruntime should load it: as exported, or converted to half precision."""
    if precision == "fp32":
        return onnx_path.read_bytes()
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise RuntimeError(f"--precision fp16 converts the model at start-up and needs the `onnx` package: {exc}")
    # Inputs and outputs stay float32, so clients and preprocessing do not change.
    half = convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True)
    return half.SerializeToString()


def _session(model: bytes, providers: list, intra_op_threads: int, spin: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads > 0:
        options.intra_op_num_threads = intra_op_threads
    # Spinning only matters to a multi-threaded session: a batch alone on all cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.log_severity_level = 3  # onnxruntime warns about every CUDA library it cannot find
    return ort.InferenceSession(model, options, providers=providers)


@dataclass
class ModelRegistry:
    models: dict[str, OnnxModel]
    default: str

    @classmethod
    def load_dir(cls, root: Path, options: RuntimeOptions = RuntimeOptions(),
                 max_batch_size: int = 16) -> "ModelRegistry":
        """Loads every model folder (one holding metadata.json) directly under `root`."""
        root = Path(root)
        folders = sorted(p.parent for p in root.glob(f"*/{METADATA_FILE}"))
        if not folders:
            raise FileNotFoundError(f"no models in {root}: export one with "
                                    f"`python -m inference_service.export efficientnet-lite0 --out {root}`")
        models = {}
        for folder in folders:
            model = OnnxModel(folder, options, max_batch_size)
            if model.name in models:
                raise RuntimeError(f"two folders in {root} hold a model named {model.name!r}")
            models[model.name] = model
            log.info("loaded %s from %s on %s, %s (%s weights)", model.name, folder, model.provider, model.precision,
                     "pretrained" if model.metadata.pretrained else "RANDOM")
        return cls(models, choose_default(models))

    def get(self, name: str) -> OnnxModel:
        model = self.models.get(name or self.default)
        if model is None:
            raise NotFound(f"unknown model {name!r}; this server has {', '.join(sorted(self.models))}")
        return model


def choose_default(models: dict[str, OnnxModel]) -> str:
    """resnet50 if present with pretrained weights, else efficientnet-lite0, else any pretrained one."""
    for name in DEFAULT_MODEL_PREFERENCE:
        if name in models and models[name].metadata.pretrained:
            return name
    pretrained = [n for n, m in models.items() if m.metadata.pretrained]
    return sorted(pretrained or models)[0]
