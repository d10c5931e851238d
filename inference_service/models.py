"""Loading exported ONNX models and running them on a batch with onnxruntime."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from inference_service.errors import NotFound
from inference_service.metadata import METADATA_FILE, MODEL_FILE, ModelMetadata, sha256_file

log = logging.getLogger(__name__)

# The model picked when a request names none: the reference model if it has real weights.
DEFAULT_MODEL_PREFERENCE = ("resnet50", "efficientnet-lite0")

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


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


class OnnxModel:
    """One exported model: its metadata and onnxruntime sessions that take whole batches.

    On the CPU there are two sessions of the same model. A batch that runs alone uses every core
    (lowest latency); batches that overlap each run on one thread, so two of them share two cores
    without onnxruntime's threads waiting on each other (highest throughput).
    """

    def __init__(self, model_dir: Path, *, device: str = "auto", intra_op_threads: int = 0, spin: bool = False):
        model_dir = Path(model_dir)
        self.metadata = ModelMetadata.load(model_dir)
        onnx_path = model_dir / MODEL_FILE
        actual = sha256_file(onnx_path)
        if actual != self.metadata.sha256:
            raise RuntimeError(f"{onnx_path}: sha256 {actual} does not match metadata ({self.metadata.sha256}); "
                               "re-export the model")
        self.name = self.metadata.name
        providers = pick_providers(device)
        try:
            self.session = _session(onnx_path, providers, intra_op_threads, spin)
        except Exception:
            if device != "auto":
                raise
            log.warning("could not start onnxruntime with CUDA; using the CPU", exc_info=True)
            providers = [CPU]
            self.session = _session(onnx_path, providers, intra_op_threads, spin)
        # Asking for CUDA is not getting it: this is what really runs.
        self.provider = self.session.get_providers()[0]
        self._overlap_session = (_session(onnx_path, [CPU], 1, spin)
                                 if self.provider == CPU and intra_op_threads != 1 else self.session)
        self._lock = threading.Lock()
        self._running = 0

    def run(self, batch: np.ndarray, more_waiting: bool = False) -> np.ndarray:
        """Logits for a N x 3 x S x S float32 batch; safe to call from several threads at once.

        `more_waiting`: other requests are queued, so another batch will run beside this one.
        """
        with self._lock:
            self._running += 1
            alone = self._running == 1 and not more_waiting
            session = self.session if alone else self._overlap_session
        try:
            (logits,) = session.run([self.metadata.output_name], {self.metadata.input_name: batch})
        finally:
            with self._lock:
                self._running -= 1
        return logits

    def warm_up(self, batch_sizes=(1,)) -> None:
        size = self.metadata.input_size
        for session in {id(self.session): self.session, id(self._overlap_session): self._overlap_session}.values():
            for n in batch_sizes:
                session.run(None, {self.metadata.input_name: np.zeros((n, 3, size, size), np.float32)})


def _session(onnx_path: Path, providers: list[str], intra_op_threads: int, spin: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads > 0:
        options.intra_op_num_threads = intra_op_threads
    # Idle onnxruntime threads spin by default, taking the CPU that decoding the next batch needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.log_severity_level = 3  # onnxruntime warns about every CUDA library it cannot find
    return ort.InferenceSession(str(onnx_path), options, providers=providers)


@dataclass
class ModelRegistry:
    models: dict[str, OnnxModel]
    default: str

    @classmethod
    def load_dir(cls, root: Path, *, device: str = "auto", intra_op_threads: int = 0,
                 spin: bool = False) -> "ModelRegistry":
        """Loads every model folder (one holding metadata.json) directly under `root`."""
        root = Path(root)
        folders = sorted(p.parent for p in root.glob(f"*/{METADATA_FILE}"))
        if not folders:
            raise FileNotFoundError(f"no models in {root}: export one with "
                                    f"`python -m inference_service.export efficientnet-lite0 --out {root}`")
        models = {}
        for folder in folders:
            model = OnnxModel(folder, device=device, intra_op_threads=intra_op_threads, spin=spin)
            if model.name in models:
                raise RuntimeError(f"two folders in {root} hold a model named {model.name!r}")
            models[model.name] = model
            log.info("loaded %s from %s on %s (%s weights)", model.name, folder, model.provider,
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
