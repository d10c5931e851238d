"""A model folder's metadata.json: labels, input, preprocessing, provenance and checksum."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inference_service.preprocess import Preprocessing

METADATA_FILE = "metadata.json"
MODEL_FILE = "model.onnx"
FORMAT_VERSION = 1


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
