"""Loading models: checksums, the default, the providers asked for, the runner each model gets."""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from inference_service.runtimes import models
from inference_service.runtimes.models import ModelRegistry, OnnxModel, RuntimeOptions, choose_default


def test_exported_model_has_a_dynamic_batch_axis(model_dir):
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu"))
    x = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    batched = model.run(x)
    assert batched.shape == (3, 1000)
    np.testing.assert_allclose(model.run(x[1:2])[0], batched[1], atol=1e-4)


def test_a_model_file_that_does_not_match_its_checksum_is_refused(model_dir, tmp_path):
    folder = tmp_path / "models" / "efficientnet-lite0"
    shutil.copytree(model_dir / "efficientnet-lite0", folder)
    data = json.loads((folder / "metadata.json").read_text())
    data["sha256"] = "0" * 64
    (folder / "metadata.json").write_text(json.dumps(data))
    with pytest.raises(RuntimeError, match="does not match metadata"):
        ModelRegistry.load_dir(tmp_path / "models")


def test_an_empty_model_dir_says_how_to_export(tmp_path):
    with pytest.raises(FileNotFoundError, match="inference_service.export efficientnet-lite0"):
        ModelRegistry.load_dir(tmp_path)


def fake(pretrained):
    return SimpleNamespace(metadata=SimpleNamespace(pretrained=pretrained))


def test_default_is_pretrained_resnet50_else_efficientnet_lite0():
    assert choose_default({"resnet50": fake(True), "efficientnet-lite0": fake(True)}) == "resnet50"
    assert choose_default({"resnet50": fake(False), "efficientnet-lite0": fake(True)}) == "efficientnet-lite0"
    assert choose_default({"resnet50": fake(False)}) == "resnet50"
    assert choose_default({"zeta": fake(True), "alpha": fake(False)}) == "zeta"


def test_gpu_only_options_refuse_to_run_on_the_cpu(model_dir):
    folder = model_dir / "efficientnet-lite0"
    with pytest.raises(RuntimeError, match="fp16 needs a GPU"):
        OnnxModel(folder, RuntimeOptions(device="cpu", precision="fp16"))
    with pytest.raises(RuntimeError, match="--tensorrt needs a GPU"):
        OnnxModel(folder, RuntimeOptions(device="cpu", tensorrt=True))
    with pytest.raises(ValueError, match="precision 'int8'"):
        OnnxModel(folder, RuntimeOptions(device="cpu", precision="int8"))


def test_cuda_gets_the_heuristic_kernel_search_and_tensorrt_goes_in_front(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "pick_providers", lambda device: [models.CPU] if device == "cpu" else [models.CUDA, models.CPU])
    cuda = (models.CUDA, {"cudnn_conv_algo_search": "HEURISTIC", "cudnn_conv_use_max_workspace": "1"})
    assert models.providers_for(RuntimeOptions(device="cuda")) == [cuda, models.CPU]
    small = models.providers_for(RuntimeOptions(device="cuda", cudnn_max_workspace=False))
    assert small[0][1]["cudnn_conv_use_max_workspace"] == "0"
    trt = models.providers_for(RuntimeOptions(device="cuda", tensorrt=True, precision="fp16",
                                              tensorrt_cache_dir=tmp_path / "engines"))
    assert trt[0] == (models.TENSORRT, {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(tmp_path / "engines"),
                                        "trt_fp16_enable": True})
    assert trt[1:] == [cuda, models.CPU] and (tmp_path / "engines").is_dir()


class _FakeSession:
    """Stands in for an onnxruntime session; reports the provider it was asked for first."""

    made: list = []

    def __init__(self, model, providers, threads, spin):
        first = providers[0]
        self.provider = first[0] if isinstance(first, tuple) else first
        _FakeSession.made.append((self.provider, threads))

    def get_providers(self):
        return [self.provider]

    def io_binding(self):
        return _FakeBinding()


class _FakeBinding:
    def bind_ortvalue_input(self, *args):
        pass

    def bind_output(self, *args):
        pass


def test_a_gpu_model_gets_the_gpu_runner_and_a_cpu_model_the_cpu_runner(model_dir, monkeypatch):
    from inference_service.runtimes.cpu_runner import CpuRunner
    from inference_service.runtimes.gpu_runner import GpuRunner
    monkeypatch.setattr(models, "pick_providers", lambda device: [models.CPU] if device == "cpu" else [models.CUDA, models.CPU])
    monkeypatch.setattr(GpuRunner, "device_type", "cpu")  # no device buffers without a GPU
    _FakeSession.made = []
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cuda", concurrent_batches=2),
                      max_batch_size=8, make_session=_FakeSession)
    assert isinstance(model.runner, GpuRunner) and model.provider == models.CUDA
    assert sorted(model.runner.slots) == [(w, b) for w in (0, 1) for b in (1, 2, 4, 8)]
    assert len(_FakeSession.made) == 8, "one session per worker and batch size"
    cpu = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu"))
    assert isinstance(cpu.runner, CpuRunner) and cpu.provider == models.CPU


def test_a_gpu_that_onnxruntime_cannot_use_falls_back_to_the_cpu_only_when_auto(model_dir, monkeypatch):
    from inference_service.runtimes.cpu_runner import CpuRunner
    from inference_service.runtimes.gpu_runner import GpuRunner

    class FallsBack(_FakeSession):
        def get_providers(self):
            return [models.CPU]  # what onnxruntime reports when the CUDA libraries do not load

    monkeypatch.setattr(models, "pick_providers", lambda device: [models.CPU] if device == "cpu" else [models.CUDA, models.CPU])
    monkeypatch.setattr(GpuRunner, "device_type", "cpu")
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="auto"), make_session=FallsBack)
    assert isinstance(model.runner, CpuRunner)
    with pytest.raises(RuntimeError, match="onnxruntime runs it on the CPU"):
        OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cuda"), make_session=FallsBack)


@pytest.mark.parametrize("device, precision, tensorrt, gpu, plan", [
    ("auto", "fp32", False, None, models.Runtime.CPU),                 # no GPU provider to try
    ("auto", "fp32", False, models.CUDA, models.Runtime.GPU),
    ("auto", "fp32", False, models.CPU, models.Runtime.CPU),           # onnxruntime fell back by itself
    ("auto", "fp32", False, models.GPU_FAILED, models.Runtime.CPU_INSTEAD),
    ("cuda", "fp32", False, models.GPU_FAILED, "no libcudnn"),  # asked for by name: its own error stands
    ("auto", "fp16", False, models.GPU_FAILED, "no libcudnn"),
    ("auto", "fp32", True, models.GPU_FAILED, "no libcudnn"),
    ("auto", "fp16", False, models.CUDA, models.Runtime.GPU),
    ("auto", "fp32", True, models.TENSORRT, models.Runtime.GPU),
    ("auto", "fp32", True, models.CUDA, "--tensorrt: onnxruntime does not run lite0 on TensorRT"),
    ("auto", "fp16", False, None, "--precision fp16 needs a GPU"),
    ("auto", "fp16", False, models.CPU, "--precision fp16 needs a GPU"),
])
def test_where_a_model_runs(device, precision, tensorrt, gpu, plan):
    options = models.RuntimeOptions(device=device, precision=precision, tensorrt=tensorrt)
    if isinstance(plan, str):
        with pytest.raises(RuntimeError, match=plan):
            models.runtime_plan(options, gpu, "lite0", RuntimeError("no libcudnn"))
    else:
        assert models.runtime_plan(options, gpu, "lite0") == plan
