"""The classification stages, apart from gRPC: checks, where an input is made, the answer."""

import asyncio

import numpy as np
import pytest

from inference_service.batching.batcher import BULK, INTERACTIVE, Arrivals, BatchStats, Deferred
from inference_service.batching.postprocess import rank
from inference_service.errors import InvalidArgument, NotFound
from inference_service.export import ARCHITECTURES
from inference_service.pipeline.classification import ClassificationService, Made, _all_or_none, input_made, prepare
from inference_service.runtimes.metadata import ModelMetadata
from inference_service.runtimes.models import Catalog, ServedModel
from maskscope.v1 import classifier_pb2 as pb
from tests.conftest import png_bytes

LITE0 = "efficientnet-lite0"


class RecordingQueues:
    """Stands in for the models' batchers: records what is submitted, answers with a fixed row."""

    def __init__(self, model_dir, defers: bool):
        meta = ModelMetadata.load(model_dir / LITE0)
        self.catalog = Catalog({LITE0: ServedModel(LITE0, meta, "CPUExecutionProvider", "fp32")}, LITE0)
        self.defers, self.submitted, self._arrivals = defers, [], Arrivals()

    def arrivals(self, model):
        return self._arrivals

    def makes_inputs(self, model):
        return self.defers

    async def submit(self, model, item, deadline=None, priority=INTERACTIVE):
        self.submitted.append((item, priority))
        probabilities = np.full((1, 1000), 1e-4, np.float32)
        probabilities[0, 967] = 0.9
        return rank(probabilities, 5)[0], BatchStats(1, 0.0, 0.001)


@pytest.mark.parametrize("cheap, worker_makes_inputs, where", [
    (False, True, Made.IN_A_PREPROCESSING_THREAD),   # a photo to decode, a first view, fill or inpaint to make
    (False, False, Made.IN_A_PREPROCESSING_THREAD),
    (True, True, Made.IN_THE_WORKER),                # only the mask is new, on the CPU
    (True, False, Made.NOW),                         # ... on a GPU, whose worker must keep it fed
])
def test_where_a_model_input_is_made(cheap, worker_makes_inputs, where):
    assert input_made(cheap, worker_makes_inputs) == where


@pytest.fixture
def service(model_dir):
    def make(defers=True):
        return ClassificationService(RecordingQueues(model_dir, defers))
    return make


async def test_a_new_photo_is_decoded_and_its_input_made_before_it_is_queued(service, photo_png):
    svc = service()
    answer = await svc.classify(pb.ClassifyRequest(image=photo_png["coffee"]))
    (item, priority), = svc.queues.submitted
    assert isinstance(item, np.ndarray) and item.shape == (3, 224, 224) and priority == INTERACTIVE
    assert answer.predictions[0].label == "espresso" and answer.image_width == 600


@pytest.mark.parametrize("defers", [True, False])
async def test_a_mask_on_a_cached_photo_is_made_by_the_worker_only_where_the_queues_defer_it(service, photos,
                                                                                            photo_png, defers):
    svc = service(defers)
    first = await svc.classify(pb.ClassifyRequest(image=photo_png["coffee"]))
    painted = np.zeros(photos["coffee"].shape[:2], bool)
    painted[100:200, 200:300] = True
    request = pb.ClassifyRequest(image_id=first.image_id, mask=png_bytes(painted), priority=pb.PRIORITY_BULK)
    await svc.classify(request)
    item, priority = svc.queues.submitted[-1]
    assert isinstance(item, Deferred) == defers and priority == BULK
    made = item.make() if defers else item
    expected = prepare(svc.cache.get(first.image_id), request, ARCHITECTURES[LITE0].preprocessing)
    np.testing.assert_array_equal(made, expected)


@pytest.mark.parametrize("fields, error, words", [
    (dict(top_k=1001), InvalidArgument, "top_k must be between 1 and 1000"),
    (dict(track=[1000]), InvalidArgument, "track holds class indices outside"),
    (dict(fill=42), InvalidArgument, "unknown fill 42"),
    (dict(priority=7), InvalidArgument, "unknown priority 7"),
    (dict(model="vgg19"), NotFound, "unknown model 'vgg19'"),
    (dict(image_id="ab" * 32), NotFound, "send the image itself again"),
])
async def test_bad_requests_say_what_is_wrong_and_queue_nothing(service, photo_png, fields, error, words):
    svc = service()
    request = pb.ClassifyRequest(**({"image": photo_png["coffee"]} if "image_id" not in fields else {}), **fields)
    with pytest.raises(error, match=words):
        await svc.classify(request)
    assert not svc.queues.submitted


async def test_a_failed_copy_cancels_the_rest_of_its_chunk():
    async def fails():
        raise RuntimeError("one copy failed")

    slow = asyncio.ensure_future(asyncio.sleep(30))
    with pytest.raises(RuntimeError, match="one copy failed"):
        await _all_or_none([slow, fails()])
    await asyncio.sleep(0)
    assert slow.cancelled()  # not left running in the batcher's queue
