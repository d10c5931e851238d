"""ModelQueues: a batcher per model, the infer-and-rank step, and the policies that depend on the device."""

import asyncio

import numpy as np
import pytest

from inference_service.batching.model_queues import CPU_BULK_BATCH_SIZE, BatchLimits, ModelQueues, infer_and_rank
from inference_service.batching.postprocess import softmax
from inference_service.runtimes.models import ModelRegistry, RuntimeOptions

LITE0 = "efficientnet-lite0"


@pytest.fixture(scope="module")
def registry(model_dir):
    return ModelRegistry.load_dir(model_dir, RuntimeOptions(device="cpu"))


def test_infer_and_rank_is_the_models_softmax_ranked(registry):
    model = registry.models[LITE0]
    x = list(np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32))
    ranked = infer_and_rank(model, x, 0, False)
    expected = softmax(model.run(np.stack(x)))
    assert len(ranked) == 2
    for r, row in zip(ranked, expected):
        np.testing.assert_allclose(r.probabilities, row, atol=1e-6)
        assert [i for i, _ in r.best] == list(np.argsort(-row)[:5])


def test_on_the_cpu_bulk_runs_alone_in_small_batches_and_inputs_are_made_by_the_worker(registry):
    queues = ModelQueues(registry, BatchLimits(max_batch_size=16))
    policy = queues.batchers[LITE0].policy
    assert (policy.max_bulk, policy.mix_bulk) == (CPU_BULK_BATCH_SIZE, False)
    assert queues.makes_inputs(LITE0)
    chosen = ModelQueues(registry, BatchLimits(max_batch_size=16, bulk_batch_size=4)).batchers[LITE0].policy
    assert chosen.max_bulk == 4


async def test_submit_runs_the_model_and_counts_the_batch(registry):
    queues = ModelQueues(registry)
    queues.start()
    try:
        ranked, stats = await queues.submit(LITE0, np.zeros((3, 224, 224), np.float32))
        assert ranked.best and stats.size == 1

        def batches():
            return queues.metrics.registry.get_sample_value("maskscope_batch_size_count", {"model": LITE0})
        for _ in range(100):  # counted by the worker just after it hands back the answers
            if batches():
                break
            await asyncio.sleep(0.01)
        assert batches() == 1
    finally:
        await queues.stop()
