"""Loading exported ONNX models and running them on a batch with onnxruntime."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from inference_service.errors import NotFound
from inference_service.runtimes.cpu_runner import CPU, CpuRunner, allowed_cores, cpu_limit, thread_plan
from inference_service.runtimes.gpu_runner import GpuRunner, batch_buckets
from inference_service.runtimes.metadata import METADATA_FILE, MODEL_FILE, ModelMetadata, sha256_file

log = logging.getLogger(__name__)

# The model picked when a request names none: the reference model if it has real weights.
DEFAULT_MODEL_PREFERENCE = ("resnet50", "efficientnet-lite0")

CUDA = "CUDAExecutionProvider"
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
    cudnn_max_workspace: bool = True  # cuDNN may use its largest workspace (onnxruntime's default)

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


def cuda_options(options: RuntimeOptions) -> dict[str, str]:
    """The CUDA provider's options. cuDNN's exhaustive kernel search (onnxruntime's default) runs
    for every new input shape and convolution; its heuristic picks at once. cuDNN's largest
    workspace (onnxruntime's default) stays on unless `--no-cudnn-max-workspace`: a maintainer
    traced a ResNet slowdown to it (microsoft/onnxruntime#20712), though onnxruntime's sources
    read it only on their cuDNN 8 path; the GPU check runs both."""
    return {"cudnn_conv_algo_search": "HEURISTIC",
            "cudnn_conv_use_max_workspace": "1" if options.cudnn_max_workspace else "0"}


def providers_for(options: RuntimeOptions) -> list:
    """pick_providers with CUDA's options, and TensorRT in front when asked for (engines cached on disk)."""
    providers = [(CUDA, cuda_options(options)) if p == CUDA else p for p in pick_providers(options.device)]
    if not options.tensorrt:
        return providers
    if CPU == providers[0]:
        raise RuntimeError("--tensorrt needs a GPU and onnxruntime-gpu (the CUDA provider is not usable here)")
    cache = options.tensorrt_cache_dir or Path.home() / ".cache" / "maskscope" / "tensorrt"
    cache.mkdir(parents=True, exist_ok=True)
    trt = {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
           "trt_fp16_enable": options.precision == "fp16"}
    return [(TENSORRT, trt), *providers]


GPU_FAILED = "failed"  # what runtime_plan is told when starting a GPU runner raised


class Runtime(enum.Enum):
    """Where a model runs (runtime_plan)."""

    GPU = "the GPU"
    CPU = "the CPU"
    CPU_INSTEAD = "the CPU, the GPU having failed to start"


def runtime_plan(options: RuntimeOptions, gpu: str | None, name: str = "the model",
                 failure: BaseException | None = None) -> Runtime:
    """Where model `name` runs, from what was asked (`options`) and what a GPU runner turned out to
    be (`gpu`: None where no GPU provider was there to try, GPU_FAILED where starting one raised
    `failure`, else the provider its sessions really run on). A GPU that failed is given up for
    the CPU only where nothing asked for it by name (device auto, fp32, no TensorRT), else its
    failure stands; RuntimeError, saying what is missing, where what was asked cannot be had."""
    if gpu == GPU_FAILED:
        if options.device != "auto" or options.precision != "fp32" or options.tensorrt:
            raise failure or RuntimeError(f"{name}: onnxruntime could not start on the GPU")
        return Runtime.CPU_INSTEAD
    on_gpu = gpu not in (None, CPU)  # onnxruntime may have fallen back to the CPU by itself
    if options.tensorrt and gpu != TENSORRT:
        raise RuntimeError(f"--tensorrt: onnxruntime does not run {name} on TensorRT; it needs TensorRT's "
                           "libraries (libnvinfer) where it can load them")
    if options.precision == "fp16" and not on_gpu:
        raise RuntimeError("--precision fp16 needs a GPU: onnxruntime's CPU provider runs half precision slowly")
    return Runtime.GPU if on_gpu else Runtime.CPU


class OnnxModel:
    """One exported model: its metadata and the runner that takes whole batches (a GpuRunner on a
    GPU, a CpuRunner otherwise)."""

    def __init__(self, model_dir: Path, options: RuntimeOptions = RuntimeOptions(), max_batch_size: int = 16,
                 make_session=None):
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
        # A model whose batch axis is fixed takes one image per run, whatever the server's flag.
        self.max_batch_size = min(max_batch_size, self.metadata.max_batch_size or max_batch_size)
        self.concurrent_batches = options.concurrent_batches  # its batcher's worker threads
        self.precision = options.precision
        make_session = make_session or session
        model = model_bytes(onnx_path, options.precision)
        providers = providers_for(options)
        gpu_runner, gpu, failure = None, None, None
        if providers[0] != CPU:
            try:
                gpu_runner = GpuRunner(model, self.metadata, providers, options.concurrent_batches,
                                       batch_buckets(self.max_batch_size), make_session)
                gpu = gpu_runner.provider
            except Exception as exc:
                gpu, failure = GPU_FAILED, exc
        plan = runtime_plan(options, gpu, self.name, failure)
        if plan == Runtime.CPU_INSTEAD:
            log.warning("could not start onnxruntime with CUDA; using the CPU", exc_info=failure)
        self.runner = gpu_runner if plan == Runtime.GPU else None
        if self.runner is None:
            cores = allowed_cores()
            plan = thread_plan(options.intra_op_threads, options.concurrent_batches, len(cores), cpu_limit(),
                               options.pin_workers)
            self.runner = CpuRunner(model, self.metadata, plan, options.concurrent_batches, options.spin,
                                    make_session, cores)
        # Asking for a provider is not getting it: this is what really runs.
        self.provider = self.runner.provider

    def worker_started(self, index: int) -> None:
        """Called by each model worker thread as it starts (see the runner's)."""
        self.runner.worker_started(index)

    def run(self, inputs, worker: int = 0, more_waiting: bool = False) -> np.ndarray:
        """Logits (N x classes) for N inputs of 3 x S x S float32 (a list, or a batch array), from
        model worker `worker`; safe to call from several workers at once. `more_waiting`: other
        requests are queued."""
        return self.runner.run(inputs, worker, more_waiting)

    def warm_up(self) -> None:
        """First runs (kernels loaded, memory planned) at batch 1 and the largest batch, before any
        request pays for them."""
        self.runner.warm_up(sorted({1, self.max_batch_size}))


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


def session(model: bytes, providers: list, intra_op_threads: int, spin: bool) -> ort.InferenceSession:
    """An onnxruntime session of `model` (0 threads: onnxruntime's choice)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads > 0:
        options.intra_op_num_threads = intra_op_threads
    # Spinning only matters to a multi-threaded session: a batch alone on all cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.log_severity_level = 3  # onnxruntime warns about every CUDA library it cannot find
    return ort.InferenceSession(model, options, providers=providers)


@dataclass(frozen=True)
class ServedModel:
    """What the serving side knows of a loaded model: enough to check requests and describe it."""

    name: str
    metadata: ModelMetadata
    provider: str      # the execution provider that really runs it
    precision: str


@dataclass(frozen=True)
class Catalog:
    """The models a server serves, by name, and the one a request that names none gets."""

    models: dict[str, ServedModel]
    default: str

    def get(self, name: str) -> ServedModel:
        model = self.models.get(name or self.default)
        if model is None:
            raise NotFound(f"unknown model {name!r}; this server has {', '.join(sorted(self.models))}")
        return model


@dataclass
class ModelRegistry:
    """The loaded models (with their onnxruntime runners), by name."""

    models: dict[str, OnnxModel]
    default: str

    def catalog(self) -> Catalog:
        return Catalog({name: ServedModel(name, m.metadata, m.provider, m.precision) for name, m in self.models.items()},
                       self.default)

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



def choose_default(models: dict[str, OnnxModel]) -> str:
    """resnet50 if present with pretrained weights, else efficientnet-lite0, else any pretrained one."""
    for name in DEFAULT_MODEL_PREFERENCE:
        if name in models and models[name].metadata.pretrained:
            return name
    pretrained = [n for n, m in models.items() if m.metadata.pretrained]
    return sorted(pretrained or models)[0]
