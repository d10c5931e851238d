"""Imports any ONNX image classifier as a model folder: checks that Maskscope can serve it, makes
a fixed batch axis dynamic where the graph allows, and writes the metadata.

    python -m inference_service.export onnx MODEL.onnx --labels LABELS.txt --name NAME

Needs the `onnx` package (requirements/export.txt); the server needs only onnxruntime.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference_service.pipeline.preprocess import IMAGENET_MEAN, IMAGENET_STD
from inference_service.runtimes.metadata import (METADATA_FILE, MODEL_FILE, OUTPUTS, ModelMetadata, Preprocessing,
                                                 sha256_file)

RESIZE_OVER_CROP = 256 / 224  # torchvision's usual eval transform: resize to 256, crop 224
BATCH = "batch"
# A batch of two run as one must agree with the two run apart this closely to call the batch axis free.
BATCH_TOLERANCE = 1e-4
# What the import found of the batch axis (metadata's batch_axis), as the command line says it.
BATCH_AXIS_WORDS = {"dynamic": "a dynamic batch axis", "made dynamic": "its fixed batch axis made dynamic",
                    "fixed at 1": "a batch axis fixed at 1: served one image per run",
                    "runs one image only": "a batch axis named free that runs one image only: served one image per run"}


class ImportRefused(ValueError):
    """The model cannot be served as it is; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Signature:
    """What the graph says of its one input and one output."""

    input_name: str
    output_name: str
    batch: int | str    # the input's batch axis: a number if fixed, a name (or "") if not
    size: int | None    # the input's side if fixed
    classes: int | None  # the output's K if fixed


def read_labels(path: Path) -> tuple[str, ...]:
    """One class name per line; trailing blank lines are ignored, any other blank or repeated name refused."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()  # -sig: Notepad's byte-order mark
    except FileNotFoundError:
        raise ImportRefused(f"labels file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"labels file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    labels = tuple(line.strip() for line in lines)
    if not labels:
        raise ImportRefused(f"labels file {path} is empty: it needs one class name per line")
    for number, label in enumerate(labels, 1):
        if not label:
            raise ImportRefused(f"labels file {path}: line {number} is blank (one class name per line)")
    seen = {}
    for number, label in enumerate(labels, 1):
        if label in seen:
            raise ImportRefused(f"labels file {path}: {label!r} on line {number} repeats line {seen[label]}; "
                                "class names must be unique")
        seen[label] = number
    return labels


def load_graph(path: Path):
    import onnx
    from google.protobuf.message import DecodeError
    if not Path(path).is_file():
        raise ImportRefused(f"{path} does not exist")
    try:
        model = onnx.load(str(path))
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ImportRefused(f"{path} is not an ONNX model: it does not parse as one ({exc})") from None
    if not model.graph.node:
        raise ImportRefused(f"{path} is not an ONNX model: it has no graph")
    return model


def _dims(value) -> list[int | str]:
    """A value's shape: a number for each fixed axis, its name (or "") for each free one."""
    shape = value.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in shape.dim]


def signature(model) -> Signature:
    """The graph's one float input N x 3 x H x W and one output N x K, or a refusal saying what differs."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    outputs = list(model.graph.output)
    if len(inputs) != 1:
        raise ImportRefused(f"the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                            "Maskscope feeds a classifier one image tensor, N x 3 x H x W")
    if len(outputs) != 1:
        raise ImportRefused(f"the model has {len(outputs)} outputs ({', '.join(o.name for o in outputs)}); "
                            "Maskscope reads one, N x K class scores")
    (x,), (y,) = inputs, outputs
    _require_float(x, "input", "Maskscope feeds float32 (normalised pixels): export the model in float32")
    dims = _dims(x)
    if len(dims) != 4:
        raise ImportRefused(f"the input {x.name!r} has rank {len(dims)} ({_shape_text(dims)}); "
                            "an image classifier's input is N x 3 x H x W")
    if dims[1] != 3:
        hint = " (it looks channels-last, N x H x W x 3: export it channels-first)" if dims[3] == 3 else ""
        raise ImportRefused(f"the input {x.name!r} is {_shape_text(dims)}: its second axis must be the "
                            f"3 colour channels{hint}")
    height, width = dims[2], dims[3]
    if isinstance(height, int) and isinstance(width, int) and height != width:
        raise ImportRefused(f"the input {x.name!r} is {height} x {width} pixels: Maskscope's preprocessing "
                            "makes square crops, so it serves square inputs only")
    _require_float(y, "output", "Maskscope reads float32 class scores (export the model in float32; the "
                   "server's --precision fp16 halves it on a GPU)")
    out = _dims(y)
    if len(out) != 2:
        raise ImportRefused(f"the output {y.name!r} has rank {len(out)} ({_shape_text(out)}); "
                            "Maskscope reads N x K class scores")
    size = height if isinstance(height, int) and height > 0 else None
    classes = out[1] if isinstance(out[1], int) and out[1] > 0 else None
    batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else (dims[0] or "")
    return Signature(x.name, y.name, batch, size, classes)


def _require_float(value, side: str, why: str) -> None:
    import onnx
    element = value.type.tensor_type.elem_type
    if element != onnx.TensorProto.FLOAT:
        raise ImportRefused(f"the {side} {value.name!r} is {onnx.TensorProto.DataType.Name(element).lower()}; {why}")


def _shape_text(dims) -> str:
    return " x ".join(str(d) if d != "" else "?" for d in dims)


def free_batch_axis(model):
    """A copy of `model` whose input's and output's first axis is named, not fixed. Shapes the
    exporter inferred inside the graph are dropped: onnxruntime infers them again."""
    import onnx
    free = onnx.ModelProto()
    free.CopyFrom(model)
    initializers = {i.name for i in free.graph.initializer}
    for value in [*(i for i in free.graph.input if i.name not in initializers), *free.graph.output]:
        axis = value.type.tensor_type.shape.dim[0]
        axis.Clear()
        axis.dim_param = BATCH
    del free.graph.value_info[:]
    return free


def _session(model_bytes: bytes):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 4  # a trial run that fails is an answer here, not an error to log
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _run(session, sig: Signature, batch: np.ndarray) -> np.ndarray:
    (out,) = session.run([sig.output_name], {sig.input_name: batch})
    return np.asarray(out)


def _batches(make_session, sig: Signature, images: np.ndarray, alone: list[np.ndarray]) -> bool:
    """Whether the graph runs a batch of two and answers as it does for each image alone."""
    try:
        together = _run(make_session(), sig, images)
    except Exception:  # onnxruntime refuses the batch: the graph bakes a batch of 1 in
        return False
    return together.shape == (2, alone[0].shape[1]) and np.allclose(
        together, np.concatenate(alone), atol=BATCH_TOLERANCE, rtol=BATCH_TOLERANCE)


def check_outputs(out: np.ndarray, rows: int, labels: tuple[str, ...], output: str) -> None:
    if out.ndim != 2 or out.shape[0] != rows:
        raise ImportRefused(f"on a batch of {rows} the model answered {' x '.join(map(str, out.shape))}, "
                            f"not {rows} x K")
    if out.shape[1] != len(labels):
        raise ImportRefused(f"the model gives {out.shape[1]} class scores but the labels file has "
                            f"{len(labels)} names: they must match, one name per class, in class order")
    if not np.all(np.isfinite(out)):
        raise ImportRefused("the model's output on a random image is not finite (NaN or infinity)")
    if output == "probabilities":
        sums = out.sum(axis=1)
        if np.any(out < -1e-6) or not np.allclose(sums, 1, atol=1e-3):
            raise ImportRefused(f"--output probabilities, but the model's rows sum to {sums.min():.3g} .. "
                                f"{sums.max():.3g} (or go below 0): these look like logits; use --output logits")


def import_onnx(onnx_path: Path, labels_path: Path, name: str, out_dir: Path, *, resize: int | None = None,
                crop: int | None = None, mean=IMAGENET_MEAN, std=IMAGENET_STD, interpolation: str = "bilinear",
                output: str = "logits") -> Path:
    """Writes out_dir/NAME/{model.onnx, metadata.json} for the classifier at `onnx_path`; returns
    that folder. Refuses (ImportRefused) anything it cannot serve."""
    if not name or "/" in name or name.startswith("."):
        raise ImportRefused(f"--name {name!r}: give the model a plain name (it becomes a folder)")
    if output not in OUTPUTS:
        raise ImportRefused(f"--output {output!r}: use one of {', '.join(OUTPUTS)}")
    labels = read_labels(labels_path)
    model = load_graph(onnx_path)
    sig = signature(model)
    if sig.classes is not None and sig.classes != len(labels):
        raise ImportRefused(f"the model's output has {sig.classes} classes but {labels_path} has "
                            f"{len(labels)} lines: they must match, one name per class, in class order")
    if isinstance(sig.batch, int) and sig.batch != 1:
        raise ImportRefused(f"the model's batch axis is fixed at {sig.batch}: export it with a dynamic "
                            "batch axis (torch.onnx.export(..., dynamic_axes={'input': {0: 'batch'}, "
                            "'output': {0: 'batch'}})) or with batch 1")
    if crop is None:
        if sig.size is None:
            raise ImportRefused("the model's input size is not fixed: say which with --crop (e.g. --crop 224)")
        crop = sig.size
    elif sig.size is not None and crop != sig.size:
        raise ImportRefused(f"--crop {crop}, but the model's input is fixed at {sig.size} x {sig.size}")
    try:
        preprocessing = Preprocessing(resize or round(crop * RESIZE_OVER_CROP), crop, interpolation,
                                      tuple(mean), tuple(std))
    except ValueError as exc:
        raise ImportRefused(str(exc)) from None
    if len(preprocessing.mean) != 3 or len(preprocessing.std) != 3 or min(preprocessing.std) <= 0:
        raise ImportRefused("--mean and --std take three numbers each (one per colour), std above 0")

    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 3, crop, crop)).astype(np.float32)
    original = model.SerializeToString()
    try:
        session = _session(original)
        alone = [_run(session, sig, images[k:k + 1]) for k in range(2)]
    except Exception as exc:  # onnxruntime's own words say what failed
        raise ImportRefused(f"onnxruntime cannot run the model on a 1 x 3 x {crop} x {crop} input: {exc}") from None
    check_outputs(alone[0], 1, labels, output)

    if isinstance(sig.batch, int):  # fixed at 1: free it if a batch of two then answers as the two apart
        candidate = free_batch_axis(model).SerializeToString()
        freed = _batches(lambda: _session(candidate), sig, images, alone)
        served, batch_note, max_batch = (candidate, "made dynamic", 0) if freed else (original, "fixed at 1", 1)
    else:  # named free, which the graph may still not honour (a Reshape to 1 x ..., say)
        free = _batches(lambda: session, sig, images, alone)
        served, batch_note, max_batch = original, "dynamic" if free else "runs one image only", 0 if free else 1

    folder = Path(out_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a failed import never leaves a half-written model.
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        onnx_tmp = Path(tmp) / MODEL_FILE
        onnx_tmp.write_bytes(served)
        source_sha = sha256_file(onnx_path)
        metadata = ModelMetadata(
            name=name, labels=labels, input_name=sig.input_name, output_name=sig.output_name, input_size=crop,
            preprocessing=preprocessing, provenance=f"imported from {Path(onnx_path).name} (sha256 {source_sha[:12]})",
            pretrained=True, sha256=sha256_file(onnx_tmp), max_batch_size=max_batch, output=output,
            extra={"imported_from": str(onnx_path), "source_sha256": source_sha, "batch_axis": batch_note,
                   "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0),
                   "producer": f"{model.producer_name} {model.producer_version}".strip()})
        os.replace(onnx_tmp, folder / MODEL_FILE)
        (folder / METADATA_FILE).write_text(metadata.to_json())
    return folder
