"""Faults and overload, on a real gRPC server in this process whose model we can hold or break."""

import asyncio
import threading
import time

import grpc
import pytest

from inference_service.batching.model_queues import BatchLimits, ModelQueues
from inference_service.frontdoor.server import create_server
from inference_service.pipeline.classification import ClassificationService
from inference_service.runtimes.models import ModelRegistry, RuntimeOptions
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc


class Gate:
    """Wraps a model's run(): holds each run until opened, counts images, fails the runs asked to."""

    def __init__(self, model):
        self._run = model.run
        self.open = threading.Event()
        self.entered = 0  # runs that have started (and may be held)
        self.batches: list[int] = []
        self.fail_runs: set[int] = set()
        model.run = self

    def __call__(self, inputs, *args, **kwargs):
        self.entered += 1
        assert self.open.wait(30)
        self.batches.append(len(inputs))
        if len(self.batches) in self.fail_runs:
            raise RuntimeError("injected model failure")
        return self._run(inputs, *args, **kwargs)


@pytest.fixture
async def rig(model_dir):
    # One batch at a time, so that what waits behind a held run is plain.
    registry = ModelRegistry.load_dir(model_dir, RuntimeOptions(device="cpu", concurrent_batches=1))
    rigs = []

    async def start(**limits):
        queues = ModelQueues(registry, BatchLimits(**{"max_delay_s": 0.0, **limits}))
        service = ClassificationService(queues, metrics=queues.metrics)
        gate = Gate(registry.models[registry.default])
        server, port, _ = create_server(service, "127.0.0.1:0")
        service.start()
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        rigs.append((server, service, channel))
        return pb_grpc.ClassifierStub(channel), queues.batchers[registry.default], gate

    yield start
    for server, service, channel in rigs:
        await channel.close()
        await server.stop(0)
        await service.stop()


async def until(condition, timeout_s=10):
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        await asyncio.sleep(0.01)


def call(stub, image, **kwargs):
    return asyncio.ensure_future(stub.Classify(pb.ClassifyRequest(image=image), **{"timeout": 30, **kwargs}))


async def outcome(task):
    try:
        return await task
    except grpc.aio.AioRpcError as error:
        return error.code()


async def test_a_failed_model_run_fails_only_its_own_batch(rig, photo_png):
    stub, batcher, gate = await rig(max_batch_size=8)
    gate.fail_runs = {2}
    first = call(stub, photo_png["coffee"])
    await until(lambda: gate.entered == 1)  # the first run is held with only this request in it
    doomed = [call(stub, photo_png[name]) for name in ("chelsea", "rocket")]
    await until(lambda: batcher.queue_depth == 2)
    gate.open.set()
    assert (await first).predictions
    assert [await outcome(t) for t in doomed] == [grpc.StatusCode.INTERNAL] * 2
    after = await stub.Classify(pb.ClassifyRequest(image=photo_png["astronaut"]), timeout=30)
    assert after.predictions, "the server keeps serving after a failed run"


async def test_a_bad_image_never_fails_the_rest_of_its_batch(rig, photo_png):
    stub, batcher, gate = await rig(max_batch_size=16)
    names = ["coffee", "chelsea", "rocket", "astronaut", "grace_hopper"]
    tasks = [call(stub, photo_png[n]) for n in names] + [call(stub, b"\x89PNG\r\n\x1a\ngarbage")]
    await until(lambda: tasks[-1].done() and gate.entered == 1)
    gate.open.set()
    results = [await outcome(t) for t in tasks]
    assert results[-1] == grpc.StatusCode.INVALID_ARGUMENT
    assert all(r.predictions for r in results[:-1])
    assert max(r.timings.batch_size for r in results[:-1]) > 1, "the good ones should have shared a run"


async def test_a_full_queue_is_refused_at_once(rig, photo_png):
    stub, batcher, gate = await rig(max_batch_size=1, max_queue_size=2)
    held = [call(stub, photo_png["coffee"])]
    await until(lambda: gate.entered == 1)
    held += [call(stub, photo_png["chelsea"]), call(stub, photo_png["rocket"])]
    await until(lambda: batcher.queue_depth == 2)
    t0 = time.monotonic()
    refused = await outcome(call(stub, photo_png["astronaut"]))
    assert refused == grpc.StatusCode.RESOURCE_EXHAUSTED and time.monotonic() - t0 < 1.0
    gate.open.set()
    assert all([(await t).predictions for t in held]), "queued requests are still answered"


async def test_a_request_whose_deadline_passes_in_the_queue_is_not_run(rig, photo_png):
    stub, batcher, gate = await rig(max_batch_size=4)
    running = call(stub, photo_png["coffee"])
    await until(lambda: gate.entered == 1)
    late = call(stub, photo_png["chelsea"], timeout=0.5)
    await until(lambda: batcher.queue_depth == 1)
    assert await outcome(late) == grpc.StatusCode.DEADLINE_EXCEEDED
    gate.open.set()
    assert (await running).predictions
    after = await stub.Classify(pb.ClassifyRequest(image=photo_png["rocket"]), timeout=30)
    assert after.predictions
    assert sum(gate.batches) == 2, f"the expired request must not be run (runs: {gate.batches})"


async def test_each_model_worker_thread_is_set_up_by_its_model(model_dir, monkeypatch):
    registry = ModelRegistry.load_dir(model_dir, RuntimeOptions(device="cpu", concurrent_batches=2))
    model = registry.models[registry.default]
    started = []
    monkeypatch.setattr(model, "worker_started", lambda index: started.append((index, threading.current_thread().name)))
    service = ClassificationService(ModelQueues(registry))
    service.start()
    try:
        for _ in range(100):
            if len(started) == 2:
                break
            await asyncio.sleep(0.05)
        assert sorted(started) == [(0, f"infer-{model.name}-0"), (1, f"infer-{model.name}-1")]
    finally:
        await service.stop()


async def test_when_an_explains_caller_goes_away_its_queued_copies_are_dropped(rig, photo_png):
    stub, batcher, gate = await rig(max_batch_size=1)
    call = stub.Explain(pb.ExplainRequest(image=photo_png["coffee"]), timeout=60)
    reading = asyncio.ensure_future(call.read())  # the base copy runs (held), the rest follow
    await until(lambda: gate.entered == 1)
    gate.open.set()
    await until(lambda: batcher.queue_depth >= 8)  # a chunk of occluded copies queued behind it
    ran_before = gate.entered
    call.cancel()
    await until(lambda: batcher.queue_depth == 0)
    await asyncio.sleep(0.2)
    assert gate.entered - ran_before <= 2, "the dropped copies were not run"
    reading.cancel()
