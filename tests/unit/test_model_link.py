"""The front-end/model-process link, both ends in this process over a real socket pair and memfd."""

import asyncio
import socket
import threading
import time

import grpc
import numpy as np
import pytest

from inference_service.batching.batcher import BULK
from inference_service.batching.model_link import Arena, LinkServer, RemoteModelQueues, arena_shape, frame, split_frames
from inference_service.batching.model_queues import BatchLimits, ModelQueues, infer_and_rank
from inference_service.errors import RequestError, Unavailable
from inference_service.runtimes.models import ModelRegistry, RuntimeOptions

LITE0 = "efficientnet-lite0"


def test_frames_are_split_whole_and_a_partial_one_waits():
    buffer = bytearray(frame(b"one") + frame(b"two") + frame(b"three")[:5])
    assert split_frames(buffer) == [b"one", b"two"]
    buffer += frame(b"three")[5:]
    assert split_frames(buffer) == [b"three"] and not buffer


@pytest.fixture(scope="module")
def registry(model_dir):
    return ModelRegistry.load_dir(model_dir, RuntimeOptions(device="cpu", concurrent_batches=1))


class Link:
    """A model process's queues and one front-end's RemoteModelQueues, linked."""

    def __init__(self, registry, slots=4, **limits):
        self.queues = ModelQueues(registry, BatchLimits(**{"max_delay_s": 0.0, **limits}))
        self.queues.start()
        ours, theirs = socket.socketpair()
        self.arena = Arena.create("test", slots, *arena_shape(self.queues.catalog))
        self.server = LinkServer(0, ours, self.arena, self.queues)
        self.server.start()
        self.remote = RemoteModelQueues(theirs, self.arena.fd, slots)
        self.model = registry.models[LITE0]

    def hold(self):
        """Holds the model's runs until the returned event is set; `entered` counts runs begun."""
        release, entered = threading.Event(), []
        run = self.model.run

        def held(inputs, *args):
            entered.append(len(inputs))
            assert release.wait(30)
            return run(inputs, *args)

        self.model.run = held
        return release, entered

    def close(self):
        self.model.__dict__.pop("run", None)
        self.queues.close()


@pytest.fixture
async def link(registry):
    links = []

    async def make(**options):
        made = Link(registry, **options)
        await made.remote.connect()
        links.append(made)
        return made

    yield make
    for made in links:
        made.close()


X = np.zeros((3, 224, 224), np.float32)


async def one_running(made: Link):
    """A request held inside the model's run: (release it, the run's record, its caller)."""
    release, entered = made.hold()
    running = asyncio.ensure_future(made.remote.submit(LITE0, X))
    await until(lambda: entered)
    return release, entered, running


async def until(condition, timeout_s=10):
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        await asyncio.sleep(0.01)


async def test_answers_equal_a_run_in_this_process(link, registry):
    made = await link()
    x = np.random.default_rng(0).standard_normal((3, 224, 224)).astype(np.float32)
    ranked, stats = await made.remote.submit(LITE0, x)
    (expected,) = infer_and_rank(registry.models[LITE0], [x], 0, False)
    np.testing.assert_allclose(ranked.probabilities, expected.probabilities, atol=1e-6)
    assert [i for i, _ in ranked.best] == [i for i, _ in expected.best] and stats.size == 1
    assert made.remote.catalog.default == LITE0


async def test_errors_come_back_with_their_grpc_code(link):
    made = await link(max_queue_size=1)
    release, _, running = await one_running(made)
    queued = asyncio.ensure_future(made.remote.submit(LITE0, X))
    await until(lambda: made.queues.batchers[LITE0].queue_depth == 1)
    with pytest.raises(RequestError, match="requests queued") as error:
        await made.remote.submit(LITE0, X)
    assert error.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    release.set()
    await asyncio.gather(running, queued)


async def test_a_cancelled_call_leaves_the_model_process_queue_and_frees_its_slot(link):
    made = await link(slots=3)
    release, entered, running = await one_running(made)
    gone = asyncio.ensure_future(made.remote.submit(LITE0, X, priority=BULK))
    await until(lambda: made.queues.batchers[LITE0].queue_depth == 1)
    gone.cancel()
    await until(lambda: made.queues.batchers[LITE0].queue_depth == 0)
    await until(lambda: made.remote.free_slots == 2, 5)  # the slot is back once the cancel is answered
    release.set()
    await running
    assert entered == [1], "the cancelled request never ran"


async def test_a_front_end_with_every_slot_in_flight_refuses_at_once(link):
    made = await link(slots=1)
    release, _, running = await one_running(made)
    with pytest.raises(RequestError, match="1 requests in flight") as error:
        await made.remote.submit(LITE0, X)
    assert error.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    release.set()
    await running


async def test_when_the_model_process_goes_its_callers_are_told(link):
    made = await link()
    release, _, waiting = await one_running(made)
    made.server.close()  # as when the model process dies
    with pytest.raises(Unavailable, match="model process is gone"):
        await asyncio.wait_for(waiting, 10)
    assert made.remote.closed.is_set()
    release.set()


async def test_when_a_front_end_goes_its_queued_requests_are_dropped(link):
    made = await link()
    release, _, _ = await one_running(made)
    asyncio.ensure_future(made.remote.submit(LITE0, X))
    asyncio.ensure_future(made.remote.submit(LITE0, X))
    await until(lambda: made.queues.batchers[LITE0].queue_depth == 2)
    made.remote.close()  # as when the front-end process dies
    await until(lambda: made.server.closed.is_set())
    # The link's end and its queued requests' cancellation are separate turns of the loop.
    await until(lambda: made.queues.batchers[LITE0].queue_depth == 0)
    release.set()


async def test_a_call_cancelled_as_its_answer_arrives_leaves_the_next_owner_of_its_slot_alone(link):
    """The answer frees the slot; another call takes it in the same turn of the loop; the first
    caller's cancellation must then not cancel (or orphan) the second caller's request."""
    made = await link(slots=1)
    remote = made.remote
    first = asyncio.ensure_future(remote.submit(LITE0, X))
    second = []
    handle = remote._handle

    def answer_then_cancel(body):
        if not second:
            second.append(asyncio.ensure_future(remote.submit(LITE0, X)))  # scheduled before the first resumes
            handle(body)
            first.cancel()
        else:
            handle(body)

    remote._handle = answer_then_cancel
    with pytest.raises(asyncio.CancelledError):
        await first
    ranked, _ = await asyncio.wait_for(second[0], 10)
    assert ranked.best and remote.free_slots == 1
