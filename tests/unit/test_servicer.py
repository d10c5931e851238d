"""inference_service/frontdoor/servicer.py over a stand-in service: status codes, an internal
failure that says nothing of itself, and ClassifyStream's latest-wins answers."""

import asyncio

import grpc
import pytest

from inference_service.errors import NotFound
from inference_service.frontdoor.servicer import INTERNAL_MESSAGE, ClassifierServicer
from inference_service.metrics import Metrics
from maskscope.v1 import classifier_pb2 as pb


class Aborted(Exception):
    pass


class Context:
    def time_remaining(self):
        return 5.0

    async def abort(self, code, message):
        raise Aborted(code, message)


class Service:
    """Answers by sequence; sequence 13 is NOT_FOUND, 99 a crash; each waits `held` first."""

    def __init__(self):
        self.catalog = type("Catalog", (), {"default": "m", "models": {"m": None}})()
        self.metrics, self.answered, self.held, self.entered = Metrics(), [], None, 0

    async def classify(self, request, deadline=None):
        self.entered += 1
        if self.held is not None:
            await self.held.wait()
        if request.sequence == 13:
            raise NotFound("no image with that id: send the image itself again")
        if request.sequence == 99:
            raise RuntimeError("a bug")
        self.answered.append(request.sequence)
        return pb.ClassifyResponse(sequence=request.sequence)


async def test_errors_become_their_status_and_a_crash_says_only_that_it_failed():
    servicer = ClassifierServicer(Service())
    assert (await servicer.Classify(pb.ClassifyRequest(sequence=1), Context())).sequence == 1
    with pytest.raises(Aborted) as refused:
        await servicer.Classify(pb.ClassifyRequest(sequence=13), Context())
    assert refused.value.args == (grpc.StatusCode.NOT_FOUND, "no image with that id: send the image itself again")
    with pytest.raises(Aborted) as crashed:
        await servicer.Classify(pb.ClassifyRequest(sequence=99), Context())
    assert crashed.value.args == (grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE) and "a bug" not in INTERNAL_MESSAGE


async def test_a_stream_answers_the_newest_and_a_bad_request_does_not_end_it():
    service = Service()
    service.held = asyncio.Event()
    queue: asyncio.Queue = asyncio.Queue()

    async def requests():
        while (request := await queue.get()) is not None:
            yield request

    answers = []

    async def read():
        async for answer in ClassifierServicer(service).ClassifyStream(requests(), Context()):
            answers.append(answer)
    reading = asyncio.ensure_future(read())

    async def until(condition):
        for _ in range(500):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("waited 5 s")
    await queue.put(pb.ClassifyRequest(sequence=1))
    await until(lambda: service.entered == 1)  # 1 is in the service, held
    for sequence in (2, 3, 13):
        await queue.put(pb.ClassifyRequest(sequence=sequence))
    await until(queue.empty)
    await asyncio.sleep(0.01)  # the reader has taken 13, the newest
    service.held.set()
    await until(lambda: len(answers) == 2)
    await queue.put(pb.ClassifyRequest(sequence=4))
    await queue.put(None)
    await asyncio.wait_for(reading, 5)
    assert [a.sequence for a in answers] == [1, 13, 4]  # 2 and 3 were passed over for 13
    assert answers[1].error.code == grpc.StatusCode.NOT_FOUND.value[0] and service.answered == [1, 4]
