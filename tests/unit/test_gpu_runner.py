"""The GPU runner: which session runs a batch, and that no session ever sees a second input shape.

Without a GPU the runner is built with CPU buffers (`device_type = "cpu"`) on real onnxruntime CPU
sessions: the same binding, padding and session choice as on CUDA.
"""

import asyncio
import random

import numpy as np
import pytest

from inference_service.batching.batcher import DynamicBatcher
from inference_service.runtimes import models
from inference_service.runtimes.gpu_runner import GpuRunner, batch_buckets, session_key
from inference_service.runtimes.models import OnnxModel, RuntimeOptions


def test_batch_buckets():
    assert batch_buckets(16) == (1, 2, 4, 8, 16)
    assert batch_buckets(24) == (1, 2, 4, 8, 16, 24)
    assert batch_buckets(1) == (1,)


@pytest.mark.parametrize("worker, n, expected", [
    (0, 1, (0, 1)), (0, 2, (0, 2)), (0, 3, (0, 4)), (1, 3, (1, 4)), (1, 5, (1, 8)), (1, 8, (1, 8)),
    (2, 1, (0, 1)),  # more workers than the runner was built for: they share slots in turn
])
def test_a_batch_runs_on_its_workers_session_for_the_next_bucket(worker, n, expected):
    assert session_key(worker, n, 2, (1, 2, 4, 8)) == expected


def test_a_batch_larger_than_every_bucket_is_refused():
    with pytest.raises(ValueError, match="larger than the largest bucket 8"):
        session_key(0, 9, 2, (1, 2, 4, 8))


class RecordingSession:
    """A real onnxruntime session that records the input shape of every run it makes."""

    def __init__(self, model, providers, threads, spin, record):
        self.real = models.session(model, ["CPUExecutionProvider"], threads, spin)
        self.record = record

    def get_providers(self):
        return ["CUDAExecutionProvider"]  # what it stands in for

    def io_binding(self):
        return RecordingBinding(self.real.io_binding())

    def run_with_iobinding(self, binding):
        self.record.append((id(self), binding.input_shape))
        self.real.run_with_iobinding(binding.real)


class RecordingBinding:
    def __init__(self, real):
        self.real = real
        self.input_shape = None

    def bind_ortvalue_input(self, name, value):
        self.input_shape = tuple(value.shape())
        self.real.bind_ortvalue_input(name, value)

    def bind_output(self, *args):
        self.real.bind_output(*args)


@pytest.fixture
def recorded(model_dir, monkeypatch):
    """A Lite0 model on a GpuRunner of recording sessions (2 workers, batches up to 8), its record."""
    monkeypatch.setattr(models, "pick_providers", lambda device: [models.CPU] if device == "cpu" else [models.CUDA, models.CPU])
    monkeypatch.setattr(GpuRunner, "device_type", "cpu")
    record = []
    model = OnnxModel(model_dir / "efficientnet-lite0", RuntimeOptions(device="cuda", concurrent_batches=2),
                      max_batch_size=8, make_session=lambda *args: RecordingSession(*args, record))
    return model, record


def test_every_session_is_warmed_on_its_own_shape(recorded):
    model, record = recorded
    model.warm_up()
    assert len(record) == len(model.runner.slots) == 2 * 4
    assert {shape[0] for _, shape in record} == {1, 2, 4, 8}
    assert len({session for session, _ in record}) == 8


def test_padded_runs_answer_as_a_plain_run(recorded, model_dir):
    model, _ = recorded
    plain = models.session((model_dir / "efficientnet-lite0" / "model.onnx").read_bytes(), [models.CPU], 1, False)
    x = np.random.default_rng(2).standard_normal((8, 3, 224, 224)).astype(np.float32)
    for n, worker in ((3, 0), (5, 1), (1, 0), (8, 1)):
        (expected,) = plain.run(None, {model.metadata.input_name: x[:n]})
        np.testing.assert_allclose(model.run(list(x[:n]), worker), expected, atol=1e-4)


async def test_no_session_ever_sees_a_second_input_shape_under_mixed_load(recorded):
    """Two workers take batches of every size from 1 to 8, at once, as requests come and go."""
    model, record = recorded
    outputs = {}

    def run_batch(inputs, worker, more_waiting):
        logits = model.run(inputs, worker)
        for x, row in zip(inputs, logits):
            outputs.setdefault(float(x[0, 0, 0]), []).append(row)
        return list(logits)

    batcher = DynamicBatcher(run_batch, max_batch_size=8, max_delay_s=0.001, workers=2, name="recorded")
    batcher.start()
    rng = random.Random(0)

    async def client(k: int):
        for i in range(12):
            x = np.full((3, 224, 224), (k + i) % 5, np.float32)  # five inputs, met again and again
            await batcher.submit(x)
            await asyncio.sleep(rng.random() * 0.02)

    await asyncio.wait_for(asyncio.gather(*(client(k) for k in range(10))), 120)
    await batcher.stop()
    shapes_of: dict[int, set] = {}
    for session, shape in record:
        shapes_of.setdefault(session, set()).add(shape)
    batch_sizes = {shape[0] for _, shape in record}
    assert len(batch_sizes) >= 3, f"the load should have made batches of several sizes: {batch_sizes}"
    assert all(len(shapes) == 1 for shapes in shapes_of.values()), shapes_of
    assert sorted(outputs) == [0, 1, 2, 3, 4] and sum(map(len, outputs.values())) == 120
    # Each input's logits are the same whichever padded batch and worker it ran in.
    for rows in outputs.values():
        for row in rows[1:]:
            np.testing.assert_allclose(row, rows[0], atol=1e-4)
