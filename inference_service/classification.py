"""The classification pipeline: preprocess in worker threads, batch per model, top-k out."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from inference_service import occlusion
from inference_service.batcher import Deferred, DynamicBatcher
from inference_service.errors import InvalidArgument, NotFound
from inference_service.image_cache import CachedImage, ImageCache, image_id_for
from inference_service.metrics import Metrics
from inference_service.models import ModelRegistry, OnnxModel
from inference_service.postprocess import rank, softmax
from inference_service.preprocess import decode_image, source_crop_box
from maskscope.fills import NAME_OF as FILL_NAMES
from maskscope.v1 import classifier_pb2 as pb

DEFAULT_TOP_K = 5
# Occluded copies built and queued at a time: the batcher's queue stays free for Classify calls,
# and building the next chunk overlaps running this one.
EXPLAIN_CHUNK = 32


@dataclass(frozen=True)
class Limits:
    max_batch_size: int = 16
    max_delay_s: float = 0.002
    max_queue_size: int = 256
    max_image_pixels: int = 40_000_000
    image_cache_bytes: int = 512 << 20
    preprocess_workers: int = 2
    concurrent_explains: int = 2  # per model; more wait their turn, so painters keep most of the queue


class ClassificationService:
    """Everything a Classify call needs, apart from gRPC: models, image cache, batchers."""

    def __init__(self, registry: ModelRegistry, limits: Limits = Limits(), metrics: Metrics | None = None):
        self.registry = registry
        self.limits = limits
        self.metrics = metrics or Metrics()
        self.cache = ImageCache(limits.image_cache_bytes,
                                tuple(model.metadata.input_size for model in registry.models.values()))
        self._preprocess_pool = ThreadPoolExecutor(limits.preprocess_workers, thread_name_prefix="preprocess")
        self._preprocessing = {name: 0 for name in registry.models}  # requests on their way to each batcher
        self.batchers = {name: self._batcher(name, model) for name, model in registry.models.items()}
        self._explain_slots = {name: asyncio.Semaphore(limits.concurrent_explains) for name in registry.models}
        self.metrics.cached_images.set_function(lambda: len(self.cache))
        self.metrics.cached_bytes.set_function(lambda: self.cache.bytes)

    def _batcher(self, name: str, model: OnnxModel) -> DynamicBatcher:
        inference_seconds = self.metrics.inference_seconds.labels(name)
        batch_size = self.metrics.batch_size.labels(name)

        def observe(size: int, seconds: float) -> None:
            batch_size.observe(size)
            inference_seconds.observe(seconds)

        def run_batch(inputs: list[np.ndarray]) -> list:
            # A lone input runs as it is, given a batch axis: stacking would copy it for nothing.
            batch = inputs[0][None] if len(inputs) == 1 else np.stack(inputs)
            return rank(softmax(model.run(batch, more_waiting=batcher.queue_depth > 0)), DEFAULT_TOP_K)

        batcher = DynamicBatcher(
            run_batch, max_batch_size=self.limits.max_batch_size,
            max_delay_s=self.limits.max_delay_s, max_queue_size=self.limits.max_queue_size,
            max_concurrent_batches=model.concurrent_batches, name=name,
            expected_arrivals=lambda: self._preprocessing[name], on_batch=observe,
            worker_started=model.worker_started)
        self.metrics.queue_depth.labels(name).set_function(lambda: batcher.queue_depth)
        return batcher

    def start(self) -> None:
        for batcher in self.batchers.values():
            batcher.start()

    async def stop(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()
        self._preprocess_pool.shutdown(wait=True)

    async def classify(self, request: pb.ClassifyRequest, deadline: float | None = None) -> pb.ClassifyResponse:
        arrived = time.monotonic()
        model = self.registry.get(request.model)
        k = _validate_top_k(request.top_k, len(model.metadata.labels))
        bad_track = [i for i in request.track if not 0 <= i < len(model.metadata.labels)]
        if bad_track:
            raise InvalidArgument(f"track holds class indices outside 0..{len(model.metadata.labels) - 1}: {bad_track}")
        _check_fill(request.fill)
        fill, spec = FILL_NAMES[request.fill], model.metadata.preprocessing
        image = self._image(request) if request.WhichOneof("source") == "image_id" else None
        if image is not None and _cheap(image, spec, fill, request):
            # A mask on a cached, ready photo is ~0.5 ms of work: the model's worker does it just
            # before the run, with no hop through the preprocessing threads.
            item = Deferred(functools.partial(image.masked_input, spec, fill, request.mask, request.keep_painted))
        else:  # decoding a photo, a first fill or view, inpainting, a large photo: preprocessing threads
            self._preprocessing[model.name] += 1
            try:
                item, image = await asyncio.get_running_loop().run_in_executor(
                    self._preprocess_pool, self._prepare, request, model, image)
            finally:
                self._preprocessing[model.name] -= 1
        submitted = time.monotonic()
        ranked, stats = await self.batchers[model.name].submit(item, deadline)
        preprocess_s = submitted - arrived + stats.prepare_s
        self.metrics.preprocess_seconds.labels(model.name).observe(preprocess_s)
        self.metrics.queue_seconds.labels(model.name).observe(stats.queue_s)
        labels, probabilities = model.metadata.labels, ranked.probabilities
        return pb.ClassifyResponse(
            predictions=[pb.Prediction(class_index=i, label=labels[i], probability=p) for i, p in ranked.top(k)],
            tracked=[pb.Prediction(class_index=i, label=labels[i], probability=float(probabilities[i]))
                     for i in request.track],
            model=model.name, image_id=image.image_id, sequence=request.sequence,
            image_width=image.width, image_height=image.height,
            timings=pb.Timings(preprocess_ms=preprocess_s * 1e3, queue_ms=stats.queue_s * 1e3,
                               inference_ms=stats.inference_s * 1e3,
                               total_ms=(time.monotonic() - arrived) * 1e3, batch_size=stats.size))

    async def explain(self, request: pb.ExplainRequest, deadline: float | None = None):
        """Yields ExplainResponses: progress after each chunk of occluded copies, then the map.

        At most `concurrent_explains` run per model, each with EXPLAIN_CHUNK copies queued at a
        time: explaining takes a bounded share of the batcher's queue from the painters.
        """
        model = self.registry.get(request.model)
        async with self._explain_slots[model.name]:
            async for response in self._explain(request, model, deadline):
                yield response

    async def _explain(self, request: pb.ExplainRequest, model: OnnxModel, deadline: float | None):
        labels = model.metadata.labels
        if request.HasField("class_index") and not 0 <= request.class_index < len(labels):
            raise InvalidArgument(f"class_index must be between 0 and {len(labels) - 1}; got {request.class_index}")
        _check_fill(request.fill)
        spec, size = model.metadata.preprocessing, model.metadata.input_size
        patch, stride = occlusion.check_parameters(size, request.patch_size, request.stride)
        cells = occlusion.grid(size, patch, stride)
        loop = asyncio.get_running_loop()
        image = await loop.run_in_executor(self._preprocess_pool, self._image, request)
        inputs = image.occluded_inputs(spec, FILL_NAMES[request.fill], request.mask, request.keep_painted, cells, patch)

        def take(n: int) -> list[np.ndarray]:
            return list(itertools.islice(inputs, n))

        batcher = self.batchers[model.name]
        (base_input,) = await loop.run_in_executor(self._preprocess_pool, take, 1)
        base = (await batcher.submit(base_input, deadline))[0].probabilities
        class_index = request.class_index if request.HasField("class_index") else int(np.argmax(base))
        drops: list[float] = []
        chunk = loop.run_in_executor(self._preprocess_pool, take, EXPLAIN_CHUNK)
        while len(drops) < len(cells):
            copies = await chunk
            if len(drops) + len(copies) < len(cells):
                chunk = loop.run_in_executor(self._preprocess_pool, take, EXPLAIN_CHUNK)
            results = await _all_or_none([batcher.submit(x, deadline) for x in copies])
            drops += [float(base[class_index] - ranked.probabilities[class_index]) for ranked, _ in results]
            yield pb.ExplainResponse(done=len(drops), total=len(cells))
        values = occlusion.cell_map(drops, cells, size, patch, stride)
        left, top, right, bottom = source_crop_box(image.width, image.height, spec)
        yield pb.ExplainResponse(done=len(cells), total=len(cells), map=pb.OcclusionMap(
            rows=values.shape[0], cols=values.shape[1], drop=values.ravel().tolist(), class_index=class_index,
            label=labels[class_index], base_probability=float(base[class_index]), crop_left=left, crop_top=top,
            crop_right=right, crop_bottom=bottom, patch_size=patch, stride=stride, occluded_copies=len(cells),
            model=model.name, image_id=image.image_id, image_width=image.width, image_height=image.height))

    def _prepare(self, request: pb.ClassifyRequest, model: OnnxModel,
                 image: CachedImage | None) -> tuple[np.ndarray, CachedImage]:
        """Runs in a worker thread: decoding and resizing must not hold up the event loop.
        `image`: the request's photo when already looked up, else None (decoded here)."""
        image = image or self._image(request)
        spec = model.metadata.preprocessing
        return image.masked_input(spec, FILL_NAMES[request.fill], request.mask, request.keep_painted), image

    def _image(self, request) -> CachedImage:
        """The request's image (a ClassifyRequest's or ExplainRequest's `source`), from the cache if there."""
        source = request.WhichOneof("source")
        if source == "image_id":
            image = self.cache.get(request.image_id)
            if image is None:
                raise NotFound(f"image_id {request.image_id!r} is not (or no longer) cached on this server; "
                               "send the image itself again")
            return image
        if source != "image" or not request.image:
            raise InvalidArgument("the request has no image: send `image` (the bytes) or `image_id`")
        image_id = image_id_for(request.image)
        image = self.cache.get(image_id)
        if image is None:
            image = self.cache.put(CachedImage(image_id, decode_image(request.image, self.limits.max_image_pixels)))
        return image


async def _all_or_none(awaitables: list) -> list:
    """gather, but when one fails (or the caller is cancelled) the others are cancelled too."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


# Beyond these, making a mask's input may take long enough to hold up a whole batch.
DEFER_MAX_PIXELS = 4_000_000
DEFER_MAX_MASK_BYTES = 256 << 10


def _cheap(image: CachedImage, spec, fill: str, request: pb.ClassifyRequest) -> bool:
    """Whether the model's worker may make this request's input: only the mask is new work."""
    return (fill != "inpaint" and image.width * image.height <= DEFER_MAX_PIXELS
            and len(request.mask) <= DEFER_MAX_MASK_BYTES and image.ready(spec, fill, request.keep_painted))


def _check_fill(fill: int) -> None:
    if fill not in FILL_NAMES:
        raise InvalidArgument(f"unknown fill {fill}; use one of {sorted(FILL_NAMES)}")


def _validate_top_k(top_k_requested: int, num_labels: int) -> int:
    if top_k_requested == 0:
        return min(DEFAULT_TOP_K, num_labels)
    if not 1 <= top_k_requested <= num_labels:
        raise InvalidArgument(f"top_k must be between 1 and {num_labels} (0 means {DEFAULT_TOP_K}); "
                              f"got {top_k_requested}")
    return top_k_requested
