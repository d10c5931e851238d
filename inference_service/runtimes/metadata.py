"""A model folder's metadata.json: labels, input, preprocessing (its eval transforms), provenance
and checksum."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

METADATA_FILE = "metadata.json"
MODEL_FILE = "model.onnx"
FORMAT_VERSION = 1
OUTPUTS = ("logits", "probabilities")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class Preprocessing:
    """A model's eval transforms: resize the shorter side, centre-crop, normalise."""

    resize: int
    crop: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @functools.cached_property
    def std_255(self) -> np.ndarray:
        """std on 0-255 pixel values, 3 x 1 x 1."""
        return np.asarray(self.std, np.float32).reshape(3, 1, 1) * 255

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {self.interpolation!r}; use one of {sorted(INTERPOLATIONS)}")
        if self.crop > self.resize:
            raise ValueError(f"crop {self.crop} is larger than resize {self.resize}")


# ImageNet's 1,000 class names as torchvision has them, joined by newlines: a model with exactly
# these labels gets the page's ImageNet-only help (the classes models give for masks themselves).
IMAGENET_LABELS_SHA256 = "0b0f9fee7c952f257418d62aa701f023a9da13b443a14f5c4291e5724d92967c"
IMAGENET = "imagenet-1k"


def labels_sha256(labels) -> str:
    return hashlib.sha256("\n".join(labels).encode()).hexdigest()


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    labels: tuple[str, ...]
    input_name: str
    output_name: str
    input_size: int
    preprocessing: Preprocessing
    provenance: str
    pretrained: bool
    sha256: str
    extra: dict = field(default_factory=dict)  # exporter versions, parity check result, ...
    max_batch_size: int = 0  # 0: any batch; 1: the model's batch axis is fixed, one image per run
    output: str = "logits"   # or "probabilities": the model applies its own softmax

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise ValueError(f"output {self.output!r}: use one of {', '.join(OUTPUTS)}")
        if self.max_batch_size not in (0, 1):
            raise ValueError(f"max_batch_size {self.max_batch_size}: 0 (any batch) or 1 (a fixed batch axis)")

    @functools.cached_property
    def label_set(self) -> str:
        """"imagenet-1k" when the labels are ImageNet's, else empty."""
        return IMAGENET if labels_sha256(self.labels) == IMAGENET_LABELS_SHA256 else ""

    def to_json(self) -> str:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["format_version"] = FORMAT_VERSION
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "ModelMetadata":
        data = json.loads(text)
        version = data.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ValueError(f"metadata format_version {version!r}; this server reads {FORMAT_VERSION}")
        pre = data.pop("preprocessing")
        pre = Preprocessing(resize=pre["resize"], crop=pre["crop"], interpolation=pre["interpolation"],
                            mean=tuple(pre["mean"]), std=tuple(pre["std"]))
        return cls(preprocessing=pre, labels=tuple(data.pop("labels")), **data)

    @classmethod
    def load(cls, model_dir: Path) -> "ModelMetadata":
        return cls.from_json((Path(model_dir) / METADATA_FILE).read_text())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
