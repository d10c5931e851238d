"""Writes an exported model as a Triton Inference Server model repository entry.

    REPO/NAME/config.pbtxt   (ONNX Runtime backend, dynamic batching)
    REPO/NAME/labels.txt
    REPO/NAME/1/model.onnx
"""

from __future__ import annotations

import shutil
from pathlib import Path

from inference_service.runtimes.metadata import MODEL_FILE, ModelMetadata

CONFIG_FILE = "config.pbtxt"
LABELS_FILE = "labels.txt"


def config_text(metadata: ModelMetadata, max_batch_size: int, max_delay_us: int, gpu: bool) -> str:
    size = metadata.input_size
    # A model whose batch axis is fixed at 1 cannot be batched: Triton is told its whole shape.
    fixed = metadata.max_batch_size == 1
    batch_dim = "1, " if fixed else ""
    batching = "" if fixed else f"""dynamic_batching {{
  max_queue_delay_microseconds: {max_delay_us}
}}
"""
    return f"""name: "{metadata.name}"
platform: "onnxruntime_onnx"
max_batch_size: {0 if fixed else max_batch_size}
input [
  {{
    name: "{metadata.input_name}"
    data_type: TYPE_FP32
    dims: [ {batch_dim}3, {size}, {size} ]
  }}
]
output [
  {{
    name: "{metadata.output_name}"
    data_type: TYPE_FP32
    dims: [ {batch_dim}{len(metadata.labels)} ]
    label_filename: "{LABELS_FILE}"
  }}
]
{batching}instance_group [
  {{
    count: 1
    kind: {"KIND_GPU" if gpu else "KIND_CPU"}
  }}
]
"""


def write_repository(model_folder: Path, repo: Path, *, max_batch_size: int = 16, max_delay_us: int = 2000,
                     gpu: bool = True) -> Path:
    """Adds the model in `model_folder` (an export) to the Triton repository `repo`; returns its entry."""
    metadata = ModelMetadata.load(model_folder)
    entry = Path(repo) / metadata.name
    (entry / "1").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(model_folder) / MODEL_FILE, entry / "1" / "model.onnx")
    (entry / LABELS_FILE).write_text("\n".join(metadata.labels) + "\n")
    (entry / CONFIG_FILE).write_text(config_text(metadata, max_batch_size, max_delay_us, gpu))
    return entry
