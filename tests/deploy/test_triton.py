"""The Triton model repository that export writes: config.pbtxt parses and matches the model."""

import subprocess
import sys

import onnx
from google.protobuf import text_format

from inference_service.runtimes.metadata import ModelMetadata
from inference_service.tools.triton import write_repository
from tests.conftest import ROOT

ONNX_TO_TRITON = {onnx.TensorProto.FLOAT: "TYPE_FP32"}


def test_triton_config_matches_the_exported_model(model_dir, tmp_path):
    from tritonclient.grpc import model_config_pb2

    folder = model_dir / "efficientnet-lite0"
    entry = write_repository(folder, tmp_path / "repo", max_batch_size=8, max_delay_us=1500)
    config = text_format.Parse((entry / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert config.name == "efficientnet-lite0" and config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 8 and config.dynamic_batching.max_queue_delay_microseconds == 1500
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU

    graph = onnx.load(str(entry / "1" / "model.onnx")).graph
    for declared, actual in ((config.input, graph.input), (config.output, graph.output)):
        assert [d.name for d in declared] == [a.name for a in actual]
        for d, a in zip(declared, actual):
            dims = [dim.dim_value or dim.dim_param for dim in a.type.tensor_type.shape.dim]
            assert isinstance(dims[0], str), "the batch axis is dynamic; Triton adds it"
            assert list(d.dims) == dims[1:]
            assert model_config_pb2.DataType.Name(d.data_type) == ONNX_TO_TRITON[a.type.tensor_type.elem_type]
    labels = (entry / "labels.txt").read_text().splitlines()
    assert labels == list(ModelMetadata.load(folder).labels)
    assert config.output[0].label_filename == "labels.txt"


def test_export_cli_writes_the_repository(tmp_path):
    result = subprocess.run([sys.executable, "-m", "inference_service.export", "efficientnet-lite0", "--random-weights",
                             "--out", str(tmp_path / "models"), "--triton-repo", str(tmp_path / "repo"),
                             "--triton-cpu"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    config = (tmp_path / "repo" / "efficientnet-lite0" / "config.pbtxt").read_text()
    assert "KIND_CPU" in config and (tmp_path / "repo" / "efficientnet-lite0" / "1" / "model.onnx").exists()
