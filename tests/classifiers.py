"""Small classifiers that are not ImageNet's, built here with torch and exported to ONNX as a user
would: with a dynamic batch axis, with a fixed one, and with a batch of 1 baked into the graph."""

from __future__ import annotations

from pathlib import Path

LABELS = ("benign", "malignant", "needs a second look")
SIZE = 96  # not ImageNet's 224: input sizes other than 224 must work everywhere


def tiny_classifier(baked_batch: bool = False):
    """A seeded conv net, SIZE x SIZE in, len(LABELS) logits out. `baked_batch`: it flattens with
    reshape(1, -1), so its graph can only ever run one image (as some exported models do)."""
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 8, stride=8), torch.nn.ReLU(),
                                                torch.nn.AdaptiveAvgPool2d(1))
            self.head = torch.nn.Linear(8, len(LABELS))

        def forward(self, x):
            x = self.features(x)
            return self.head(x.reshape(1, -1) if baked_batch else torch.flatten(x, 1))

    torch.manual_seed(0)
    module = Tiny().eval()
    with torch.no_grad():  # a model that looks at colour: red photos lean "malignant", so masks matter
        module.features[0].weight.normal_(0, 0.05)
    return module


def export_onnx(module, path: Path, dynamic_batch: bool, input_name: str = "pixels",
                output_name: str = "scores") -> Path:
    import warnings

    import torch
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, torch.zeros(1, 3, SIZE, SIZE), str(path), dynamo=False, input_names=[input_name],
                          output_names=[output_name], opset_version=17,
                          dynamic_axes={input_name: {0: "n"}, output_name: {0: "n"}} if dynamic_batch else None)
    return path


def write_labels(path: Path, labels=LABELS) -> Path:
    path.write_text("\n".join(labels) + "\n")
    return path


# The imported models, by name: how each was exported.
IMPORTED = {"lesions": dict(baked_batch=False, dynamic_batch=True),
            "lesions-fixed": dict(baked_batch=False, dynamic_batch=False),
            "lesions-baked": dict(baked_batch=True, dynamic_batch=False)}


def imported_models(root: Path, lite0: Path) -> Path:
    """A models folder as a user ends up with: the default Lite0 beside the three tiny classifiers,
    each imported with the CLI (`export onnx`). Returns `root`."""
    import subprocess
    import sys
    root.mkdir(parents=True, exist_ok=True)
    (root / "efficientnet-lite0").symlink_to(lite0.resolve(), target_is_directory=True)
    labels = write_labels(root.parent / "lesion-labels.txt")
    for name, how in IMPORTED.items():
        onnx_file = export_onnx(tiny_classifier(how["baked_batch"]), root.parent / f"{name}.onnx", how["dynamic_batch"])
        subprocess.run([sys.executable, "-m", "inference_service.export", "onnx", str(onnx_file), "--labels",
                        str(labels), "--name", name, "--out", str(root)], check=True, capture_output=True,
                       cwd=Path(__file__).resolve().parents[1])
    return root
